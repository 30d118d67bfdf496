"""Drawings: Mermaid (strict checker, and mermaid's own parser when node has it), DOT through Graphviz, HTML."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

from engine.graph import GraphvizMissing, build_graph, render, render_svg
from engine.spec import Document, load_document

TESTS = Path(__file__).parent

RETAIL = """\
    graph: retail
    description: Snowy Peak Boards & co
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
              transitions:
                - {to: "handoff:returns", when: wants a return, guard: context.authenticated}
                - {to: greeting, when: starts over}
      returns:
        tools: [check_eligibility]
        handoffs: [auth]
      sales: {handoffs: [auth]}
    tools:
      authenticate_user: {returns: ok}
      check_eligibility:
        escalate: {model: gpt-5.4-mini}
"""

# Names and texts that break naive drawings: quotes, entities, HTML, Mermaid keywords, pipes, backticks.
HOSTILE = """\
    graph: 'hostile "graph" <b>#1</b>'
    start: end
    agents:
      end:
        description: 'says "hi" & <script>alert(1)</script>'
        tools: ["look|up", "`tick`"]
        handoffs: ["a b", "o-x", "graph"]
        states:
          initial: "first step"
          steps:
            "first step":
              transitions:
                - {to: "sub]graph", when: 'caller says "restart" #now; {x} |y| [z]', guard: 'context["k"] > 1'}
            "sub]graph":
              transitions: [{to: "handoff:a b", when: "-->|oops|"}]
      "a b": {handoffs: [end]}
      "o-x": {}
      graph: {}
    tools:
      "look|up": {returns: x}
      "`tick`": {escalate: {model: 'o4-mini\\'}}
