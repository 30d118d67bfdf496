"""Compiling agents into GA Realtime `session.update` payloads."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.compile import (
    HANDOFF_PARAMETERS,
    TRANSITION_TOOL,
    CompileError,
    apply_mcp_headers,
    compile_all,
    compile_session,
    compile_tracing,
    resolve_mcp_headers,
)
from engine.spec import Document, load_document

Load = Callable[[str], Document]


@pytest.fixture
def load(tmp_path: Path) -> Load:
    def _load(text: str, name: str = "graph.yaml") -> Document:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return load_document(path)

    return _load


RETAIL = """\
    graph: retail
    model: gpt-realtime
    session:
      audio:
        input:
          format: g711_ulaw
          transcription: {language: en}
          turn_detection: {type: semantic_vad, eagerness: medium}
        output: {voice: sage}
      tracing: {workflow_name: retail, group_id: g1}
    context:
      company: Snowy Peak Boards
    start: authentication
    agents:
      authentication:
        description: Greets and authenticates the caller.
        instructions_file: prompts/auth.md.j2
        tools: [docs, authenticate_user, lookup_order]
        handoffs: [returns, {agent: sales, description: Talks about new boards.}]
      returns:
        description: Handles returns and refunds.
        instructions: "You handle returns for {{ context.company }}."
        voice: ash
        session:
          audio: {input: {turn_detection: null}}
          extra: {truncation: disabled, audio: {output: {speed: 1.2}}}
        handoffs: [authentication]
      sales:
        instructions: Sell boards.
    tools:
      authenticate_user:
        description: Verify the caller.
        parameters:
          type: object
          properties: {phone_number: {type: string}}
          required: [phone_number]
          additionalProperties: false
        returns: ok
      lookup_order:
        description: Find an order.
        returns: {status: shipped}
      docs:
        mcp:
          label: docs
          url: https://mcp.example.com/sse
          allowed_tools: [search]
          headers: {Authorization: {env: DOCS_TOKEN, prefix: "Bearer "}, X-Tenant: snowy}
