"""Pydantic models of the graph file. Unknown keys are refused at every depth.

Session settings use the Realtime API's own field names (GA `session.update`), so what an author
writes is what the API receives; `extra` is the raw escape hatch merged last.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from .script import ConversationTest, Script


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# Numbers are numbers: YAML's `yes`/`true` is not 1, and "5" in quotes is not 5 (YAML types numbers itself).
StrictInt = Annotated[int, Field(strict=True)]
StrictFloat = Annotated[float, Field(strict=True)]


_DURATION = r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*"
_DURATION_ERROR = "a duration is a number of seconds or a string like '5s', '500ms', '2m'"


def _seconds(value: Any) -> Any:
    """Durations: a number of seconds, or a string such as `5s`, `500ms`, `2m`."""
    if isinstance(value, bool):
        raise ValueError(_DURATION_ERROR)
    if isinstance(value, str):
        m = re.fullmatch(_DURATION, value)
        if not m:
            raise ValueError(_DURATION_ERROR)
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
        return float(m.group(1)) * scale
    return value


def _as_list(value: Any) -> Any:
    """One string where a list of strings is expected is a list of one."""
    return [value] if isinstance(value, str) else value


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


# The JSON Schema says what the validators accept, so editors do not flag valid files.
Duration = Annotated[
    float,
    BeforeValidator(_seconds),
    Field(gt=0, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": f"^{_DURATION}$"}],
            "examples": ["5s"],
        }
    ),
]
_STRINGS_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
Strings = Annotated[list[str], BeforeValidator(_as_list), WithJsonSchema(_STRINGS_SCHEMA)]
Patterns = Annotated[
    list[Annotated[str, AfterValidator(_compiles)]], BeforeValidator(_as_list), WithJsonSchema(_STRINGS_SCHEMA)
]
AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
JsonSchema = dict[str, Any]


# --- session defaults (API field names) -------------------------------------------------------


class Transcription(Strict):
    model: str = "gpt-transcribe"
    language: str | None = Field(None, description="the input's language (ISO-639-1, such as `en`)")
    languages: list[str] | None = Field(
        None, description="the languages the input may be in (ISO-639-1); gpt-transcribe and gpt-live-transcribe"
    )
    keywords: list[str] | None = Field(
        None, description="words or phrases to guide transcription; gpt-transcribe and gpt-live-transcribe"
    )
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None = Field(
        None, description="how long to wait before emitting text (accuracy vs latency); gpt-realtime-whisper only"
    )
    prompt: str | None = None


class NoiseReduction(Strict):
    type: Literal["near_field", "far_field"]


class SemanticVad(Strict):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


class ServerVad(Strict):
    type: Literal["server_vad"]
    threshold: StrictFloat | None = Field(None, ge=0, le=1)
    prefix_padding_ms: StrictInt | None = Field(None, ge=0)
    silence_duration_ms: StrictInt | None = Field(None, ge=0)
    idle_timeout_ms: StrictInt | None = Field(None, ge=5000, le=30000)
    create_response: bool | None = None
    interrupt_response: bool | None = None


TurnDetection = Annotated[SemanticVad | ServerVad, Field(discriminator="type")]


class AudioInput(Strict):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = Field(
        None, description="null turns voice activity detection off (push-to-talk)"
    )


class AudioOutput(Strict):
    format: AudioFormat | None = None
    voice: str | None = None
    speed: StrictFloat | None = Field(None, ge=0.25, le=1.5)


class Audio(Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class Tracing(Strict):
    workflow_name: str | None = None
    group_id: str | None = None
    metadata: dict[str, Any] | None = None


class PromptRef(Strict):
    id: str
    version: str | None = None
    variables: dict[str, str] | None = None


class Reasoning(Strict):
    effort: Literal["minimal", "low", "medium", "high", "xhigh"] | None = Field(
        None, description="reasoning effort of reasoning Realtime models (such as gpt-realtime-2)"
    )


class TokenLimits(Strict):
    post_instructions: StrictInt | None = Field(
        None, ge=1, description="tokens allowed after the instructions (tools included) before truncating"
    )


class RetentionRatio(Strict):
    type: Literal["retention_ratio"]
    retention_ratio: StrictFloat = Field(ge=0, le=1, description="the fraction of the conversation kept")
    token_limits: TokenLimits | None = None


Truncation = Literal["auto", "disabled"] | RetentionRatio


class FunctionChoice(Strict):
    type: Literal["function"]
    name: str


class Session(Strict):
    """Defaults for every agent's `session.update`; an agent's own `session` overrides them."""

    output_modalities: list[Literal["text", "audio"]] | None = Field(None, min_length=1, max_length=1)
    audio: Audio | None = None
    tool_choice: Literal["auto", "none", "required"] | FunctionChoice | None = None
    max_output_tokens: Annotated[StrictInt, Field(ge=1, le=4096)] | Literal["inf"] | None = None
    reasoning: Reasoning | None = None
    parallel_tool_calls: bool | None = Field(None, description="whether the model may call tools in parallel")
    truncation: Truncation | None = Field(
        None,
        description="what happens when the conversation outgrows the context: auto, disabled, or a retention ratio",
    )
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = Field(
        None, description="additional fields in server events"
    )
    tracing: Literal["auto"] | Tracing | None = None
    prompt: PromptRef | None = None
    extra: dict[str, Any] | None = Field(None, description="merged last into the session object, as is")


# --- agents -------------------------------------------------------------------------------------


class Transition(Strict):
    to: str = Field(description="a state of this agent, or `handoff:<agent>`")
    when: str = Field(description="the condition, in words, for the model")
    guard: str | None = Field(None, description="a Jinja2 expression over `context`, enforced by the engine")

    @property
    def handoff(self) -> str | None:
        return self.to.removeprefix("handoff:") if self.to.startswith("handoff:") else None


class Step(Strict):
    description: str = ""
    instructions: Strings = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list, description="tools offered in this state when enforced")
    transitions: list[Transition] = Field(default_factory=list)


class StateMachine(Strict):
    enforce: bool = Field(False, description="false: a plan in the prompt; true: tracked and enforced")
    initial: str
    steps: dict[str, Step] = Field(min_length=1)


class Handoff(Strict):
    agent: str
    description: str | None = Field(None, description="overrides the target agent's description")


class Agent(Strict):
    description: str = Field("", description="what the agent does; used for its handoff tool")
    instructions: str | None = Field(None, description="Jinja2 template over the context")
    instructions_file: str | None = Field(None, description="path to a Jinja2 template, relative to the graph")
    voice: str | None = None
    session: Session | None = None
    tools: list[str] = Field(default_factory=list)
    handoffs: list[str | Handoff] = Field(default_factory=list)
    guardrails: list[str] | None = Field(None, description="omitted: every guardrail of the graph")
    states: StateMachine | None = None

    @model_validator(mode="after")
    def _one_instructions(self) -> Agent:
        if self.instructions is not None and self.instructions_file is not None:
            raise ValueError("give either 'instructions' or 'instructions_file', not both")
        return self

    def handoff_targets(self) -> list[Handoff]:
        return [Handoff(agent=h) if isinstance(h, str) else h for h in self.handoffs]


# --- tools ---------------------------------------------------------------------------------------


class EnvValue(Strict):
    env: str = Field(description="name of the environment variable")
    prefix: str = ""


class HttpCall(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(description="Jinja2 template over `args` and `context`")
    headers: dict[str, str | EnvValue] = Field(default_factory=dict)


class HistoryWindow(Strict):
    last: StrictInt = Field(10, ge=1)


class Escalation(Strict):
    model: str
    instructions: str | None = None
    instructions_file: str | None = None
    history: HistoryWindow = Field(default_factory=HistoryWindow)
    tools: list[str] = Field(default_factory=list, description="tools the text model may call")
    output: Literal["text"] | JsonSchema = "text"
    max_tool_rounds: StrictInt = Field(8, ge=1)


class McpServer(Strict):
    label: str
    url: str
    description: str | None = None
    allowed_tools: list[str] | None = None
    require_approval: Literal["always", "never"] = "never"
    headers: dict[str, str | EnvValue] = Field(default_factory=dict)


#: Where a call can be transferred: an E.164 number or a SIP / tel URI.
TRANSFER_TARGET = re.compile(r"^(\+[1-9][0-9]{6,14}|(sips?|tel):\S+)$")


class Transfer(Strict):
    """Hand the call to a person: the caller hears `message`, then the call is referred (SIP) or
    redirected (Twilio) to `to`; the model writes a summary for the person as the tool's argument."""

    to: str = Field(description="an E.164 number (+15550100) or a sip:/tel: URI; Jinja2 over the context")
    message: str | None = Field(None, description="said to the caller before the transfer")

    @model_validator(mode="after")
    def _a_phone_address(self) -> Transfer:
        if "{{" not in self.to and not TRANSFER_TARGET.match(self.to):
            raise ValueError(f"'to' must be an E.164 number (+15550100) or a sip:/sips:/tel: URI, not {self.to!r}")
        return self


