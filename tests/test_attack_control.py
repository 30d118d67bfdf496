"""Attacks on call control: a drop or a barge-in while a transfer's goodbye is being said."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from conftest import MINI
from wire import WireConnection, WireServer
from wire import until as _until

from engine.runtime import Session
from engine.runtime import events as ev
from engine.validate import load_graph

CONTROLLED = MINI.replace("    tools: [lookup]\n", "    tools: [lookup, transfer_to_person]\n").replace(
    "context:\n  company: Acme\n", "context:\n  company: Acme\n  human_line: '+15550100'\n"
) + ('  transfer_to_person:\n    transfer: {to: "{{ human_line }}", message: Connecting you with a colleague now.}\n')
MESSAGE = "Connecting you with a colleague now."


class Line:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def transfer(self, to: str, summary: str) -> None:
        self.log.append(f"transfer {to}")

    async def hangup(self) -> None:
        self.log.append("hangup")

    async def send_dtmf(self, digits: str) -> None:
        self.log.append(f"dtmf {digits}")


async def _say(conn: WireConnection, log: list[str], text: str) -> None:
    rid = await conn.created()
    item = {"id": conn.server.new_id("item"), "type": "message", "role": "assistant", "content": []}
    base = {"response_id": rid, "item_id": item["id"], "output_index": 0, "content_index": 0}
    await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
    await conn.send({"type": "response.output_audio_transcript.delta", **base, "delta": text})
    await conn.send(
        {"type": "response.output_audio.delta", **base, "delta": base64.b64encode(bytes(48 * 100)).decode()}
    )
    await conn.send({"type": "response.output_audio.done", **base})
    log.append(f"said {text!r}")
    await conn.done(rid, [item])


async def _drop_mid_goodbye(write_graph, backoff: float) -> tuple[WireServer, list[str], list[ev.SessionEvent]]:
    """The model transfers; the connection drops just after the goodbye response started."""
    doc = load_graph(write_graph(CONTROLLED))
    log: list[str] = []

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        first_connection = conn is conn.server.connections[0]
        if first_connection and len(conn.server.of("response.create")) == 1:
            return [conn.call("transfer_to_person", {"summary": "Refund."})]
        if first_connection:  # the goodbye starts, and the connection drops under it
            await conn.created()
            conn.active = None
            await conn.ws.close(code=1011)
            return None
        said = MESSAGE if "instructions" in event.get("response", {}) else "whatever the model says"
        await _say(conn, log, said)
        return None

    async with WireServer(model) as server:
        session = Session(doc, url=server.url, api_key="k", line=Line(log), reconnect_backoff=backoff)
        async with session:
            seen: list[ev.SessionEvent] = []
            sub = session.subscribe()

            async def read() -> None:
                async for e in sub:
                    seen.append(e)

            task = asyncio.create_task(read())
            await session.send_text("I want a person")
            await _until(lambda: any(isinstance(e, ev.CallEnded) for e in seen), 8)
            await _until(lambda: len(log) >= 2, 3)
        await task
    assert any(isinstance(e, ev.Reconnected) for e in seen)
    return server, log, seen


async def test_a_drop_during_the_transfer_goodbye_does_not_transfer_before_it_is_said(write_graph):
    """Today CallControl._heard stops waiting as soon as the link is down (`while ... session.link.up`),
    so the line transfers during the reconnect, before the caller heard the message."""
    _, log, _ = await _drop_mid_goodbye(write_graph, backoff=0.3)
    assert log[0] != "transfer +15550100", f"transferred before the goodbye was said: {log}"


async def test_a_drop_during_the_transfer_goodbye_asks_again_with_its_message(write_graph):
    """Today the one-off response parameters (say the message word for word, tool_choice none) are
    consumed by the first response.create; the drop re-asks a plain response, so the model says
    whatever it likes (and may call tools) instead of the transfer message."""
    server, log, _ = await _drop_mid_goodbye(write_graph, backoff=0.01)
    asked = [e for e in server.of("response.create") if e.get("response")]
    assert len(asked) == 2, "the goodbye is asked for again on the new connection with its message"
    assert asked[-1]["response"] == asked[0]["response"]
    assert f"said {MESSAGE!r}" in log


async def test_a_barge_in_during_the_transfer_goodbye_still_transfers_once(write_graph):
    """The caller talks over the goodbye: the audio is cut, and the transfer still happens, once,
    with no second goodbye asked for."""
    doc = load_graph(write_graph(CONTROLLED))
    log: list[str] = []

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        creates = len(conn.server.of("response.create"))
        if creates == 1:
            return [conn.call("transfer_to_person", {"summary": "Refund."})]
        if creates == 2:
            rid = await conn.created()
            item = {"id": "item_bye", "type": "message", "role": "assistant", "content": []}
            base = {"response_id": rid, "item_id": "item_bye", "output_index": 0, "content_index": 0}
            await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
            audio = base64.b64encode(bytes(48 * 2000)).decode()  # two seconds of goodbye
            await conn.send({"type": "response.output_audio.delta", **base, "delta": audio})
            await asyncio.sleep(0.1)
            await conn.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "item_u"})
            await conn.done(rid, [item], status="cancelled")  # the server cancels on speech
            return None
        return []

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k", line=Line(log)) as session:
        seen: list[ev.SessionEvent] = []
        sub = session.subscribe()

        async def read() -> None:
            async for e in sub:
                seen.append(e)

        task = asyncio.create_task(read())
        await session.send_text("I want a person")
        await _until(lambda: any(isinstance(e, ev.CallEnded) for e in seen), 5)
        await session.wait_idle(3)
    await task
    assert log == ["transfer +15550100"]
    assert server.of("conversation.item.truncate")[0]["item_id"] == "item_bye"
    assert len(server.of("response.create")) == 2 and server.overlaps == 0
    assert [e for e in seen if isinstance(e, ev.CallEnded)] == [ev.CallEnded("transferred")]