"""


@pytest.fixture
def retail(load: Load, tmp_path: Path) -> Document:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "auth.md.j2").write_text("You are {{ agent }} at {{ company }} ({{ graph }}).\n")
    return load(RETAIL)


def session(doc: Document, agent: str, **kw: object) -> dict:
    event = compile_session(doc, agent, **kw)  # type: ignore[arg-type]
    assert event["type"] == "session.update"
    return event["session"]


# --- tools -------------------------------------------------------------------------------------------


def test_tools_order_function_then_handoff_then_mcp(retail: Document) -> None:
    tools = session(retail, "authentication")["tools"]
    assert [(t["type"], t.get("name") or t.get("server_label")) for t in tools] == [
        ("function", "authenticate_user"),
        ("function", "lookup_order"),
        ("function", "transfer_to_returns"),
        ("function", "transfer_to_sales"),
        ("mcp", "docs"),
    ]
    assert tools[0] == {
        "type": "function",
        "name": "authenticate_user",
        "description": "Verify the caller.",
        "parameters": {
            "type": "object",
            "properties": {"phone_number": {"type": "string"}},
            "required": ["phone_number"],
            "additionalProperties": False,
        },
    }
    # A tool without parameters gets an empty object schema.
    assert tools[1]["parameters"] == {"type": "object", "properties": {}}


def test_handoff_tools_name_description_and_schema(retail: Document) -> None:
    tools = {t.get("name"): t for t in session(retail, "authentication")["tools"]}
    returns = tools["transfer_to_returns"]
    assert returns["description"] == "Handoff to the returns agent to handle the request. Handles returns and refunds."
    assert returns["parameters"] == {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    assert returns["parameters"] == HANDOFF_PARAMETERS
    assert "strict" not in returns


def test_handoff_description_override(retail: Document) -> None:
    tools = {t.get("name"): t for t in session(retail, "authentication")["tools"]}
    assert tools["transfer_to_sales"]["description"] == (
        "Handoff to the sales agent to handle the request. Talks about new boards."
    )


def test_handoff_to_agent_without_description_has_no_trailing_space(load: Load) -> None:
    doc = load(
        """\
        graph: g
        start: a
        agents:
          a: {instructions: A, handoffs: [b]}
          b: {instructions: B}
        """
    )
    (tool,) = session(doc, "a")["tools"]
    assert tool["description"] == "Handoff to the b agent to handle the request."


def test_mcp_tool_leaves_env_headers_out(retail: Document) -> None:
    mcp = session(retail, "authentication")["tools"][-1]
    assert mcp == {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com/sse",
        "allowed_tools": ["search"],
        "require_approval": "never",
        "headers": {"X-Tenant": "snowy"},
    }
    assert "Bearer" not in json.dumps(compile_all(retail))


def test_mcp_headers_resolved_by_the_runtime(retail: Document) -> None:
    server = retail.spec.tools["docs"].mcp
    assert server is not None
    env = {"DOCS_TOKEN": "s3cret"}
    assert resolve_mcp_headers(server, env) == {"Authorization": "Bearer s3cret", "X-Tenant": "snowy"}
    event = compile_session(retail, "authentication")
    filled = apply_mcp_headers(event, retail, env)
    assert filled["session"]["tools"][-1]["headers"]["Authorization"] == "Bearer s3cret"
    assert (
        "headers" not in event["session"]["tools"][-1]
        or "Authorization" not in event["session"]["tools"][-1]["headers"]
    )
    with pytest.raises(CompileError, match="DOCS_TOKEN"):
        resolve_mcp_headers(server, {})


def test_unknown_tool_is_a_compile_error(load: Load) -> None:
    doc = load("graph: g\nstart: a\nagents:\n  a: {instructions: A, tools: [nope]}\n")
    with pytest.raises(CompileError, match="unknown tool 'nope'"):
        compile_session(doc, "a")


# --- session settings ------------------------------------------------------------------------------


def test_session_shape_and_key_order(retail: Document) -> None:
    s = session(retail, "authentication")
    assert list(s) == [
        "type",
        "model",
        "instructions",
        "output_modalities",
        "audio",
        "tools",
        "tool_choice",
        "max_output_tokens",
    ]
    assert s["type"] == "realtime"
    assert s["model"] == "gpt-realtime"
    assert s["output_modalities"] == ["audio"]
    assert s["tool_choice"] == "auto"


def test_formats_mapping_and_carry_over(retail: Document) -> None:
    audio = session(retail, "sales")["audio"]
    # Graph defaults reach agents that set nothing; output mirrors the input format.
    assert audio["input"]["format"] == {"type": "audio/pcmu"}
    assert audio["output"]["format"] == {"type": "audio/pcmu"}
    assert audio["input"]["transcription"] == {"model": "gpt-transcribe", "language": "en"}  # the default model
    assert audio["input"]["turn_detection"] == {"type": "semantic_vad", "eagerness": "medium"}
    assert audio["output"]["voice"] == "sage"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("pcm16", {"type": "audio/pcm", "rate": 24000}),
        ("g711_ulaw", {"type": "audio/pcmu"}),
        ("g711_alaw", {"type": "audio/pcma"}),
    ],
)
def test_each_format_maps(load: Load, fmt: str, expected: dict) -> None:
    doc = load(
        f"graph: g\nstart: a\nsession: {{audio: {{output: {{format: {fmt}}}}}}}\nagents:\n  a: {{instructions: A}}\n"
    )
    audio = session(doc, "a")["audio"]
    assert audio["output"]["format"] == expected
    assert audio["input"]["format"] == expected


def test_default_format_is_pcm16(load: Load) -> None:
    doc = load("graph: g\nstart: a\nagents:\n  a: {instructions: A}\n")
    audio = session(doc, "a")["audio"]
    assert audio == {
        "input": {"format": {"type": "audio/pcm", "rate": 24000}},
        "output": {"format": {"type": "audio/pcm", "rate": 24000}},
    }


def test_sip_call_leaves_unset_formats_out(load: Load, retail: Document) -> None:
    doc = load("graph: g\nstart: a\nagents:\n  a: {instructions: A, voice: marin}\n", name="plain.yaml")
    assert session(doc, "a", call_id="rtc_123")["audio"] == {"output": {"voice": "marin"}}
    # Set explicitly, formats stay.
    audio = session(retail, "sales", call_id="rtc_123")["audio"]
    assert audio["input"]["format"] == {"type": "audio/pcmu"}


def test_agent_voice_overrides_graph_voice(retail: Document) -> None:
    assert session(retail, "returns")["audio"]["output"]["voice"] == "ash"
    assert session(retail, "authentication")["audio"]["output"]["voice"] == "sage"


def test_push_to_talk_null_turn_detection(retail: Document, load: Load) -> None:
    audio_in = session(retail, "returns")["audio"]["input"]
    assert "turn_detection" in audio_in
    assert audio_in["turn_detection"] is None
    # Unset stays unset: no turn_detection key at all.
    plain = load("graph: g\nstart: a\nagents:\n  a: {instructions: A}\n", name="plain.yaml")
    assert "turn_detection" not in json.dumps(compile_session(plain, "a"))


def test_turn_detection_of_another_type_replaces_instead_of_mixing(load: Load) -> None:
    doc = load(
        """\
        graph: g
        start: a
        session: {audio: {input: {turn_detection: {type: semantic_vad, eagerness: low}}}}
        agents:
          a:
            instructions: A
            session: {audio: {input: {turn_detection: {type: server_vad, silence_duration_ms: 700}}}}
        """
    )
    td = session(doc, "a")["audio"]["input"]["turn_detection"]
    assert td == {"type": "server_vad", "silence_duration_ms": 700}


def test_extra_is_deep_merged_last(retail: Document) -> None:
    s = session(retail, "returns")
    assert s["truncation"] == "disabled"
    assert s["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "ash", "speed": 1.2}
    assert list(s)[-1] == "truncation"


def test_extra_merges_into_format_objects_of_the_same_type(load: Load) -> None:
    doc = load(
        """\
        graph: g
        start: a
        agents:
          a:
            instructions: A
            session: {extra: {audio: {input: {format: {rate: 24000}}, output: {format: {type: audio/pcmu}}}}}
        """
    )
    audio = session(doc, "a")["audio"]
    assert audio["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert audio["output"]["format"] == {"type": "audio/pcmu"}  # another type replaces, never mixes


def test_agent_without_instructions(load: Load) -> None:
    doc = load("graph: g\nstart: a\nagents:\n  a: {description: Nothing to say.}\n")
    assert session(doc, "a")["instructions"] == ""


def test_other_session_fields(load: Load) -> None:
    doc = load(
        """\
        graph: g
        start: a
        session: {output_modalities: [text], max_output_tokens: 500}
        agents:
          a:
            instructions: A
            session:
              tool_choice: required
              prompt: {id: pmpt_1, variables: {city: Paris}}
              audio: {input: {noise_reduction: {type: near_field}}}
        """
    )
    s = session(doc, "a")
    assert s["output_modalities"] == ["text"]
    assert s["max_output_tokens"] == 500
    assert s["tool_choice"] == "required"
    assert s["prompt"] == {"id": "pmpt_1", "variables": {"city": "Paris"}}
    assert s["audio"]["input"]["noise_reduction"] == {"type": "near_field"}


def test_tracing_is_a_separate_event(retail: Document) -> None:
    for event in compile_all(retail).values():
        assert "tracing" not in event["session"]
    assert compile_tracing(retail) == {
        "type": "session.update",
        "session": {"type": "realtime", "tracing": {"workflow_name": "retail", "group_id": "g1"}},
    }


def test_no_tracing_when_unset(load: Load) -> None:
    assert compile_tracing(load("graph: g\nstart: a\nagents:\n  a: {instructions: A}\n")) is None
    auto = load("graph: g\nstart: a\nsession: {tracing: auto}\nagents:\n  a: {instructions: A}\n", name="auto.yaml")
    assert compile_tracing(auto) == {"type": "session.update", "session": {"type": "realtime", "tracing": "auto"}}


# --- instructions ------------------------------------------------------------------------------------


def test_instructions_file_and_inline_render_over_context(retail: Document) -> None:
    assert (
        session(retail, "authentication")["instructions"] == "You are authentication at Snowy Peak Boards (retail).\n"
    )
    assert session(retail, "returns")["instructions"] == "You handle returns for Snowy Peak Boards.\n"
    live = session(retail, "returns", context={"company": "Other Co"})
    assert live["instructions"] == "You handle returns for Other Co.\n"


STATES = """\
    graph: g
    start: auth
    context: {company: Snowy Peak}
    agents:
      auth:
        description: Authenticates.
        instructions: "You work for {{ company }}."
        tools: [authenticate_user, lookup]
        handoffs: [returns, sales]
        states:
          enforce: {enforce}
          initial: greeting
          steps:
            greeting:
              description: The call starts.
              instructions: ["Greet the caller on behalf of {{ company }}."]
              examples: ["Hello, this is Snowy Peak."]
              transitions: [{to: get_phone, when: once greeted}]
            get_phone:
              tools: [authenticate_user]
              instructions: [Ask for the phone number.]
              transitions:
                - {to: greeting, when: the caller wants to start over}
                - {to: "handoff:returns", when: the caller wants a return, guard: context.authenticated}
            done: {description: Nothing left.}
      returns: {description: Returns., instructions: R}
      sales: {description: Sales., instructions: S}
    tools:
      authenticate_user: {description: Verify., returns: ok}
      lookup: {description: Look up., returns: ok}