class EndCall(Strict):
    """Hang up once the goodbye (the model's, or `message`) has finished playing."""

    message: str | None = Field(None, description="said to the caller before hanging up")


class Dtmf(Strict):
    """Send touch-tone digits on the call (where the line can); the model gives them unless fixed here."""

    digits: str | None = Field(None, pattern=r"^[0-9*#A-Dw]{1,64}$", description="fixed digits (w: a pause)")


#: Tools the session carries out on the call itself (not in the toolbox).
CALL_CONTROL_KINDS = ("transfer", "end_call", "dtmf")
_CALL_CONTROL_PARAMETERS: dict[str, dict[str, Any]] = {
    "transfer": {
        "type": "object",
        "properties": {"summary": {"type": "string", "description": "what the person taking the call should know"}},
        "required": ["summary"],
        "additionalProperties": False,
    },
    "end_call": {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "why the call ends, in a few words"}},
        "additionalProperties": False,
    },
    "dtmf": {
        "type": "object",
        "properties": {"digits": {"type": "string", "pattern": "^[0-9*#A-Dw]{1,64}$", "description": "the digits"}},
        "required": ["digits"],
        "additionalProperties": False,
    },
}
_CALL_CONTROL_DESCRIPTIONS = {
    "transfer": "Transfer the caller to a person. Give a short summary of the call for them.",
    "end_call": "End the call, once the caller has nothing more to ask and you have said goodbye.",
    "dtmf": "Send touch-tone digits on the line (for an automated menu on the other side).",
}

