"""The `session.start` of a GPT-Live session and each agent's backend settings (client delegation).

A private stand-in for `engine.compile.live` (being written on another branch): the smallest
compile the runtime needs. The frontend model gets a fixed persona (instructions, model, voice and
audio format cannot change after start); each agent's rules reach it by `session.instructions.append`
and its work runs in the engine, from the agent's Realtime config (rendered instructions, tools).
"""

from __future__ import annotations

from typing import Any

from ...spec import Document

DEFAULT_LIVE_MODEL = "gpt-live-1.1"
#: The text model the engine runs an agent with on GPT-Live when the graph names none.
DEFAULT_BACKEND_MODEL = "gpt-5.5"
DEFAULT_VOICE = "marin"

#: Limits of the API (openai.types.live docstrings): appends, fixtures, startup history.
APPEND_TOKEN_LIMIT = 500
INPUT_MESSAGE_LIMIT = 128
FIXTURE_SECONDS_LIMIT = 30

_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu", "rate": 8000},
    "g711_alaw": {"type": "audio/pcma", "rate": 8000},
}

_PERSONA = (
    "You are the voice of {name}{about}. Speak briefly and warmly, in plain spoken sentences. "
    "You cannot look anything up or act yourself: delegate every request, question or answer of the user "
    "to your backend, and say what its commentary tells you, close to word for word. Follow the developer "
    "rules appended during the call; the latest rules describe who you are now."
)


def live_model(doc: Document) -> str:
    model = doc.spec.model
    return model if model.startswith("gpt-live") else DEFAULT_LIVE_MODEL


def live_voice(doc: Document) -> str:
    audio = doc.spec.session.audio
    voice = audio.output.voice if audio is not None and audio.output is not None else None
    return voice or DEFAULT_VOICE


def live_format(doc: Document) -> dict[str, Any]:
    audio = doc.spec.session.audio
    output = audio.output.format if audio is not None and audio.output is not None else None
    return dict(_FORMATS[output or "pcm16"])


def persona(doc: Document) -> str:
    about = f" ({doc.spec.description.strip().rstrip('.')})" if doc.spec.description.strip() else ""
    return _PERSONA.format(name=doc.spec.graph, about=about)


def session_start(doc: Document, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The `session.start` client event; `history` (startup `input` items) reseeds a new session."""
    session: dict[str, Any] = {
        "model": live_model(doc),
        "instructions": persona(doc),
        "audio": {"format": live_format(doc), "output": {"voice": live_voice(doc)}},
        "delegation": {"type": "client"},
    }
    if history:
        session["input"] = history
    return {"type": "session.start", "session": session}


def backend_tools(realtime_tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Responses API tools of an agent, from its Realtime tools (same names and schemas)."""
    out = []
    for tool in realtime_tools:
        if tool.get("type") == "function":
            out.append(
                {
                    "type": "function",
                    "name": tool["name"],
                    "description": tool.get("description") or "",
                    "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
                    "strict": False,
                }
            )
        elif tool.get("type") == "mcp":
            out.append(dict(tool))  # hosted MCP: the Responses API calls the server itself
    return out
