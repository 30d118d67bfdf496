"""Stage 3 of the pipeline: each agent (and enforced state) as a GA Realtime `session.update` payload.

Compiling is pure and deterministic. `check_payload` validates any client event against the
`openai` package's types, importing `openai` only when called.
"""

from .common import CompileError, resolve_state
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
    "AUDIO_FORMATS",
    "HANDOFF_PARAMETERS",
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
    "compile_instructions",
    "compile_session",
    "compile_tools",
    "compile_tracing",
    "deep_merge",
    "handoff_description",
    "instructions_source",
    "render",
    "render_expression",
    "resolve_mcp_headers",
    "resolve_state",
    "session_settings",
    "template_variables",
]
