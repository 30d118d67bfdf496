"""Checking payloads against the `openai` package's own types, strictly.

The SDK's models accept unknown keys (`extra="allow"`), so validation alone would let a misspelled
field through; `unknown_fields` walks a validated model and lists every key the types do not
declare, which is what the real API rejects as `unknown_parameter`.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from functools import cache
from typing import Any

import pydantic
from openai.types.realtime import (
    ConversationItem,
    RealtimeClientEvent,
    RealtimeSessionCreateRequest,
)


def unknown_fields(value: Any, path: str = "") -> list[str]:
    """Dotted paths of every key in `value` (a validated SDK model) that its type does not declare."""
    return list(_walk_unknown(value, path))


def _walk_unknown(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, pydantic.BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}" if path else key
        for name in type(value).model_fields:
            child = getattr(value, name, None)
            if child is not None:
                yield from _walk_unknown(child, f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for i, child in enumerate(value):
            yield from _walk_unknown(child, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _walk_unknown(child, f"{path}.{key}" if path else str(key))


def _literal_values(model: type[pydantic.BaseModel], field: str) -> tuple[Any, ...]:
    info = model.model_fields.get(field)
    return typing.get_args(info.annotation) if info is not None else ()


@cache
def _client_event_models() -> dict[str, type[pydantic.BaseModel]]:
    union = typing.get_args(RealtimeClientEvent)[0]
    return {_literal_values(m, "type")[0]: m for m in typing.get_args(union)}


@cache
def _item_models() -> dict[tuple[str, str | None], type[pydantic.BaseModel]]:
    union = typing.get_args(ConversationItem)[0]
    models: dict[tuple[str, str | None], type[pydantic.BaseModel]] = {}
    for m in typing.get_args(union):
        roles = _literal_values(m, "role") or (None,)
        for role in roles:
            models[(_literal_values(m, "type")[0], role)] = m
    return models


def client_event_types() -> list[str]:
    return sorted(_client_event_models())


def api_error(message: str, code: str | None, param: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "invalid_request_error", "code": code, "message": message, "param": param, **extra}


def _error_from_validation(exc: pydantic.ValidationError, prefix: str) -> dict[str, Any]:
    first = exc.errors()[0]
    # Union validation adds variant names to `loc`; keep only the real field path.
    param = prefix
    for part in first["loc"]:
        if isinstance(part, int):
            param += f"[{part}]"
        elif not _is_variant_tag(part):
            param = f"{param}.{part}" if param else part
    if first["type"] == "missing":
        return api_error(f"Missing required parameter: '{param}'.", "missing_required_parameter", param)
    return api_error(f"Invalid value for '{param}': {first['msg']}.", "invalid_value", param)


def _is_variant_tag(part: Any) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or "-" in part)


def _validate(model: type[pydantic.BaseModel], data: Any, prefix: str) -> dict[str, Any] | None:
    try:
        parsed = model.model_validate(data)
    except pydantic.ValidationError as exc:
        return _error_from_validation(exc, prefix)
    unknown = unknown_fields(parsed, prefix)
    if unknown:
        return api_error(f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter", unknown[0])
    return None


def check_item(item: Any, prefix: str = "item") -> dict[str, Any] | None:
    """The API error for a malformed conversation item, or None."""
    if not isinstance(item, dict):
        return api_error(f"Invalid type for '{prefix}': expected an object.", "invalid_type", prefix)
    model = _item_models().get((item.get("type"), item.get("role"))) or _item_models().get((item.get("type"), None))
    if model is None:
        kinds = sorted({t for t, _ in _item_models()})
        return api_error(
            f"Invalid value: '{item.get('type')}' with role '{item.get('role')}'. Supported item types: {kinds}.",
            "invalid_value",
            f"{prefix}.type",
        )
    return _validate(model, item, prefix)


def check_session(session: Any) -> dict[str, Any] | None:
    """The API error for a malformed `session` of a `session.update`, or None (realtime sessions only)."""
    if not isinstance(session, dict):
        return api_error("Invalid type for 'session': expected an object.", "invalid_type", "session")
    if "type" not in session:
        return api_error("Missing required parameter: 'session.type'.", "missing_required_parameter", "session.type")
    if session["type"] != "realtime":
        return api_error(
            f"Invalid value: '{session['type']}'. The simulator supports only 'realtime' sessions.",
            "invalid_value",
            "session.type",
        )
    return _validate(RealtimeSessionCreateRequest, session, "session")


def check_client_event(event: Any) -> dict[str, Any] | None:
    """The API error for a client event that is not a valid GA event, or None."""
    if not isinstance(event, dict):
        return api_error("Invalid event: expected a JSON object.", "invalid_value")
    kind = event.get("type")
    model = _client_event_models().get(kind) if isinstance(kind, str) else None
    if model is None:
        if kind is None:
            return api_error("Missing required parameter: 'type'.", "missing_required_parameter", "type")
        return api_error(
            f"Invalid value: '{kind}'. Supported values are: {', '.join(repr(t) for t in client_event_types())}.",
            "invalid_value",
            "type",
        )
    # Nested unions give poor errors; check the nested object against the variant it names first.
    if kind == "session.update":
        nested = check_session(event.get("session"))
        if nested is not None:
            return nested
        rest = {k: v for k, v in event.items() if k != "session"}
        extra = sorted(set(rest) - {"type", "event_id"})
        if extra:
            return api_error(f"Unknown parameter: '{extra[0]}'.", "unknown_parameter", extra[0])
        return None
    if kind == "conversation.item.create" and "item" in event:
        nested = check_item(event["item"])
        if nested is not None:
            return nested
    return _validate(model, event, "")
