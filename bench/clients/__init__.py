"""The clients the benchmark drives, all behind one small interface.

`prepare(variant)` imports a client's libraries and builds its configuration (what "resident memory
at start" measures), then returns `Clients`: `new()` makes a `BenchClient`, `aclose()` frees what
the clients share. A turn sends one user text (a
command of bench/server.py) and returns once the client has handled `responses` response.done
events and answered every call in them, as an application using that client would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class BenchClient(Protocol):
    audio_deltas: int  # audio deltas delivered to the application so far
    audio_bytes: int  # their decoded audio, in bytes (every client decodes base64 as a player must)

    async def open(self, url: str) -> None: ...
    async def turn(self, command: str, responses: int, timeout: float = 120.0) -> None: ...
    async def close(self) -> None: ...


class Clients:
    def __init__(self, new: Callable[[], BenchClient], aclose: Callable[[], Awaitable[None]] | None = None) -> None:
        self.new = new
        self._aclose = aclose

    async def aclose(self) -> None:
        if self._aclose is not None:
            await self._aclose()


VARIANTS = {
    "engine": "engine",
    "engine-before": "engine (before)",  # run.py --before DIR: the engine of another checkout
    "engine-events": "engine (audio as events)",
    "engine-websockets": "engine (websockets)",
    "engine-aiohttp": "engine (aiohttp)",
    "agents-sdk": "Agents SDK",
    "bare-websockets": "bare websockets",
    "bare-aiohttp": "bare aiohttp",
    "bare-picows": "bare picows",
}


def prepare(variant: str) -> Clients:
    """Import what `variant` needs and return a factory of its clients."""
    if variant in ("engine", "engine-before", "engine-events", "engine-websockets", "engine-aiohttp"):
        from .engine import prepare as engine_prepare

        transport = variant.removeprefix("engine-") if variant in ("engine-websockets", "engine-aiohttp") else "picows"
        return engine_prepare(transport, audio_callback=variant != "engine-events")
    if variant == "agents-sdk":
        from .agents_sdk import prepare as sdk_prepare

        return sdk_prepare()
    if variant in ("bare-websockets", "bare-aiohttp", "bare-picows"):
        from .bare import prepare as bare_prepare

        return bare_prepare(variant.removeprefix("bare-"))
    raise ValueError(f"unknown client variant {variant!r}; known: {', '.join(VARIANTS)}")
