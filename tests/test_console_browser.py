"""The console in a real browser: Debian's chromium, a WAV file as its microphone, an offline `engine serve`.

Skipped where chromium or Playwright's Python package is missing (`.ci/run` installs both). A failing
test leaves a screenshot in `.cache/screenshots/`.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from browser import needs_chromium, say, start, watched_page
from serving import engine_serve

playwright = pytest.importorskip("playwright.sync_api")
pytest_plugins = ["browser"]  # the server, browser and page fixtures
pytestmark = needs_chromium


def _state(page) -> dict:
    return page.evaluate(
        """() => { const s = window.consoleState; return {
            agent: s.agent, chunks: s.audioChunks, played: s.player ? s.player.playedTotal : null,
            mic: s.micFrames, cut: s.lastTruncation, log: s.log.length }; }"""
    )


def test_a_call_on_the_simulator_hands_off_lights_the_graph_and_plays_audio(page) -> None:
    start(page, "simple-handoff")
    assert page.is_visible("#badge"), "offline calls show the simulator badge"
    page.wait_for_selector(".msg.assistant >> text=What can I do for you today?", timeout=10_000)
    assert page.get_attribute("#graph [id=a_greeter]", "class").split().count("current") == 1

    say(page, "Could you write me a haiku about snow?")
    page.wait_for_selector(".msg.user >> text=haiku about snow", timeout=5_000)
    page.wait_for_selector(".msg.assistant >> text=footprints fill by dawn", timeout=10_000)
    page.wait_for_selector("#graph [id=a_haiku_writer].current", timeout=5_000)
    assert "current" not in page.get_attribute("#graph [id=a_greeter]", "class").split()
    assert "taken" in page.get_attribute("#graph [id=a_greeter__a_haiku_writer]", "class").split()
    assert "haiku_writer" in page.inner_text("#agent")
    assert page.locator(".card.move >> text=handoff greeter → haiku_writer").count() == 1

    # The agent's audio arrived and played (the page's clock advanced through it), and the
    # microphone (the WAV) streamed to the server.
    page.wait_for_function("window.consoleState.player.playedTotal > 500", timeout=10_000)
    state = _state(page)
    assert state["chunks"] > 0
    assert state["mic"] > 10
    # Every realtime event is in the log: the handoff's session.update went out on the wire.
    page.fill("#filter", "session.update")
    visible = page.locator("#log .entry:not(.hidden)")
    assert visible.count() >= 2
    assert all(t.startswith("session.update") for t in visible.locator(".kind").all_inner_texts())
    visible.first.locator("summary").click()
    payload = json.loads(visible.first.locator("pre").inner_text())
    assert payload["type"] == "session.update" and "instructions" in payload["session"]


def test_speaking_over_the_agent_cuts_its_audio_and_the_demo_goes_on(page) -> None:
    start(page, "simple-handoff", muted=False)
    # The WAV speaks over the greeting: the simulator hears it (turn detection on the signal), the
    # engine cuts the greeting where the page had played it, and the spoken turn is the demo's next.
    page.wait_for_selector(".msg.assistant .cut", timeout=15_000)
    cut = _state(page)["cut"]
    assert cut is not None and cut["played_ms"] > 0
    kinds = page.evaluate("window.consoleState.log.map(e => e.kind)")
    assert "input_audio_buffer.speech_started" in kinds and "speech_started" in kinds
    page.wait_for_selector(".msg.user >> text=haiku about snow", timeout=15_000)  # the transcript of the turn
    page.wait_for_selector("#graph [id=a_haiku_writer].current", timeout=15_000)
    truncates = page.evaluate(
        "window.consoleState.log.filter(e => e.kind === 'conversation.item.truncate').map(e => e.payload)"
    )
    assert cut["played_ms"] in [t["audio_end_ms"] for t in truncates if t["item_id"] == cut["item_id"]]


def test_typing_over_the_agent_cuts_its_audio_at_what_was_heard(page) -> None:
    start(page, "simple-handoff")
    page.wait_for_selector(".msg.assistant >> text=What can I do for you today?", timeout=10_000)
    page.wait_for_function("!window.consoleState.player.playing()", timeout=10_000)  # the greeting is heard whole
    say(page, "Could you write me a haiku about snow?")
    # Barge in while the haiku is still being heard.
    page.wait_for_function(
        "window.consoleState.player.playing() && window.consoleState.player.playedTotal > 300", timeout=10_000
    )
    say(page, "Actually, never mind.")
    page.wait_for_selector(".msg .cut", timeout=5_000)
    cut = _state(page)["cut"]
    assert cut is not None and cut["played_ms"] > 0
    # The server's truncate says the same millisecond the page reported, less than the item's length;
    # the replies queued behind it were not heard at all. The log shows the truncate as sent.
    truncates = page.evaluate(
        "window.consoleState.log.filter(e => e.kind === 'conversation.item.truncate').map(e => e.payload)"
    )
    heard = [t for t in truncates if t["item_id"] == cut["item_id"]]
    assert [t["audio_end_ms"] for t in heard] == [cut["played_ms"]]
    assert all(t["audio_end_ms"] == 0 for t in truncates if t["item_id"] != cut["item_id"])
    received = page.evaluate(f"window.consoleState.player.items.get({json.dumps(cut['item_id'])}).ms")
    assert cut["played_ms"] < received
    page.fill("#filter", "conversation.item.truncate")
    assert page.locator("#log .entry.client:not(.hidden)").count() == len(truncates)


def test_a_tool_call_shows_its_arguments_result_timing_and_escalation_steps(page) -> None:
    start(page, "chat-supervisor", codec="g711_ulaw")
    page.wait_for_selector(".msg.assistant >> text=How can I help you today?", timeout=10_000)
    for line in (
        "Hi. My bill this month is way higher than usual, and I don't get why.",
        "It's (415) 555-0142.",
        "Yep.",
    ):
        count = page.locator(".msg.assistant").count()
        say(page, line)
        page.wait_for_function(f"document.querySelectorAll('.msg.assistant').length > {count}", timeout=10_000)
    card = page.locator(".card.escalation").first
    card.wait_for(timeout=15_000)
    text = card.inner_text()
    assert "get_next_response_from_supervisor" in text
    assert "get_user_account_info" in text  # the supervisor's own tool call, as a step
    assert "✓" in text and " ms" in text
    assert page.inner_text("#status").startswith("in call · g711_ulaw 8 kHz")
    page.wait_for_function("window.consoleState.player.playedTotal > 0", timeout=10_000)


def test_two_tabs_are_two_calls_and_the_call_downloads(page, browser, server: str) -> None:
    other = browser.new_page()
    other.server = server
    try:
        start(page, "simple-handoff")
        start(other, "simple-handoff")
        ids = [p.evaluate("window.consoleState.call.id") for p in (page, other)]
        assert ids[0] != ids[1]
        say(other, "Could you write me a haiku about snow?")
        other.wait_for_selector(".msg.assistant >> text=footprints fill by dawn", timeout=10_000)
        assert page.locator(".msg.user").count() == 0  # the first tab's call heard nothing of it
        health = json.loads(other.evaluate("fetch('/healthz').then(r => r.text())"))
        assert health["calls"] == 2
    finally:
        other.close()
    with page.expect_download() as info:
        page.click("#download-events")
    events = json.loads(Path(info.value.path()).read_text())
    assert any(e["kind"] == "ready" for e in events)
    page.click("#call")  # end the call
    page.wait_for_selector(".note >> text=call ended", timeout=5_000)
    with page.expect_download() as info:
        page.click("#download-audio")
    with wave.open(str(info.value.path())) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 24000 and wav.getnframes() > 0


def test_push_to_talk_sends_the_microphone_only_while_held(page) -> None:
    start(page, "simple-handoff", muted=False, mode="ptt")
    page.wait_for_selector(".msg.assistant >> text=What can I do for you today?", timeout=10_000)
    assert page.is_enabled("#ptt")
    page.wait_for_timeout(800)
    assert _state(page)["mic"] == 0  # the WAV is playing into the page, and nothing is sent
    box = page.locator("#ptt").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(3_500)  # hold over the WAV's speech
    page.mouse.up()
    sent = _state(page)["mic"]
    assert 0 < sent < 200  # 20 ms frames while held (fewer when the machine is busy), none before or after
    committed = "window.consoleState.log.some(e => e.kind === 'input_audio_buffer.commit')"
    page.wait_for_function(committed, timeout=10_000)  # the wire log reaches the page a moment later
    kinds = page.evaluate("window.consoleState.log.map(e => e.kind)")
    assert "input_audio_buffer.clear" in kinds and "input_audio_buffer.commit" in kinds
    assert "input_audio_buffer.speech_started" not in kinds  # no turn detection: the button is the turn
    page.wait_for_selector(".msg.user >> text=haiku about snow", timeout=10_000)
    page.wait_for_selector("#graph [id=a_haiku_writer].current", timeout=10_000)
    assert _state(page)["mic"] == sent


DESK = """\
graph: desk
description: A help desk whose refunds need a person's approval and whose replies are moderated.
start: clerk
agents:
  clerk:
    description: Helps with orders.
    instructions: Help the caller with their order. Stay on topic.
    tools: [refund]
