"""Wire fidelity of handoffs under a server that merges `session.update` key by key, as the API does:
after A -> B (and back) the server's session must equal `engine compile --agent B`."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MINI
from wire import WireConnection, WireServer

from engine.compile import compile_session
from engine.compile.session import deep_merge
from engine.runtime import Session
from engine.validate import load_graph

# Agent-level settings the greeter has and the helper does not (each one a separate graph).
SETTINGS = {
    "turn_detection": "audio: {input: {turn_detection: {type: semantic_vad, eagerness: high}}}",
    "speed": "audio: {output: {speed: 1.3}}",
    "max_output_tokens": "max_output_tokens: 50",
    "tool_choice": "tool_choice: required",
    "truncation": "truncation: disabled",
    "output_modalities": "output_modalities: [text]",
    "include": "include: [item.input_audio_transcription.logprobs]",
    "server_vad_fields": "audio: {input: {turn_detection: {type: server_vad, threshold: 0.9, silence_duration_ms: 900}}}",
}


# A fresh Realtime session's values for the fields compile leaves out (openai.types.realtime): a
# session that sets one of them to its default is the same session as one that leaves it out.
_FRESH: dict[str, Any] = {
    "audio": {
        "input": {
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"speed": 1.0},
    },
    "prompt": None,
}


def _effective(session: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(_FRESH, session)


def _graph(greeter: str, helper: str | None = None) -> str:
    text = MINI.replace(
        "    tools: [lookup]\n    handoffs: [helper]\n",
        f"    tools: [lookup]\n    handoffs: [helper]\n    session: {{{greeter}}}\n",
    )
    if helper is not None:
        text = text.replace(
            "    tools: [echo]\n    handoffs: [greeter]\n",
            f"    tools: [echo]\n    handoffs: [greeter]\n    session: {{{helper}}}\n",
        )
    return text


async def _server_session_after_handoff(doc: Any) -> dict[str, Any]:
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [conn.call("transfer_to_helper")] if len(conn.server.of("response.create")) == 1 else []

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(5)
        assert session.agent == "helper"
    merged: dict[str, Any] = {}
    for update in server.of("session.update"):
        merged = deep_merge(merged, update["session"])
    return merged


@pytest.mark.parametrize("setting", sorted(SETTINGS))
async def test_the_servers_session_after_a_handoff_is_the_new_agents(write_graph, setting):
    doc = load_graph(write_graph(_graph(SETTINGS[setting])))
    merged = await _server_session_after_handoff(doc)
    assert _effective(merged) == _effective(compile_session(doc, "helper")["session"])


async def test_a_handoff_between_two_server_vad_configs_leaves_none_of_the_first(write_graph):
    """Both agents use server_vad (same type: the API merges field by field): the helper's
    turn detection must not keep the greeter's threshold."""
    greeter = "audio: {input: {turn_detection: {type: server_vad, threshold: 0.9, silence_duration_ms: 900}}}"
    helper = "audio: {input: {turn_detection: {type: server_vad, prefix_padding_ms: 100}}}"
    doc = load_graph(write_graph(_graph(greeter, helper)))
    merged = await _server_session_after_handoff(doc)
    assert _effective(merged) == _effective(compile_session(doc, "helper")["session"])
