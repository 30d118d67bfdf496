"""Stage 4: live sessions over a websocket (OpenAI, Azure, any compatible server, or the simulator)."""

from . import events
from .playback import PlaybackClock
from .replay import replay
from .session import Decision, Session
from .transport import AiohttpTransport, ConnectFailed, Connection, Transport, TransportClosed, WebsocketsTransport

__all__ = [
    "AiohttpTransport",
    "ConnectFailed",
    "Connection",
    "Decision",
    "PlaybackClock",
    "Session",
    "Transport",
    "TransportClosed",
    "WebsocketsTransport",
    "events",
    "replay",
]
