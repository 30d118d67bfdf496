"""lint_graph: each lint fires at the YAML node at fault, and a clean graph gets none."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.graph import lint_graph
from engine.spec import Finding, load_document


def _lint(tmp_path: Path, text: str) -> tuple[list[Finding], str]:
    text = textwrap.dedent(text)
    path = tmp_path / "graph.yaml"
    path.write_text(text, encoding="utf-8")
    doc = load_document(path)
    return lint_graph(doc), text


def _at(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based line and column of the nth occurrence of `needle`."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _where(findings: list[Finding], code: str) -> list[tuple[int, int]]:
    return [(f.line, f.col) for f in findings if f.code == code]


CLEAN = """\
    graph: clean
    session:
      audio: {output: {voice: sage}}
    start: auth
    agents:
      auth:
        tools: [authenticate_user]
        handoffs: [returns, sales]
        states:
          initial: greeting
          steps:
            greeting:
              transitions: [{to: get_phone, when: once greeted}]
            get_phone:
              tools: [authenticate_user]
              transitions: [{to: "handoff:returns", when: wants a return, guard: context.authenticated}]
      returns:
        tools: [check_eligibility, mcp_docs, mcp_docs]
        handoffs: [auth]
        states:
          initial: listen
          steps:
            listen:
              transitions: [{to: decide, when: heard the order}]
            decide: {}
      sales:
        voice: sage
        handoffs: [auth]
    tools:
      authenticate_user: {returns: ok}
      check_eligibility:
        escalate: {model: o4-mini, tools: [policy]}
      policy: {returns: text}
      mcp_docs:
        mcp: {label: docs, url: "https://example.invalid/mcp"}
"""


def test_clean_graph_has_no_findings(tmp_path: Path) -> None:
    findings, _ = _lint(tmp_path, CLEAN)
    assert findings == []


def test_unreachable_agent(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        start: a
        agents:
          a:
            states:
              initial: s
              steps:
                s: {transitions: [{to: "handoff:b", when: later}]}
          b: {}
          lonely:
            handoffs: [a]
        """,
    )
    # `b` is reached only through a state-level handoff, which counts.
    assert _where(findings, "W601") == [_at(text, "lonely")]
    assert "'lonely' cannot be reached from the start agent 'a'" in findings[0].message
    assert findings[0].severity == "warning" and findings[0].file.endswith("graph.yaml")


def test_unreachable_state(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        start: a
        agents:
          a:
            handoffs: [b]
            states:
              initial: one
              steps:
                one: {transitions: [{to: two, when: x}]}
                two: {}
                island: {transitions: [{to: one, when: y}]}
          b: {handoffs: [a]}
        """,
    )
    assert _where(findings, "W602") == [_at(text, "island")]


def test_dead_end_state(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        start: a
        agents:
          a:
            states:
              initial: one
              steps:
                one: {transitions: [{to: stuck, when: x}, {to: bye, when: y}]}
                stuck: {}
                bye: {}
          b:
            handoffs: [a]
            states:
              initial: p
              steps:
                p: {}
                q: {}
        """,
    )
    # `bye` is the last step (a conversation may end there); agent b has handoffs, so no dead end.
    assert _where(findings, "W603") == [_at(text, "stuck:")]


def test_handoff_to_self(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        start: a
        agents:
          a:
            handoffs: [b, a]
          b:
            handoffs: [{agent: b, description: again}]
            states:
              initial: s
              steps:
                s: {transitions: [{to: "handoff:b", when: x}]}
        """,
    )
    assert _where(findings, "E604") == [
        _at(text, "a]"),
        _at(text, "b, description"),
        _at(text, '"handoff:b"'),
    ]
    assert all(f.severity == "error" for f in findings if f.code == "E604")


def test_duplicate_tool_names(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        start: a
        agents:
          a:
            tools: [lookup, lookup, docs, docs, transfer_to_b]
            handoffs: [b, b]
            states:
              initial: s
              steps:
                s: {tools: [lookup, lookup]}
          b: {}
        tools:
          lookup: {returns: x}
          transfer_to_b: {returns: y}
          docs:
            mcp: {label: docs, url: "https://example.invalid/mcp"}
        """,
    )
    handoffs_line, handoffs_col = _at(text, "[b, b]")
    assert _where(findings, "E605") == [
        _at(text, "lookup", 2),
        (handoffs_line, handoffs_col + len("[b, ")),
        _at(text, "lookup]"),
        _at(text, "transfer_to_b:"),
    ]
    messages = " | ".join(f.message for f in findings if f.code == "E605")
    assert "generated handoff tool of agent 'b'" in messages
    assert "'transfer_to_b' would be offered twice" in messages


