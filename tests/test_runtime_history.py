"""The conversation history and the playback clock: what is kept when a reply is cut or a connection drops."""

from __future__ import annotations

from engine.runtime import PlaybackClock
from engine.runtime.history import History


def test_a_cut_reply_keeps_what_was_heard_and_ignores_later_text():
    history = History()
    history.add_message("item_1", "assistant", "one two three four five six seven eight")
    history.truncate("item_1", 0.5)
    assert history.get("item_1")["text"] == "one two three four…"  # type: ignore[index]
    history.append_text("item_1", " nine")  # deltas still on the wire when the cut happened
    history.set_text("item_1", "one two three four five six seven eight nine")  # the transcript's end
    history.truncate("item_1", 0.25)  # cut again (a guardrail trip on the same item): stays as first cut
    assert history.get("item_1")["text"] == "one two three four…"  # type: ignore[index]


def test_restore_skips_calls_nobody_will_answer():
    history = History()
    history.add_message("item_1", "user", "find my order")
    history.add_call("item_2", "lookup", "call_done", '{"q": "1"}')
    history.set_output("call_done", '{"found": true}')
    history.add_call("item_3", "lookup", "call_running", '{"q": "2"}')
    history.add_call("item_4", "lookup", "call_cut_off", "")  # the drop came before it was complete
    restored = [e["item"] for e in history.restore_events(unanswered={"call_running"})]
    calls = [(i["type"], i.get("call_id")) for i in restored if i["type"] != "message"]
    assert calls == [
        ("function_call", "call_done"),
        ("function_call_output", "call_done"),
        ("function_call", "call_running"),
    ]


def test_a_cleared_clock_plays_nothing():
    now = [10.0]
    clock = PlaybackClock(clock=lambda: now[0])
    clock.received("item_1", 48 * 1000, 48.0)  # never finished: its connection dropped
    assert clock.audible() == ["item_1"]
    clock.clear()
    clock.received("item_2", 48 * 1000, 48.0)
    now[0] += 0.2
    assert clock.audible() == ["item_2"] and clock.played_ms("item_2") == 200
