"""The response sequencer on its own: no sockets, no event loop. Each input moves the phase along a
checked transition and says what to send now."""

from __future__ import annotations

import itertools

import pytest

from engine.runtime.sequencer import Phase, ResponseSequencer, SequencerError


@pytest.fixture
def seq() -> ResponseSequencer:
    ids = itertools.count(1)
    return ResponseSequencer(new_id=lambda: f"ev{next(ids)}")


def test_request_created_done(seq):
    assert seq.idle
    assert seq.request() == {"type": "response.create", "event_id": "ev1"}
    assert seq.phase is Phase.REQUESTED and not seq.idle
    assert seq.created("resp_1") is None
    assert seq.phase is Phase.ACTIVE and seq.response_id == "resp_1"
    assert seq.done() is None
    assert seq.idle and seq.response_id is None


def test_requests_while_one_is_under_way_merge_into_one_sent_at_done(seq):
    seq.request()
    assert seq.request() is None and seq.request() is None  # requested: both wait, merged
    seq.created("r1")
    assert seq.request() is None  # active: still one waiting
    assert seq.done() == {"type": "response.create", "event_id": "ev2"}
    assert seq.phase is Phase.REQUESTED and not seq.wanted
    seq.created("r2")
    assert seq.done() is None and seq.idle


def test_a_response_the_server_starts_itself(seq):
    assert seq.created("vad") is None  # turn detection: created from idle
    assert seq.active and seq.request() is None
    assert seq.done() is not None  # the request made meanwhile goes out now


def test_refused_create_is_not_waited_for(seq):
    seq.request()
    assert seq.refused("someone-else") is None and seq.phase is Phase.REQUESTED  # not ours
    assert seq.refused(None) is None and seq.phase is Phase.REQUESTED
    assert seq.refused("ev1") is None and seq.idle


def test_refused_create_with_one_waiting_sends_the_waiting_one(seq):
    seq.request()
    seq.request()
    assert seq.refused("ev1") == {"type": "response.create", "event_id": "ev2"}
    assert seq.refused("ev1") is None  # the old id no longer matches


def test_already_active_is_retried_after_done(seq):
    seq.request()
    seq.already_active()
    assert seq.active and seq.wanted
    seq.created("theirs")
    assert seq.done() == {"type": "response.create", "event_id": "ev2"}


def test_interrupt_while_active_cancels_and_drops_the_waiting_request(seq):
    seq.request()
    seq.created("r1")
    seq.request()
    assert seq.interrupt() == {"type": "response.cancel"}
    assert seq.done() is None and seq.idle


def test_interrupt_before_created_cancels_once_it_starts(seq):
    seq.request()
    assert seq.interrupt() is None and seq.cancel_on_create
    assert seq.created("r1") == {"type": "response.cancel"}
    assert not seq.cancel_on_create
    assert seq.interrupt() == {"type": "response.cancel"}  # still active until its done


def test_interrupt_when_idle_does_nothing(seq):
    assert seq.interrupt() is None and seq.idle


def test_a_drop_mid_response_asks_again_after_the_restore(seq):
    seq.request()
    seq.created("r1")
    seq.dropped()
    assert seq.phase is Phase.OFFLINE and not seq.idle
    assert seq.request() is None  # offline: remembered, not sent
    assert seq.created("late") is None and seq.phase is Phase.OFFLINE  # a late frame of the old link
    assert seq.done() is None and seq.phase is Phase.OFFLINE
    assert seq.restored(turn_open=False) == {"type": "response.create", "event_id": "ev2"}


def test_a_drop_while_idle_asks_only_when_the_turn_was_left_open(seq):
    seq.dropped()
    assert seq.restored(turn_open=False) is None and seq.idle
    seq.dropped()
    assert seq.restored(turn_open=True) is not None


def test_restore_holds_while_a_tool_runs(seq):
    seq.request()
    seq.dropped()
    assert seq.restored(turn_open=True, hold=True) is None and seq.idle


def test_a_create_that_could_not_be_sent_is_asked_for_after_the_restore(seq):
    seq.request()
    seq.unsent()
    assert seq.phase is Phase.OFFLINE and seq.wanted
    seq.dropped()  # the listener notices the same drop
    assert seq.restored(turn_open=False) is not None


def test_a_drop_forgets_a_pending_cancel(seq):
    seq.request()
    seq.interrupt()
    seq.dropped()
    seq.restored(turn_open=False)
    assert seq.created("r2") is None  # the new response is not cancelled by the old interruption


def test_stray_done_changes_nothing(seq):
    assert seq.done() is None and seq.idle
    seq.request()
    assert seq.done() is None and seq.phase is Phase.REQUESTED


def test_transitions_are_checked(seq):
    with pytest.raises(SequencerError, match="idle -> idle"):
        seq.restored(turn_open=False)  # only an offline session is restored


def test_a_request_with_a_body_carries_it_to_the_create_that_goes_out(seq):
    seq.request()
    seq.created("r1")
    assert seq.request({"instructions": "Say goodbye."}) is None
    assert seq.done() == {"type": "response.create", "event_id": "ev2", "response": {"instructions": "Say goodbye."}}
    seq.created("r2")
    seq.done()
    assert "response" not in seq.request()  # used once
