"""The session's fast paths keep the behaviour they replace: cached payloads equal fresh compiles (and
follow the context), the quick argument check never passes what the schema refuses, and ids stay unique."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import engine
from engine.compile import SessionCompiler
from engine.runtime import sequencer
from engine.runtime.moves import CompiledPayloads
from engine.runtime.session import Session
from engine.tools.toolbox import quick_check

GRAPH = """
graph: fast
model: gpt-realtime
context: {name: Ada, tier: gold}
start: a
agents:
  a:
    instructions: "Hello {{ name }} ({{ tier }}). {% for k in context %}{{ k }};{% endfor %}"
    handoffs: [b]
  b:
    instructions: Plain text, no template.
    handoffs: [a]
"""


@pytest.fixture
def doc(tmp_path: Path) -> Any:
    path = tmp_path / "fast.yaml"
    path.write_text(GRAPH, encoding="utf-8")
    return engine.load(str(path))


def test_cached_payload_equals_a_fresh_compile_and_is_a_copy(doc: Any) -> None:
    payloads = CompiledPayloads(SessionCompiler(doc))
    context = {"name": "Ada", "tier": "gold"}
    first = payloads.compile("a", None, context, None)
    again = payloads.compile("a", None, context, None)
    assert again == first == SessionCompiler(doc).compile("a", context=context)
    again["session"]["instructions"] = "changed"
    again["session"]["tools"].append({"type": "function", "name": "x"})
    assert payloads.compile("a", None, context, None) == first  # callers' changes never reach the cache


def test_cached_payload_follows_the_context(doc: Any) -> None:
    payloads = CompiledPayloads(SessionCompiler(doc))
    context: dict[str, Any] = {"name": "Ada", "tier": "gold"}
    assert payloads.compile("a", None, context, None)["session"]["instructions"] == "Hello Ada (gold). name;tier;\n"
    context["tier"] = "silver"  # a tool's `sets` changes the session's context in place
    assert "Hello Ada (silver)" in payloads.compile("a", None, context, None)["session"]["instructions"]
    reordered = {"tier": "silver", "name": "Ada"}  # key order shows in a loop over the context
    assert payloads.compile("a", None, reordered, None)["session"]["instructions"].endswith("tier;name;\n")
    # A tuple renders unlike the list orjson would encode it as: such a context is never cached.
    as_tuple = payloads.compile("a", None, {"name": ("A", "da"), "tier": "gold"}, None)
    as_list = payloads.compile("a", None, {"name": ["A", "da"], "tier": "gold"}, None)
    assert "('A', 'da')" in as_tuple["session"]["instructions"]
    assert "['A', 'da']" in as_list["session"]["instructions"]
    as_float = payloads.compile("a", None, {"name": 1.0, "tier": "gold"}, None)
    as_int = payloads.compile("a", None, {"name": 1, "tier": "gold"}, None)
    assert "Hello 1.0 " in as_float["session"]["instructions"]
    assert "Hello 1 " in as_int["session"]["instructions"]


def test_cache_is_bounded(doc: Any) -> None:
    payloads = CompiledPayloads(SessionCompiler(doc), maxsize=2)
    for i in range(5):
        payloads.compile("a", None, {"name": f"n{i}", "tier": "t"}, None)
    assert len(payloads._cache) == 2


async def test_a_session_sends_the_cached_payload_at_each_handoff(doc: Any) -> None:
    session = Session(doc, url="ws://127.0.0.1:9/v1/realtime", api_key="k")
    try:
        first = session.moves.payload("b")
        session.moves.audio_started, session.moves.voice = True, "sage"
        second = session.moves.payload("b")
        assert second["session"]["audio"]["output"]["voice"] == "sage"  # per-session adjustments still apply
        assert "voice" not in first["session"].get("audio", {}).get("output", {})
        assert session.moves.offered.handoffs == {"transfer_to_a": "a"}
    finally:
        await session.close()


SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "x": {"type": "number", "description": "any number"},
            "ok": {"type": "boolean"},
            "size": {"type": "string", "enum": ["s", "m", "l"]},
        },
        "required": ["n"],
    },
]
ARGUMENTS: list[Any] = [
    {},
    {"query": "a"},
    {"query": 1},
    {"query": "a", "extra": 1},
    {"query": None},
    {"n": 1},
    {"n": 1.0},
    {"n": True},
    {"n": "1"},
    {"n": 1, "x": 2.5},
    {"n": 1, "x": True},
    {"n": 1, "ok": 0},
    {"n": 1, "ok": False},
    {"n": 1, "size": "m"},
    {"n": 1, "size": "xl"},
    {"n": 1, "other": [1]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_quick_check_passes_only_what_the_schema_accepts(schema: dict[str, Any]) -> None:
    check = quick_check(schema)
    assert check is not None
    validator = Draft202012Validator(schema)
    passed = 0
    for args in ARGUMENTS:
        if check(args):
            passed += 1
            assert validator.is_valid(args), args
    assert passed >= 1  # it does pass the common valid case


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"q": {"type": "string", "minLength": 2}}},
        {"type": "object", "properties": {"q": {"type": ["string", "null"]}}},
        {"type": "object", "properties": {"q": {"type": "array"}}},
        {"type": "object", "properties": {"q": {"type": "integer", "enum": [1, 2]}}},
        {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
        {"type": "object", "anyOf": []},
        {"type": "array"},
    ],
)
def test_quick_check_leaves_other_schemas_to_the_validator(schema: dict[str, Any]) -> None:
    assert quick_check(schema) is None


def test_ids_are_unique_and_shaped_as_before() -> None:
    ids = {sequencer._event_id() for _ in range(10000)} | {Session.new_id("event") for _ in range(10000)}
    assert len(ids) == 20000
    assert all(i.startswith("event_") and len(i) == 26 for i in ids)
