"""Stage 4: live sessions over a websocket (OpenAI, Azure, any compatible server, or the simulator)."""

from ..errors import ConnectFailed, ConnectionLost, SessionClosed, TransportClosed
from . import events
from .playback import PlaybackClock
from .replay import replay
from .session import Decision, Session
from .transport import AiohttpTransport, Connection, Transport, WebsocketsTransport

__all__ = [
    "AiohttpTransport",
    "ConnectFailed",
    "Connection",
    "ConnectionLost",
    "Decision",
    "PlaybackClock",
    "Session",
    "SessionClosed",
    "Transport",
    "TransportClosed",
    "WebsocketsTransport",
    "events",
    "replay",
]