TOOL_KINDS = ("run", "returns", "http", "escalate", "mcp", *CALL_CONTROL_KINDS)
GUARDRAIL_KINDS = ("classify", "regex", "keywords", "run")


class Tool(Strict):
    description: str = ""
    parameters: JsonSchema = Field(default_factory=lambda: {"type": "object", "properties": {}})
    run: str | None = Field(None, description="`module:function`, resolved beside the graph file")
    returns: Any = Field(None, description="a static result; strings are Jinja2 over `args` and `context`")
    http: HttpCall | None = None
    escalate: Escalation | None = None
    mcp: McpServer | None = None
    transfer: Transfer | None = None
    end_call: EndCall | None = None
    dtmf: Dtmf | None = None
    needs_approval: bool = False
    timeout: Duration | None = None
    on_timeout: str | None = Field(None, description="the output the model gets when the tool times out")
    background: bool = Field(False, description="send the output without asking for a response")
    sets: dict[str, Any] | None = Field(None, description="context update applied on success")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Tool:
        given = [k for k in TOOL_KINDS if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"a tool has exactly one of {', '.join(TOOL_KINDS)}; got {', '.join(given) or 'none'}")
        kind = given[0]
        if kind in CALL_CONTROL_KINDS:
            # Their arguments are the engine's to define: what the call needs, nothing the author must write.
            if "parameters" not in self.model_fields_set:
                parameters = _CALL_CONTROL_PARAMETERS[kind]
                if kind == "dtmf" and self.dtmf is not None and self.dtmf.digits:
                    parameters = {"type": "object", "properties": {}, "additionalProperties": False}
                self.parameters = parameters
            if not self.description:
                self.description = _CALL_CONTROL_DESCRIPTIONS[kind]
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TOOL_KINDS if k in self.model_fields_set)


# --- guardrails ----------------------------------------------------------------------------------


#: The one model the Decisions endpoint takes (openai.types.DecisionCreateParams: "Only `gpt-6-luna`").
DECISIONS_MODEL = "gpt-6-luna"


