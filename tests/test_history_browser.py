"""The call history page in a real browser (Debian's chromium): a console call with a handoff, found in
the history and replayed step by step over its graph; a call whose graph is gone, replayed without it.

Skipped where chromium or Playwright's Python package is missing. A failing test leaves a screenshot
in `.cache/screenshots/`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import needs_chromium, say, start, watched_page
from conftest import GRAPHS
from test_history import get, serving

playwright = pytest.importorskip("playwright.sync_api")
pytest_plugins = ["browser"]  # the server, browser and page fixtures
pytestmark = needs_chromium

LIT = "[...document.querySelectorAll('#graph .node.current')].map(n => n.id)"


def _lit(page) -> list[str]:
    return page.evaluate(LIT)


def _haiku_call(page) -> None:
    """A console call in which the greeter hands off to the haiku writer; then hang up."""
    start(page, "simple-handoff")
    page.wait_for_selector(".msg.assistant >> text=What can I do for you today?", timeout=10_000)
    say(page, "Could you write me a haiku about snow?")
    page.wait_for_selector(".msg.assistant >> text=footprints fill by dawn", timeout=10_000)
    page.click("#call")  # end the call
    page.wait_for_selector(".note >> text=call ended", timeout=5_000)


def test_a_console_call_with_a_handoff_is_replayed_over_its_graph(page) -> None:
    _haiku_call(page)
    page.wait_for_selector("#replay-link", timeout=5_000)  # the ended call links to its own replay
    replay = page.get_attribute("#replay-link", "href")

    page.click("header a.nav >> text=History")  # the console links to the history
    page.wait_for_selector("body[data-ready=true]")
    row = page.locator("#calls tr").first  # newest first: the call just made
    assert "simple-handoff" in row.inner_text() and "greeter → haiku_writer" in row.inner_text()
    assert "stopped by the caller" in row.inner_text()
    row.click()
    page.wait_for_url("**/calls/*")
    assert page.url.endswith(replay or "-"), (page.url, replay)
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#graph svg [id=a_greeter]")  # the scenario's graph, drawn by the viewer
    assert page.is_hidden("#graph-note")
    assert _lit(page) == [] and page.locator("#transcript .msg").count() == 0  # before the first step
    assert "haiku_writer" in page.inner_text("#facts") and "console" in page.inner_text("#facts")

    # Step through: the greeter is lit until the step after the handoff, then the haiku writer; the
    # edge is marked from the handoff on; the transcript grows with the steps.
    steps = page.evaluate("window.historyState.steps.map(s => [s.kind, s.type || null])")
    handoff = steps.index(["event", "handoff"])
    seen: list[tuple[list[str], bool, int]] = []
    while page.is_enabled("#next"):
        page.click("#next")
        edge = "taken" in (page.get_attribute("#graph [id=a_greeter__a_haiku_writer]", "class") or "").split()
        seen.append((_lit(page), edge, page.locator("#transcript .msg").count()))
    assert len(seen) == len(steps)
    assert [lit for lit, _, _ in seen[: handoff + 1]] == [["a_greeter"]] * (handoff + 1)
    assert [lit for lit, _, _ in seen[handoff + 1 :]] == [["a_haiku_writer"]] * (len(steps) - handoff - 1)
    assert [edge for _, edge, _ in seen] == [False] * handoff + [True] * (len(steps) - handoff)
    counts = [n for _, _, n in seen]
    assert counts == sorted(counts) and counts[-1] == page.evaluate("window.historyState.doc.transcript.length")
    assert "haiku_writer" in page.inner_text("#agent")
    assert page.locator(".msg.user >> text=haiku about snow").count() == 1
    assert page.locator(".msg.assistant >> text=footprints fill by dawn").count() == 1
    assert page.locator(".card.move >> text=handoff greeter → haiku_writer").count() == 1
    assert page.locator("#timeline li.current").count() == 1

    # Back to the start with the scrubber, then play it through.
    page.locator("#scrubber").fill("1")
    assert _lit(page) == ["a_greeter"] and page.locator("#transcript .msg").count() == 0
    assert page.locator(".msg.assistant >> text=footprints fill by dawn").count() == 0
    page.select_option("#speed", "4")
    page.click("#play")
    page.wait_for_function("window.historyState.pos === window.historyState.steps.length", timeout=15_000)
    assert _lit(page) == ["a_haiku_writer"]
    page.wait_for_selector("#play >> text=Play")  # it stops at the end
    page.wait_for_selector(".msg.assistant >> text=footprints fill by dawn")

    page.click("header a.nav >> text=Console")  # and back to the console
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_visible("#call")


def test_a_call_whose_graph_is_gone_is_replayed_over_the_agents_it_visited(browser, tmp_path: Path) -> None:
    folder, db = tmp_path / "graphs", tmp_path / "calls.db"
    folder.mkdir()
    graph = folder / "simple_handoff.yaml"
    graph.write_text((GRAPHS / "simple_handoff.yaml").read_text())
    with watched_page(browser, "test_a_call_whose_graph_is_gone_is_replayed") as page:
        with serving([folder], db) as base:
            page.server = base
            _haiku_call(page)
            call_id = get(f"{base}/api/calls")[1]["calls"][0]["id"]
        graph.unlink()
        with serving([GRAPHS / "chat_supervisor.yaml"], db) as base:
            page.goto(f"{base}/calls")
            page.wait_for_selector("body[data-ready=true]")
            assert "graph not served" in page.inner_text(f"#calls tr[data-id='{call_id}']")
            page.goto(f"{base}/calls/{call_id}")
            page.wait_for_selector("body[data-ready=true]")
            assert page.is_visible("#graph-note")
            assert "is not served here any more" in page.inner_text("#graph-note")
            assert page.locator("#graph svg").count() == 0
            stops = page.locator("#graph .visited .stop")
            assert stops.all_inner_texts() == ["greeter", "haiku_writer"]
            current = "[...document.querySelectorAll('#graph .stop.current')].map(n => n.dataset.agent)"
            agents = []
            while page.is_enabled("#next"):
                page.click("#next")
                agents.append(page.evaluate(current))
            assert agents[0] == ["greeter"] and agents[-1] == ["haiku_writer"]
            assert page.locator(".msg.assistant >> text=footprints fill by dawn").count() == 1