tools:
  refund:
    description: Refund an order.
    parameters:
      type: object
      properties:
        order: {type: string}
      required: [order]
      additionalProperties: false
    needs_approval: true
    returns: {refunded: "{{ args.order }}"}
guardrails:
  moderation:
    classify:
      model: gpt-5.4-mini
      categories:
        OFF_BRAND: Talk about competitors or anything outside this store's service.
    every_chars: 60
demo:
  turns:
    - model:
        - say: Hello, how can I help?
    - user: Please refund order A1.
      model:
        - call: refund
          args: {order: A1}
        - say: Your refund for order A1 is on its way.
    - user: What do you think of your competitors?
      model:
        - say: Honestly our competitor down the road sells terrible boards and overcharges everyone who walks in.
          flag: OFF_BRAND
"""


def test_an_approval_is_a_button_and_a_guardrail_trip_is_shown(browser, tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    with (
        engine_serve(tmp_path, "--simulate", db=tmp_path / "calls.db") as served,
        watched_page(browser, "test_an_approval_is_a_button_and_a_guardrail_trip_is_shown") as page,
    ):
        page.server = served.url + "/"
        start(page, "desk")
        page.wait_for_selector(".msg.assistant >> text=how can I help", timeout=10_000)
        say(page, "Please refund order A1.")
        approval = page.locator(".approval")
        approval.wait_for(timeout=10_000)
        assert "refund" in approval.inner_text() and '"order": "A1"' in approval.inner_text()
        page.wait_for_timeout(500)
        assert page.locator(".card.tool.escalation, .card.tool .result").count() == 0  # it waits for the person
        approval.locator("button.approve").click()
        page.wait_for_selector(".card.tool .result >> text=refunded", timeout=10_000)
        page.wait_for_selector(".msg.assistant >> text=refund for order A1 is on its way", timeout=10_000)
        say(page, "What do you think of your competitors?")
        trip = page.locator(".card.guardrail")
        trip.wait_for(timeout=10_000)
        assert "moderation" in trip.inner_text() and "OFF_BRAND" in trip.inner_text()