"""


def test_state_plan_rendered_into_prompt(load: Load) -> None:
    doc = load(STATES.replace("{enforce}", "false"))
    text = session(doc, "auth")["instructions"]
    assert text.startswith("You work for Snowy Peak.\n\n# Conversation states\n")
    assert "## State `greeting` (start here)" in text
    assert "The call starts." in text
    assert "- Greet the caller on behalf of Snowy Peak." in text
    assert "- Hello, this is Snowy Peak." in text
    assert "- -> `get_phone` when once greeted" in text
    assert "- -> hand off to the `returns` agent (`transfer_to_returns`) when the caller wants a return" in text
    assert text.index("`greeting`") < text.index("`get_phone`") < text.index("`done`")
    # Not enforced: every agent tool and handoff, no transition tool.
    names = [t["name"] for t in session(doc, "auth")["tools"]]
    assert names == ["authenticate_user", "lookup", "transfer_to_returns", "transfer_to_sales"]
    assert set(compile_all(doc)) == {"auth", "returns", "sales"}
    with pytest.raises(CompileError, match="no enforced states"):
        compile_session(doc, "auth", state="greeting")


def test_enforced_state_payload(load: Load) -> None:
    doc = load(STATES.replace("{enforce}", "true"))
    s = session(doc, "auth", state="get_phone")
    text = s["instructions"]
    assert "# Current state: `get_phone`" in text
    assert "Ask for the phone number." in text
    assert "Greet the caller" not in text  # other states stay out
    assert f"`{TRANSITION_TOOL}`" in text
    assert "- -> `handoff:returns` (hand off to the `returns` agent) when the caller wants a return" in text

    tools = s["tools"]
    # The step's tools only; `returns` is routed by the machine (its guard is checked by the engine),
    # so only `sales` keeps a handoff tool; the transition tool comes last.
    assert [t["name"] for t in tools] == ["authenticate_user", "transfer_to_sales", TRANSITION_TOOL]
    transition = tools[-1]
    assert transition["parameters"] == {
        "type": "object",
        "properties": {
            "to": {"type": "string", "enum": ["greeting", "handoff:returns"]},
            "reason": {
                "type": "string",
                "description": transition["parameters"]["properties"]["reason"]["description"],
            },
        },
        "required": ["to"],
        "additionalProperties": False,
    }


def test_enforced_initial_state_and_dead_end(load: Load) -> None:
    doc = load(STATES.replace("{enforce}", "true"))
    initial = session(doc, "auth")
    assert initial == session(doc, "auth", state="greeting")
    assert [t["name"] for t in initial["tools"]] == ["transfer_to_sales", TRANSITION_TOOL]
    assert initial["tools"][-1]["parameters"]["properties"]["to"]["enum"] == ["get_phone"]
    done = session(doc, "auth", state="done")
    assert [t["name"] for t in done["tools"]] == ["transfer_to_sales"]  # nowhere to go: no transition tool
    assert "no transitions" in done["instructions"]
    with pytest.raises(CompileError, match="did you mean 'greeting'"):
        compile_session(doc, "auth", state="greting")


def test_compile_all_keys_for_enforced_states(load: Load) -> None:
    doc = load(STATES.replace("{enforce}", "true"))
    payloads = compile_all(doc)
    assert list(payloads) == ["auth", "auth/greeting", "auth/get_phone", "auth/done", "returns", "sales"]
    assert payloads["auth"] == payloads["auth/greeting"]


def test_unknown_agent(retail: Document) -> None:
    with pytest.raises(CompileError, match="did you mean 'sales'"):
        compile_session(retail, "saless")


# --- determinism -------------------------------------------------------------------------------------


def test_same_file_same_bytes(load: Load, tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "auth.md.j2").write_text("Hi {{ company }}\n")
    first = json.dumps(compile_all(load(RETAIL)))
    second = json.dumps(compile_all(load(RETAIL)))
    assert first == second
    states = load(STATES.replace("{enforce}", "true"), name="states.yaml")
    assert json.dumps(compile_all(states)) == json.dumps(compile_all(states))


def test_compiling_does_not_share_spec_objects(retail: Document) -> None:
    event = compile_session(retail, "authentication")
    event["session"]["tools"][0]["parameters"]["properties"]["x"] = {}
    assert "x" not in retail.spec.tools["authenticate_user"].parameters["properties"]
