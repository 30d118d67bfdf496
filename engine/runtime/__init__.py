"""Stage 4: live sessions over a websocket (OpenAI, Azure, any compatible server, or the simulator)."""

from ..errors import ConnectFailed, ConnectionLost, SessionClosed, TransportClosed
from . import events
from .bus import Subscription
from .graph_runtime import GraphRuntime
from .playback import PlaybackClock
from .replay import replay
from .session import Decision, Session
from .transport import AiohttpTransport, Connection, PicowsTransport, Transport, WebsocketsTransport

__all__ = [
    "AiohttpTransport",
    "ConnectFailed",
    "Connection",
    "ConnectionLost",
    "Decision",
    "GraphRuntime",
    "PicowsTransport",
    "PlaybackClock",
    "Session",
    "SessionClosed",
    "Subscription",
    "Transport",
    "TransportClosed",
    "WebsocketsTransport",
    "events",
    "replay",
]