def test_names_the_realtime_api_refuses(tmp_path: Path) -> None:
    long_agent = "x" * 60
    findings, text = _lint(
        tmp_path,
        f"""\
        graph: g
        start: a
        agents:
          a:
            tools: [look.up]
            handoffs: [{long_agent}, "b c"]
            states:
              initial: first step
              steps:
                first step: {{}}
          {long_agent}: {{handoffs: [a]}}
          "b c": {{handoffs: [a]}}
        tools:
          "look.up": {{returns: x}}
        """,
    )
    assert _where(findings, "E701") == sorted(
        [_at(text, "first step:"), _at(text, f"{long_agent}:"), _at(text, '"b c":'), _at(text, '"look.up"')]
    )
    too_long = next(f for f in findings if f.code == "E701" and long_agent in f.message)
    assert f"'transfer_to_{long_agent}' (72 characters)" in too_long.message


def test_differing_voices(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        session:
          audio: {output: {voice: sage}}
        start: a
        agents:
          a: {handoffs: [b, c, d, e]}
          b: {voice: sage}
          c:
            voice: ash
          d:
            session: {audio: {output: {voice: coral}}}
          e: {}
        """,
    )
    assert _where(findings, "W702") == [_at(text, "ash"), _at(text, "coral")]
    assert "'ash' but the session speaks with 'sage'" in findings[0].message


def test_voice_differs_from_a_start_agent_with_its_own(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        session:
          audio: {output: {voice: sage}}
        start: a
        agents:
          a: {voice: verse, handoffs: [inherits]}
          inherits: {}
        """,
    )
    # No voice of its own: the finding points at the agent.
    assert _where(findings, "W702") == [_at(text, "inherits:")]


def test_unused_tool(tmp_path: Path) -> None:
    findings, text = _lint(
        tmp_path,
        """\
        graph: g
        start: a
        agents:
          a:
            tools: [ask]
            states:
              initial: s
              steps:
                s: {tools: [in_state]}
        tools:
          ask:
            escalate: {model: o4-mini, tools: [for_the_model]}
          in_state: {returns: x}
          for_the_model: {returns: y}
          forgotten: {returns: z}
        """,
    )
    assert _where(findings, "W606") == [_at(text, "forgotten")]


def test_tool_named_like_the_transition_tool_of_enforced_states(tmp_path: Path) -> None:
    graph = """\
        graph: g
        start: a
        agents:
          a:
            states:
              enforce: true
              initial: s
              steps:
                s: {tools: [transition_state], transitions: [{to: t, when: x}]}
                t: {}
        tools:
          transition_state: {returns: x}
        """
    findings, text = _lint(tmp_path, graph)
    assert _where(findings, "E605") == [_at(text, "transition_state:")]
    findings, _ = _lint(tmp_path, graph.replace("enforce: true", "enforce: false"))
    assert _where(findings, "E605") == []  # a plan in the prompt offers no transition tool


def test_w705_an_agent_format_other_than_the_call_s(tmp_path: Path):
    findings, text = _lint(
        tmp_path,
        """\
        graph: formats
        session: {audio: {input: {format: g711_ulaw}, output: {format: g711_ulaw}}}
        start: phone
        agents:
          phone:
            instructions: Answer the phone.
            handoffs: [expert]
          expert:
            instructions: Know things.
            session: {audio: {input: {format: g711_ulaw}, output: {format: pcm16}}}
            handoffs: [phone]
        """,
    )
    [finding] = [f for f in findings if f.code == "W705"]
    assert (
        finding.severity == "warning"
        and "output format 'pcm16'" in finding.message
        and "'g711_ulaw'" in finding.message
    )
    assert (finding.line, finding.col) == _at(text, "pcm16")
