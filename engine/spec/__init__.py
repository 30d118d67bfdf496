"""Stage 1 of the pipeline: the graph file as validated pydantic models with located findings."""

from .document import Document, load_document
from .findings import CODES, Finding, SpecError, did_you_mean
from .loader import Mapping, Mark, Sequence, load_yaml
from .models import (
    Agent,
    Escalation,
    GraphSpec,
    Guardrail,
    Handoff,
    HttpCall,
    McpServer,
    Session,
    StateMachine,
    Step,
    Tool,
    Transition,
    handoff_tool_name,
)
from .script import Call, Say, Script, Turn

__all__ = [
    "CODES",
    "Agent",
    "Call",
    "Document",
    "Escalation",
    "Finding",
    "GraphSpec",
    "Guardrail",
    "Handoff",
    "HttpCall",
    "Mapping",
    "Mark",
    "McpServer",
    "Say",
    "Script",
    "Sequence",
    "Session",
    "SpecError",
    "StateMachine",
    "Step",
    "Tool",
    "Transition",
    "Turn",
    "did_you_mean",
    "handoff_tool_name",
    "load_document",
    "load_yaml",
]
