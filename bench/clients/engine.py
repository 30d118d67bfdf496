"""The engine as a benchmark client: `engine.Session` running bench/graphs/bench.yaml.

Used as an application would: audio goes to a player callback (`on_audio`), which decodes its
base64 as a player must, every other event is read from the session's event iterator. The `events`
flavour reads audio from the iterator too.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from . import Clients

GRAPH = Path(__file__).resolve().parent.parent / "graphs" / "bench.yaml"


class EngineClient:
    def __init__(self, doc: Any, transport: Any, *, audio_callback: bool) -> None:
        self._doc = doc
        self._transport = transport
        self._audio_callback = audio_callback
        self.audio_deltas = 0
        self.audio_bytes = 0
        self.session: Any = None
        self._consumer: asyncio.Task[None] | None = None

    async def open(self, url: str) -> None:
        from engine.runtime import Session

        player = self._play if self._audio_callback else None
        self.session = Session(
            self._doc, url=url, api_key="bench", transport=self._transport, approval="auto", on_audio=player
        )
        await self.session.connect()
        self._consumer = asyncio.create_task(self._consume())

    def _play(self, audio: Any) -> None:
        self.audio_deltas += 1
        self.audio_bytes += len(base64.b64decode(audio.data))

    async def _consume(self) -> None:
        async for event in self.session:
            if event.type == "audio":
                self._play(event)

    async def turn(self, command: str, responses: int, timeout: float = 120.0) -> None:
        await self.session.send_text(command)
        await self.session.wait_idle(timeout)

    async def close(self) -> None:
        await self.session.close()
        if self._consumer is not None:
            await self._consumer


def prepare(transport: str = "picows", *, audio_callback: bool = True) -> Clients:
    import engine
    from engine.runtime import transport as transports

    doc = engine.load(str(GRAPH))
    if transport == "picows":
        picows = transports.PicowsTransport()
        return Clients(lambda: EngineClient(doc, picows, audio_callback=audio_callback))
    if transport == "aiohttp":
        shared = transports.AiohttpTransport()
        return Clients(lambda: EngineClient(doc, shared, audio_callback=audio_callback), shared.aclose)
    ws = transports.WebsocketsTransport()
    return Clients(lambda: EngineClient(doc, ws, audio_callback=audio_callback))
