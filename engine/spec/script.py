"""Scripted conversations: user turns and the model's actions.

The simulator plays the model side of a script (`engine run` replays a graph's `demo`), and
conversation tests extend the same turns with expectations. A turn's `model` actions run in
order across as many responses as they need: a response streams consecutive `say` actions and
ends at a `call` or `handoff`, whose output the engine sends back before the next response.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Say(_Strict):
    say: str = Field(description="what the model says (audio and transcript)")
    flag: str | None = Field(None, description="the category a classifier guardrail reports for this text")


class SupervisorCall(_Strict):
    call: str
    args: dict[str, Any] = Field(default_factory=dict)


class SupervisorAnswer(_Strict):
    answer: str | dict[str, Any] = Field(description="the text model's final answer (text or structured)")


def _kind(data: Any, keys: tuple[str, ...]) -> str | None:
    if isinstance(data, dict):
        return next((k for k in keys if k in data), None)
    return next((k for k in keys if hasattr(data, k)), None)


SupervisorStep = Annotated[
    Annotated[SupervisorCall, Tag("call")] | Annotated[SupervisorAnswer, Tag("answer")],
    Discriminator(
        lambda d: _kind(d, ("call", "answer")),
        custom_error_type="supervisor_step",
        custom_error_message="a supervisor step is either {call: tool, args: {...}} or {answer: ...}",
    ),
]


class Call(_Strict):
    call: str = Field(description="the tool the model calls")
    args: dict[str, Any] = Field(default_factory=dict)
    supervisor: list[SupervisorStep] | None = Field(
        None, description="for an escalation: the text model's tool calls, then its answer"
    )


class Handoff(_Strict):
    handoff: str = Field(description="the agent the model transfers to")


class Transition(_Strict):
    transition: str = Field(description="the state (or `handoff:<agent>`) the model asks to move to")
    reason: str = ""


TRANSITION_TOOL = "transition_state"
"""The tool an agent with an enforced state machine calls to move (its `to` is an enum)."""

ModelAction = Annotated[
    Annotated[Say, Tag("say")]
    | Annotated[Call, Tag("call")]
    | Annotated[Handoff, Tag("handoff")]
    | Annotated[Transition, Tag("transition")],
    Discriminator(
        lambda d: _kind(d, ("say", "call", "handoff", "transition")),
        custom_error_type="model_action",
        custom_error_message="a model action is one of {say: ...}, {call: tool, args: {...}}, {handoff: agent}, "
        "{transition: state}",
    ),
]


class ToolExpectation(_Strict):
    name: str
    args: dict[str, Any] | None = Field(None, description="these arguments, among others")
    output: Any = Field(None, description="a dict the output contains, or text it contains")
    ok: bool | None = None
    calls: list[str | ToolExpectation] | None = Field(
        None, description="for an escalation: the tools its text model called, in order; `[]`: none"
    )


class Expect(_Strict):
    """What must hold after a turn. Dicts match as subsets; context values exactly, other text as a substring."""

    agent: str | None = None
    state: str | None = None
    context: dict[str, Any] | None = None
    tools: list[str | ToolExpectation] | None = Field(
        None, description="tools run during the turn, in order (others may run between); `[]`: none ran"
    )
    guardrail: str | None = Field(None, description="a guardrail tripped: `name` or `name:CATEGORY`")
    approval: str | None = Field(None, description="approval was requested for this tool")
    verdict: Any = Field(None, description="the last escalation's answer (dict subset or text)")
    refused: str | None = Field(None, description="a transition or handoff refused: `state` or `handoff:agent`")
    says: str | None = Field(None, description="text the assistant said during the turn (offline only: wording varies)")
    ended: Literal["transferred", "hangup"] | None = Field(
        None, description="the call ended during the turn: transferred to a person, or hung up by the agent"
    )
    transferred_to: str | None = Field(None, description="the number or SIP URI the call was transferred to")


class Turn(_Strict):
    user: str | None = Field(None, description="what the user says; omitted for a turn the model opens")
    model: list[ModelAction] = Field(default_factory=list)
    expect: Expect | None = None


class Script(_Strict):
    agent: str | None = Field(None, description="starting agent (default: the graph's start)")
    state: str | None = Field(None, description="starting state of the agent's enforced state machine")
    context: dict[str, Any] = Field(default_factory=dict, description="context values set before the first turn")
    approve: Literal["auto", "deny"] = Field("auto", description="how approval requests are answered")
    turns: list[Turn] = Field(min_length=1)


class ConversationTest(Script):
    name: str


class ConversationTestFile(_Strict):
    """A sibling `<graph>.tests.yaml`: conversation tests for the graph beside it."""

    graph: str | None = Field(None, description="the graph file (default: the name without `.tests`)")
    root: str | None = Field(None, description="the folder (relative to this file) files it includes must lie in")
    tests: list[ConversationTest] = Field(min_length=1)
