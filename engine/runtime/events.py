"""Typed session events for frontends: what happened, in the engine's words, not the wire's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class AgentStart:
    agent: str
    state: str | None = None
    type: Literal["agent_start"] = "agent_start"


@dataclass(frozen=True, slots=True)
class AgentEnd:
    agent: str
    type: Literal["agent_end"] = "agent_end"


@dataclass(frozen=True, slots=True)
class HandoffEvent:
    source: str
    target: str
    type: Literal["handoff"] = "handoff"


@dataclass(frozen=True, slots=True)
class StateChanged:
    agent: str
    source: str
    target: str
    type: Literal["state_changed"] = "state_changed"


@dataclass(frozen=True, slots=True)
class TransitionRefused:
    agent: str
    source: str
    target: str
    reason: str
    type: Literal["transition_refused"] = "transition_refused"


@dataclass(frozen=True, slots=True)
class ToolStart:
    agent: str
    tool: str
    call_id: str
    arguments: str
    type: Literal["tool_start"] = "tool_start"


@dataclass(frozen=True, slots=True)
class ToolEnd:
    agent: str
    tool: str
    call_id: str
    output: str
    ok: bool
    steps: list[dict[str, Any]] = field(default_factory=list)
    type: Literal["tool_end"] = "tool_end"


@dataclass(frozen=True, slots=True)
class ApprovalRequested:
    """A `needs_approval` tool (or hosted MCP tool, named `label.tool`) waits for a decision.

    `policy` is set when the session's policy decided at once (`auto` approves, `deny` refuses);
    otherwise the session waits for `approve()`/`reject()` or its approval callable.
    """

    agent: str
    tool: str
    call_id: str
    arguments: str
    policy: Literal["auto", "deny"] | None = None
    type: Literal["approval_requested"] = "approval_requested"


@dataclass(frozen=True, slots=True)
class GuardrailTripped:
    agent: str
    guardrail: str
    category: str
    rationale: str
    text: str
    type: Literal["guardrail_tripped"] = "guardrail_tripped"


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    role: Literal["user", "assistant"]
    item_id: str
    delta: str
    done: bool = False
    type: Literal["transcript"] = "transcript"


@dataclass(slots=True)
class Audio:
    """Assistant audio. Unlike the other events it is not frozen: fifty are made a second per call,
    and a frozen dataclass costs three times as much to build. Subscribers share it: read only."""

    item_id: str
    data: str  # base64, as received: forwarded untouched
    type: Literal["audio"] = "audio"


@dataclass(frozen=True, slots=True)
class AudioInterrupted:
    item_id: str
    played_ms: int
    type: Literal["audio_interrupted"] = "audio_interrupted"


@dataclass(frozen=True, slots=True)
class HistoryUpdated:
    items: int
    type: Literal["history_updated"] = "history_updated"


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection dropped; the session reconnects with backoff (sends wait meanwhile)."""

    reason: str
    type: Literal["reconnecting"] = "reconnecting"


@dataclass(frozen=True, slots=True)
class Reconnected:
    attempt: int
    restored_items: int
    type: Literal["reconnected"] = "reconnected"


@dataclass(frozen=True, slots=True)
class Error:
    message: str
    code: str | None = None
    fatal: bool = False
    type: Literal["error"] = "error"


@dataclass(frozen=True, slots=True)
class Idle:
    """No response active or requested, no tool, approval or guardrail check pending."""

    type: Literal["idle"] = "idle"


@dataclass(frozen=True, slots=True)
class AudioStarted:
    """The first audio of an assistant item arrived (sent to every subscriber, audio or not)."""

    item_id: str
    type: Literal["audio_started"] = "audio_started"


@dataclass(frozen=True, slots=True)
class AudioDone:
    """All of an assistant item's audio has arrived (what was sent may still be playing)."""

    item_id: str
    type: Literal["audio_done"] = "audio_done"


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The server heard the user start speaking (input audio buffer); `audio_start_ms` on its timeline."""

    item_id: str
    audio_start_ms: int
    type: Literal["speech_started"] = "speech_started"


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int
    type: Literal["speech_stopped"] = "speech_stopped"


@dataclass(frozen=True, slots=True)
class AudioCommitted:
    """The input audio buffer became a user item (by turn detection or `commit_audio()`)."""

    item_id: str
    type: Literal["audio_committed"] = "audio_committed"


@dataclass(frozen=True, slots=True)
class InputTimeout:
    """Turn detection's idle timeout passed with no speech from the user."""

    type: Literal["input_timeout"] = "input_timeout"


@dataclass(frozen=True, slots=True)
class Usage:
    """A response's token usage, as the server reported it in `response.done`."""

    response_id: str
    usage: dict[str, Any]
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class Overflow:
    """This subscriber fell behind: `dropped` events were not delivered to it (others were unaffected)."""

    dropped: int
    type: Literal["overflow"] = "overflow"


@dataclass(frozen=True, slots=True)
class CallTransferred:
    """The call was handed to `to` (SIP refer, Twilio redirect, or the frontend's stand-in)."""

    agent: str
    to: str
    summary: str
    type: Literal["call_transferred"] = "call_transferred"


@dataclass(frozen=True, slots=True)
class DtmfSent:
    digits: str
    type: Literal["dtmf_sent"] = "dtmf_sent"


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over for the agent: `reason` is `hangup` (an end-call tool), `transferred`, or the
    frontend's (`caller_hung_up`, ...). The frontend closes the session."""

    reason: str
    type: Literal["call_ended"] = "call_ended"


SessionEvent = (
    AgentStart
    | AgentEnd
    | HandoffEvent
    | StateChanged
    | TransitionRefused
    | ToolStart
    | ToolEnd
    | ApprovalRequested
    | GuardrailTripped
    | TranscriptDelta
    | Audio
    | AudioInterrupted
    | HistoryUpdated
    | Reconnecting
    | Reconnected
    | Error
    | Idle
    | AudioStarted
    | AudioDone
    | SpeechStarted
    | SpeechStopped
    | AudioCommitted
    | InputTimeout
    | Usage
    | Overflow
    | CallTransferred
    | DtmfSent
    | CallEnded
)