"""


def _load(tmp_path: Path, text: str, name: str = "graph.yaml") -> Document:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_document(path)


def _graphs(tmp_path: Path) -> list[tuple[Document, nx.DiGraph]]:
    docs = [_load(tmp_path, RETAIL, "retail.yaml"), _load(tmp_path, HOSTILE, "hostile.yaml")]
    return [(doc, build_graph(doc)) for doc in docs]


# --- Mermaid -------------------------------------------------------------------------------------

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL = r'"[^"<>`|]*(?:<br/>[^"<>`|]*)*"'  # quoted; HTML only as our <br/>; quotes etc. as entities
_SHAPES = [(r"\[\[", r"\]\]"), (r"\[", r"\]"), (r"\(", r"\)"), (r"\{\{", r"\}\}")]
_NODE = re.compile(rf"^\s*({_ID})(?:{'|'.join(f'{o}{_LABEL}{c}' for o, c in _SHAPES)})$")
_EDGE = re.compile(rf"^\s*({_ID}) (-->|-\.->)(?:\|{_LABEL}\|)? ({_ID})$")
_SUBGRAPH = re.compile(rf"^\s*subgraph ({_ID})\[{_LABEL}\]$")
_CLASS = re.compile(rf"^\s*(classDef {_ID} [a-z:#0-9,.-]+|class {_ID}(?:,{_ID})* {_ID})$")


def check_mermaid(source: str) -> tuple[set[str], list[tuple[str, str]]]:
    """A strict reading of the subset we emit: returns the node ids and the edges."""
    lines = source.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: set[str] = set()
    groups: set[str] = set()
    edges: list[tuple[str, str]] = []
    depth = 0
    for line in lines[1:]:
        if line.strip().startswith("%%"):
            assert "\n" not in line
        elif m := _SUBGRAPH.match(line):
            assert depth == 0, "state machines are not nested"
            groups.add(m.group(1))
            depth += 1
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0, "end without subgraph"
        elif m := _NODE.match(line):
            assert m.group(1) not in nodes, f"node declared twice: {line}"
            assert m.group(1).lower() != "end"
            nodes.add(m.group(1))
        elif m := _EDGE.match(line):
            assert depth == 0
            edges.append((m.group(1), m.group(3)))
        else:
            assert _CLASS.match(line), f"not Mermaid we emit: {line!r}"
    assert depth == 0, "unbalanced subgraph/end"
    assert not nodes & groups
    for u, v in edges:
        assert u in nodes and v in nodes, f"edge to an undeclared id: {u} --> {v}"
    return nodes, edges


def test_mermaid_is_well_formed_and_complete(tmp_path: Path) -> None:
    for doc, g in _graphs(tmp_path):
        source = render(doc, g, "mermaid")
        nodes, edges = check_mermaid(source)
        assert len(nodes) == g.number_of_nodes()
        assert len(edges) == g.number_of_edges()


def test_mermaid_shows_start_states_guards_and_models(tmp_path: Path) -> None:
    doc = _load(tmp_path, RETAIL)
    source = render(doc, build_graph(doc), "mermaid")
    assert 'a_auth[["▶ start<br/>auth<br/>tools: authenticate_user"]]' in source
    assert 'subgraph g_a_auth["auth · states"]' in source
    assert 's_auth__get_phone -->|"wants a return [context.authenticated]"| a_returns' in source
    assert 'a_returns -.->|"check_eligibility"| m_gpt_5_4_mini' in source
    assert 'm_gpt_5_4_mini{{"gpt-5.4-mini"}}' in source
    assert "a_auth -.-> s_auth__greeting" in source


def test_a_handoff_an_enforced_machine_routes_is_drawn_as_going_through_its_states(tmp_path: Path) -> None:
    doc = _load(tmp_path, RETAIL.replace("        states:\n", "        states:\n          enforce: true\n"))
    source = render(doc, build_graph(doc), "mermaid")
    assert 'a_auth -->|"only through its states"| a_returns' in source  # guarded in get_phone
    assert "a_auth --> a_sales" in source  # the machine never routes there: its handoff tool is offered


def test_mermaid_escapes_as_entities(tmp_path: Path) -> None:
    doc = _load(tmp_path, HOSTILE)
    source = render(doc, build_graph(doc), "mermaid")
    assert "caller says #quot;restart#quot; #35;now; {x} #124;y#124; [z] [context[#quot;k#quot;] #gt; 1]" in source
    assert "<script>" not in source and "#96;tick#96;" in source
    assert "a_end" in source and not re.search(r"^\s*end\[", source, re.M)


def _mermaid_parser() -> tuple[str, dict[str, str]] | None:
    node = shutil.which("node")
    if node is None:
        return None
    env = {**os.environ, "MERMAID_PREFIX": os.environ.get("MERMAID_PREFIX", str(TESTS.parent))}
    probe = subprocess.run([node, str(TESTS / "mermaid_parse.mjs")], input=b"[]", env=env, capture_output=True)
    return (node, env) if probe.returncode == 0 else None


def test_mermaid_parses_with_mermaid_itself(tmp_path: Path) -> None:
    parser = _mermaid_parser()
    if parser is None:
        pytest.skip("node with the mermaid and jsdom packages not found (npm install --prefix $MERMAID_PREFIX ...)")
    node, env = parser
    sources = [render(doc, g, "mermaid") for doc, g in _graphs(tmp_path)]
    broken = 'flowchart LR\n  a["x"] --> b\n  subgraph s\n'
    done = subprocess.run(
        [node, str(TESTS / "mermaid_parse.mjs")],
        input=json.dumps([*sources, broken]).encode(),
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    *ours, theirs = json.loads(done.stdout)
    assert ours == [None] * len(sources)
    assert theirs is not None  # the parser really rejects broken input


# --- DOT and SVG ---------------------------------------------------------------------------------

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
_SVG = "{http://www.w3.org/2000/svg}"


def _svg_texts(svg: bytes | str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{_SVG}text")]


def test_dot_source_shape(tmp_path: Path) -> None:
    doc = _load(tmp_path, RETAIL)
    source = render(doc, build_graph(doc), "dot")
    assert source.startswith('digraph "retail" {')
    assert "subgraph cluster_a_auth {" in source
    assert re.search(r"a_auth \[[^\n]*peripheries=2", source)
    assert 'label="wants a return [context.authenticated]"' in source
    assert source.count(" -> ") == build_graph(doc).number_of_edges()


@needs_dot
def test_dot_is_valid_graphviz_and_keeps_texts(tmp_path: Path) -> None:
    for doc, g in _graphs(tmp_path):
        done = subprocess.run(["dot", "-Tsvg"], input=render(doc, g, "dot").encode(), capture_output=True, check=False)
        assert done.returncode == 0, done.stderr.decode()
        assert done.stderr == b""  # no warnings either
    doc, g = _graphs(tmp_path)[1]
    texts = _svg_texts(render_svg(doc, g))
    assert 'caller says "restart" #now; {x} |y| [z] [context["k"] > 1]' in texts
    assert "o4-mini\\" in texts  # a backslash stays a backslash
    assert "▶ start" in texts


@needs_dot
def test_render_svg_draws_every_agent(tmp_path: Path) -> None:
    doc = _load(tmp_path, RETAIL)
    svg = render_svg(doc, build_graph(doc))
    texts = _svg_texts(svg)
    for name in ("auth", "returns", "sales", "greeting", "get_phone", "gpt-5.4-mini", "check_eligibility"):
        assert name in texts


def test_svg_without_graphviz_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` anywhere
    doc = _load(tmp_path, RETAIL)
    with pytest.raises(GraphvizMissing) as caught:
        render_svg(doc, build_graph(doc))
    message = str(caught.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "--format dot" in message and "html" in message


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    doc = _load(tmp_path, RETAIL)
    with pytest.raises(ValueError, match="mermaid, dot, html"):
        render(doc, build_graph(doc), "png")


# --- HTML ----------------------------------------------------------------------------------------


def _inline_svg(page: str) -> str:
    return page[page.index("<svg") : page.index("</svg>") + len("</svg>")]


def _assert_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>")
    # One inline script (pan, zoom, label fitting), nothing loaded from anywhere.
    assert page.lower().count("<script") == 1 and "<script>" in page
    assert not re.search(r"<(link|img|iframe)\b", page, re.I)
    assert not re.search(r"(src|href)\s*=", page, re.I)
    assert "@import" not in page and "url(http" not in page


@needs_dot
def test_html_embeds_graphviz_svg(tmp_path: Path) -> None:
    doc = _load(tmp_path, RETAIL)
    page = render(doc, build_graph(doc), "html")
    _assert_self_contained(page)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    svg = _inline_svg(page)
    assert 'class="graph"' in svg  # Graphviz's own SVG
    assert "auth" in _svg_texts(svg)


def test_html_without_graphviz_draws_its_own_svg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for doc, g in _graphs(tmp_path):
        page = render(doc, g, "html")
        _assert_self_contained(page)
        svg = _inline_svg(page)
        texts = " ".join(_svg_texts(svg))  # well-formed XML, or this raises
        for node, data in g.nodes(data=True):
            name = data.get("name") or data.get("model") or node
            assert name in texts
        paths = ET.fromstring(svg).findall(f".//{_SVG}path[@marker-end]")
        assert len(paths) == g.number_of_edges()
    doc, g = _graphs(tmp_path)[1]
    page = render(doc, g, "html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- the command line ----------------------------------------------------------------------------


def test_cli_writes_each_format_to_a_file_or_says_why_it_cannot(tmp_path: Path, capsys) -> None:
    from engine.cli import main

    graph = tmp_path / "graph.yaml"
    graph.write_text(textwrap.dedent(RETAIL) + "context: {authenticated: false}\n", encoding="utf-8")
    for fmt in ("mermaid", "dot", "html"):
        out = tmp_path / f"drawing.{fmt}"
        assert main(["graph", str(graph), "--format", fmt, "-o", str(out)]) == 0
        assert "auth" in out.read_text(encoding="utf-8")
    missing = tmp_path / "no" / "such" / "folder" / "drawing.mmd"
    assert main(["graph", str(graph), "-o", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {missing}" in err and "internal error" not in err


def test_cli_svg_without_graphviz_exits_1_with_the_hint(tmp_path: Path, monkeypatch, capsys) -> None:
    from engine.cli import main

    graph = tmp_path / "graph.yaml"
    graph.write_text(textwrap.dedent(RETAIL) + "context: {authenticated: false}\n", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["graph", str(graph), "--format", "svg"]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err


# --- the HTML page in a real browser: fits the window, labels inside their boxes, none overlapping --


def _fifty_agents(tmp_path: Path) -> Document:
    """A generated 50-agent graph: each agent hands off to the next two and back to the first, with tools."""
    agents, tools = [], []
    for i in range(50):
        targets = sorted({f"agent_{(i + 1) % 50}", f"agent_{(i + 2) % 50}", "agent_0"} - {f"agent_{i}"})
        agents.append(
            f"  agent_{i}:\n    description: Agent number {i} of the generated graph.\n"
            f"    instructions: Help with topic {i}.\n    tools: [tool_{i}]\n    handoffs: [{', '.join(targets)}]\n"
        )
        tools.append(
            f"  tool_{i}:\n    description: Look up record {i}.\n"
            f"    parameters: {{type: object, properties: {{}}, additionalProperties: false}}\n"
            f"    returns: {{ok: true}}\n"
        )
    text = "graph: fifty\nstart: agent_0\nagents:\n" + "".join(agents) + "tools:\n" + "".join(tools)
    return _load(tmp_path, text, "fifty.yaml")


_LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const svg = document.querySelector("#drawing svg");
  const frame = document.getElementById("drawing").getBoundingClientRect();
  const content = svg.querySelector("g").getBoundingClientRect();
  if (content.left < frame.left - 1 || content.right > frame.right + 1 || content.top < frame.top - 1
      || content.bottom > frame.bottom + 1) problems.push("the drawing does not fit the window");
  const boxes = [];
  for (const node of svg.querySelectorAll("g.node")) {
    const shape = node.querySelector("polygon, path, rect, ellipse").getBoundingClientRect();
    for (const text of node.querySelectorAll("text")) {
      const r = text.getBoundingClientRect();
      if (r.left < shape.left - 0.5 || r.right > shape.right + 0.5)
        problems.push(`label '${text.textContent}' overflows its box`);
      boxes.push([node.id, text.textContent, r]);
    }
  }
  for (const edge of svg.querySelectorAll("g.edge")) {
    for (const text of edge.querySelectorAll("text")) boxes.push([edge.id, text.textContent, text.getBoundingClientRect()]);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ta, r] = boxes[i], [b, tb, s] = boxes[j];
    if (a === b) continue;
    const dx = Math.min(r.right, s.right) - Math.max(r.left, s.left);
    const dy = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
    if (dx > 1 && dy > 1) problems.push(`'${ta}' (${a}) overlaps '${tb}' (${b})`);
  }
  return problems;
}"""


@needs_dot
def test_the_html_page_fits_the_window_with_every_label_readable(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    root = TESTS.parent
    docs = [load_document(p) for p in sorted((root / "graphs").glob("*.yaml")) if ".tests." not in p.name]
    docs.append(_fifty_agents(tmp_path))
    shots = root / ".cache" / "screenshots"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for doc in docs:
            html = tmp_path / f"{doc.spec.graph}.html"
            html.write_text(render(doc, build_graph(doc), "html"), encoding="utf-8")
            page.goto(html.as_uri())
            problems = page.evaluate(_LAYOUT_PROBLEMS)
            if problems or errors:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"graph-{doc.spec.graph}.png"))
            assert not errors, errors
            assert problems == [], f"{doc.spec.graph}: {problems[:10]}"
            # Zoom and pan move the drawing; Fit brings it back.
            before = page.get_attribute("#drawing svg", "viewBox")
            page.click("#zoom-in")
            assert page.get_attribute("#drawing svg", "viewBox") != before
            page.click("#fit")
            assert page.get_attribute("#drawing svg", "viewBox") == before
        browser.close()
