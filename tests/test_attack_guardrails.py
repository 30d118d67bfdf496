"""The guardrail monitor under a long reply streamed in small deltas."""

from __future__ import annotations

from typing import Any

from conftest import MINI
from wire import WireConnection, WireServer

from engine.runtime import Session
from engine.validate import load_graph

GUARDED = MINI + "guardrails:\n  competitors: {keywords: [MegaBoards], category: OFF_BRAND, every_chars: 10}\n"


async def test_a_long_reply_in_small_deltas_is_checked_in_linear_time(write_graph):
    """6,000 transcript deltas of 10 characters (60 KB of text): today GuardrailMonitor.on_delta
    spawns one check per delta and each rescans the whole accumulated transcript (monitor.py), so the
    work is quadratic: 3.6 s of a blocked event loop here (8,000 deltas: 6 s; 2,000: 0.3 s; without
    the guardrail 0.1 s), and every other session of the process stalls meanwhile."""
    doc = load_graph(write_graph(GUARDED))

    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        rid = await conn.created()
        item = {"id": "item_g", "type": "message", "role": "assistant", "content": []}
        await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
        base = {"response_id": rid, "item_id": "item_g", "output_index": 0, "content_index": 0}
        for _ in range(6_000):
            await conn.send({"type": "response.output_audio_transcript.delta", **base, "delta": "abcdefghi "})
        await conn.done(rid, [item])

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(2)  # today: TimeoutError
        assert len(session.history.get("item_g")["text"]) == 60_000
