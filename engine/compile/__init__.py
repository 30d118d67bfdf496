"""Stage 3 of the pipeline: the payloads of each agent (and enforced state) for each voice API.

Realtime: a GA `session.update` per agent and state. GPT-Live: one `session.start` plus per-agent
backend settings (`live`). `compile_for_api` picks by the graph's `api` or the caller's. Compiling
is pure and deterministic. `check_payload` validates any client event against the
`openai` package's types, importing `openai` only when called.
"""

from .common import CompileError, resolve_state
from .live import (
    APPEND_TOKEN_LIMIT,
    LIVE_AUDIO_FORMATS,
    compile_for_api,
    compile_live_all,
    compile_live_backend,
    compile_live_handoff,
    compile_live_start,
    estimate_tokens,
    frontend_instructions,
    live_api_findings,
    live_findings,
    live_rules,
)
from .openai_check import check_payload
from .prompts import compile_instructions, instructions_source, template_variables
from .session import (
    AUDIO_FORMATS,
    SessionCompiler,
    compile_all,
    compile_session,
    compile_tracing,
    deep_merge,
    session_settings,
)
from .templates import (
    TemplateProblem,
    TemplateRenderError,
    check_expression,
    check_template,
    render,
    render_expression,
)
from .tools import (
    HANDOFF_PARAMETERS,
    TRANSITION_TOOL,
    apply_mcp_headers,
    compile_tools,
    handoff_description,
    resolve_mcp_headers,
)

__all__ = [
    "APPEND_TOKEN_LIMIT",
    "AUDIO_FORMATS",
    "HANDOFF_PARAMETERS",
    "LIVE_AUDIO_FORMATS",
    "TRANSITION_TOOL",
    "CompileError",
    "SessionCompiler",
    "TemplateProblem",
    "TemplateRenderError",
    "apply_mcp_headers",
    "check_expression",
    "check_payload",
    "check_template",
    "compile_all",
    "compile_for_api",
    "compile_instructions",
    "compile_live_all",
    "compile_live_backend",
    "compile_live_handoff",
    "compile_live_start",
    "compile_session",
    "compile_tools",
    "compile_tracing",
    "deep_merge",
    "estimate_tokens",
    "frontend_instructions",
    "handoff_description",
    "instructions_source",
    "live_api_findings",
    "live_findings",
    "live_rules",
    "render",
    "render_expression",
    "resolve_mcp_headers",
    "resolve_state",
    "session_settings",
    "template_variables",
]
