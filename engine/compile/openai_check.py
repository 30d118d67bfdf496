"""Checking client events against the `openai` package's own Realtime types, strictly.

The openai models accept unknown keys silently (`extra="allow"`) and coerce values, while the
API refuses both, so a payload is validated from its JSON in strict mode and every extra key at
any depth is reported. `openai` is imported on first use only: importing it takes seconds and the
CLI must stay fast.
"""

from __future__ import annotations

import functools
import json
import typing
from typing import Any

Loc = tuple[Any, ...]


def check_payload(event: dict[str, Any]) -> list[str]:
    """Problems of a Realtime client event (`session.update`, `response.create`, ...); empty when valid.

    Each problem reads `path: message`, such as `session.audio.output.speed: Input should be a
    valid number (got 'fast')` or `session.tools[0].strict: unknown key`.
    """
    from pydantic import BaseModel, ValidationError

    try:
        text = json.dumps(event)
    except (TypeError, ValueError) as exc:
        return [f"<event>: not JSON-serializable: {exc}"]
    kind = event.get("type") if isinstance(event, dict) else None
    model = _event_models().get(kind) if isinstance(kind, str) else None
    if model is None:
        return [f"type: unknown client event type {kind!r}"]
    try:
        obj = model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        return _messages(exc.errors(include_url=False), event)

    problems: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, BaseModel):
            problems.extend(f"{_join(path, key)}: unknown key" for key in node.model_extra or {})
            for name in type(node).model_fields:
                walk(getattr(node, name), _join(path, name))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(item, _join(path, str(key)))

    walk(obj, "")
    return problems


def _messages(errors: list[Any], event: Any) -> list[str]:
    """Readable errors, without the noise of union members the payload plainly is not.

    A union member whose `type` literal refuses the payload is the wrong member, and its errors
    are dropped. When every member of a union is wrong, one message lists the allowed types.
    """
    locs: list[Loc] = [tuple(e["loc"]) for e in errors]
    wrong = {
        loc[:-1]
        for err, loc in zip(errors, locs, strict=True)
        if err["type"] == "literal_error" and len(loc) >= 2 and loc[-1] == "type" and _is_tag(loc[:-1], event)
    }
    out: list[str] = []
    bad_types: dict[str, tuple[list[str], Any]] = {}
    for err, loc in zip(errors, locs, strict=True):
        arms = [loc[:i] for i in range(1, len(loc)) if loc[:i] in wrong]
        if not arms:
            out.append(_message(_path(loc, event), err))
            continue
        union = arms[0][:-1]
        members_wrong = all(m[: len(union) + 1] in wrong for m in locs if m[: len(union)] == union)
        if members_wrong and loc == (*arms[0], "type"):
            expected, _ = bad_types.setdefault(_path(loc, event), ([], err.get("input")))
            expected.append(str(err.get("ctx", {}).get("expected", "")))
    for path, (expected, got) in bad_types.items():
        out.append(f"{path}: Input should be one of {', '.join(expected)} (got {got!r})")
    return list(dict.fromkeys(out))


def _message(path: str, err: Any) -> str:
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {_short(repr(got))})"
    return f"{path or '<event>'}: {err['msg']}{shown}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_tag(loc: Loc, event: Any) -> bool:
    """Whether the last part of `loc` is a union member's tag rather than a key of the data."""
    node = event
    for i, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
        elif i == len(loc) - 1:
            return True
    return False


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return isinstance(node, dict) and part in node


def _path(loc: Loc, event: Any) -> str:
    """The data path of an error: union tags in the location are skipped, a missing key is kept."""
    path, node = "", event
    for i, part in enumerate(loc):
        if _has(node, part):
            path = f"{path}[{part}]" if isinstance(node, list) else _join(path, str(part))
            node = node[part]
        elif i == len(loc) - 1 and isinstance(part, str) and part.isidentifier() and not part[:1].isupper():
            path = _join(path, part)
    return path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@functools.cache
def _event_models() -> dict[str, Any]:
    """Client event type -> the openai model of that event."""
    from openai.types.realtime.realtime_client_event import RealtimeClientEvent

    union = typing.get_args(RealtimeClientEvent)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in typing.get_args(union)}