class Classifier(Strict):
    model: str = Field(description=f"a Responses text model; with `via: decisions`, {DECISIONS_MODEL}")
    categories: dict[str, str] = Field(min_length=1, description="category name -> what it covers")
    instructions: str | None = None
    via: Literal["responses", "decisions"] = Field(
        "responses",
        description="`responses`: a structured Responses call; `decisions`: one choice question to the Decisions "
        "endpoint (fast, scored)",
    )
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="with `via: decisions`: the confidence a category needs to trip"
    )

    @model_validator(mode="after")
    def _decisions_model(self) -> Classifier:
        if self.via == "decisions" and self.model != DECISIONS_MODEL:
            raise ValueError(f"the Decisions endpoint takes only model '{DECISIONS_MODEL}', not '{self.model}'")
        return self


class Guardrail(Strict):
    classify: Classifier | None = None
    regex: Patterns | None = None
    keywords: Strings | None = None
    run: str | None = Field(None, description="`module:function(text, context)` returning a category or None")
    category: str = Field("BLOCKED", description="the category a regex or keyword match reports")
    every_chars: StrictInt = Field(100, ge=1, description="check the transcript every N characters, and at its end")
    message: str | None = Field(None, description="corrective instruction sent after a trip")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Guardrail:
        given = [k for k in GUARDRAIL_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a guardrail has exactly one of {', '.join(GUARDRAIL_KINDS)}; got {', '.join(given) or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in GUARDRAIL_KINDS if getattr(self, k) is not None)


# --- GPT-Live -------------------------------------------------------------------------------------


class LiveReasoning(Strict):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["concise", "detailed", "auto"] | None = None


class LiveBackend(Strict):
    """The text model that does the work of each agent when GPT-Live delegates (its Responses settings)."""

    model: str = Field("gpt-5.5", description="the Responses model that runs each agent's instructions and tools")
    reasoning: LiveReasoning | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    max_output_tokens: StrictInt | None = Field(None, ge=1)
    parallel_tool_calls: bool | None = None


class Live(Strict):
    """GPT-Live settings (`api: live`): the model, who does delegated work, and the backend."""

    model: str = Field("gpt-live-1.1", description="the GPT-Live model")
    delegation: Literal["client", "responses"] = Field(
        "client",
        description="`client`: the engine runs each agent (guards, states, escalations); "
        "`responses`: OpenAI runs a Responses backend swapped at each handoff",
    )
    acknowledgement_delay_ms: StrictInt | None = Field(
        None, ge=0, description="how long GPT-Live waits before a spoken acknowledgement of a delegation"
    )
    instructions: str | None = Field(
        None, description="the frontend persona (Jinja2 over the context); default: built from the graph"
    )
    backend: LiveBackend = Field(default_factory=LiveBackend)
    store: bool | None = Field(None, description="store the session for forking and recording download")


# --- the graph -----------------------------------------------------------------------------------


class GraphSpec(Strict):
    graph: str = Field(description="the scenario's name")
    description: str = ""
    model: str = Field("gpt-realtime-2.1", description="the realtime model of the session")
    provider: Literal["openai", "azure", "custom"] = Field(
        "openai",
        description="who serves the models: `openai` (names checked against the openai package), `azure` "
        "(deployment names) or `custom` (a compatible server); only `openai` warns about unknown model names",
    )
    root: str | None = Field(
        None, description="the folder (relative to this file, such as '..') files named here must lie in"
    )
    session: Session = Field(default_factory=Session)
    api: Literal["realtime", "live"] = Field("realtime", description="the voice API: Realtime or GPT-Live")
    live: Live = Field(default_factory=Live, description="GPT-Live settings, used with `api: live`")
    context: dict[str, Any] = Field(default_factory=dict, description="initial session context")
    start: str
    agents: dict[str, Agent] = Field(min_length=1)
    tools: dict[str, Tool] = Field(default_factory=dict)
    guardrails: dict[str, Guardrail] = Field(default_factory=dict)
    demo: Script | None = Field(None, description="the scripted conversation `engine run` replays offline")
    tests: list[ConversationTest] = Field(default_factory=list, description="conversation tests (`engine test`)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"title": "Realtime agent graph"})


def handoff_tool_name(agent_id: str) -> str:
    """The name of the generated tool that hands the conversation to `agent_id`."""
    return f"transfer_to_{agent_id}"
