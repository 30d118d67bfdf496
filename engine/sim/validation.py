"""The simulator's refusals, as the API words them, from the engine's one strict checker.

`engine.protocol.openai_check` decides what the openai types refuse (unknown keys at any depth,
wrong types, missing fields); this module only turns its first problem into the API's `error`
object (`invalid_request_error` with `code` and `param`), and adds what the simulator itself
does not serve (transcription sessions).
"""

from __future__ import annotations

from typing import Any

from engine.protocol.openai_check import (
    Api,
    Problem,
    client_event_types,
    event_problems,
    item_problems,
    live_accept_problems,
    session_problems,
    unknown_fields,
)

__all__ = [
    "api_error",
    "check_client_event",
    "check_item",
    "check_live_accept",
    "check_session",
    "client_event_types",
    "unknown_fields",
]


def api_error(message: str, code: str | None, param: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "invalid_request_error", "code": code, "message": message, "param": param, **extra}


def _error(problem: Problem) -> dict[str, Any]:
    param = problem.path or None
    if problem.code == "unknown_parameter":
        return api_error(f"Unknown parameter: '{param}'.", problem.code, param)
    if problem.code == "missing_required_parameter":
        return api_error(f"Missing required parameter: '{param}'.", problem.code, param)
    if problem.code == "invalid_type":
        return api_error(f"Invalid type for '{param}': {problem.message}.", problem.code, param)
    return api_error(f"Invalid value for '{param}': {problem.message}.", problem.code, param)


def _first(problems: list[Problem]) -> dict[str, Any] | None:
    return _error(problems[0]) if problems else None


def check_item(item: Any, prefix: str = "item") -> dict[str, Any] | None:
    """The API error for a malformed conversation item, or None."""
    return _first(item_problems(item, prefix))


def check_session(session: Any) -> dict[str, Any] | None:
    """The API error for a malformed `session` of a `session.update`, or None (realtime sessions only)."""
    if isinstance(session, dict) and session.get("type") not in (None, "realtime"):
        message = f"Invalid value: '{session['type']}'. The simulator supports only 'realtime' sessions."
        return api_error(message, "invalid_value", "session.type")
    return _first(session_problems(session))


def check_live_accept(body: Any) -> dict[str, Any] | None:
    """The API error for a malformed GPT-Live SIP accept body (`{"session": {...}}`), or None."""
    return _first(live_accept_problems(body))


def check_client_event(event: Any, api: Api = "realtime") -> dict[str, Any] | None:
    """The API error for a client event that is not a valid GA event of `api`, or None."""
    if not isinstance(event, dict):
        return api_error("Invalid event: expected a JSON object.", "invalid_value")
    kind = event.get("type")
    if isinstance(kind, str) and kind not in client_event_types(api):
        kinds = ", ".join(repr(t) for t in client_event_types(api))
        return api_error(f"Invalid value: '{kind}'. Supported values are: {kinds}.", "invalid_value", "type")
    if api == "realtime" and kind == "session.update" and "session" in event:
        refused = check_session(event["session"])
        if refused is not None:
            return refused
    return _first(event_problems(event, api))
