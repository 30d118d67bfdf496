"""Checking payloads against the installed `openai` package's own types, strictly.

One checker for everything the engine sends and the simulator receives: Realtime client events
(`openai.types.realtime`) and GPT-Live client events (`openai.types.live`). The openai models
accept unknown keys silently (`extra="allow"`) and coerce values, while both APIs refuse both, so
a payload is validated from its JSON in strict mode and every extra key at any depth is reported.

Nested unions give noisy errors (every member's complaints), so the object an event nests is first
checked against the member its own `type` (or `role`) names: a `session.update`'s `session`, a
`conversation.item.create`'s `item`. Union members whose tag refuses the payload are dropped from
the remaining errors.

`openai` is imported on first use only: importing it takes seconds and the CLI must stay fast.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Api = Literal["realtime", "live"]
APIS: tuple[Api, ...] = ("realtime", "live")
Loc = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One reason the API would refuse a payload.

    `code` is the API's own error code for it: `unknown_parameter`, `missing_required_parameter`,
    `invalid_value` or `invalid_type`; `path` is the dotted data path (`session.tools[0].name`).
    """

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<event>'}: {self.message}"


def check_payload(event: Any, api: Api = "realtime") -> list[str]:
    """Problems of a client event of `api` (`session.update`, `session.start`, ...); empty when valid.

    Each problem reads `path: message`, such as `session.audio.output.speed: Input should be a
    valid number (got 'fast')` or `session.tools[0].strict: unknown key`.
    """
    return [str(p) for p in event_problems(event, api)]


def event_problems(event: Any, api: Api = "realtime") -> list[Problem]:
    """The problems of a client event of `api`, structured (see `Problem`); empty when valid.

    Raises `ValueError` for an api other than `realtime` or `live`.
    """
    models = _event_models(api)
    if not isinstance(event, dict):
        return [Problem("", "invalid_type", "a client event is a JSON object")]
    kind = event.get("type")
    if kind is None:
        return [Problem("type", "missing_required_parameter", "Field required")]
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        return [Problem("type", "invalid_value", f"unknown client event type {kind!r}")]
    nested = _NESTED.get((api, kind))
    if nested is not None and isinstance(event.get(nested[0]), dict):
        key, checker = nested
        found = checker(event[key], key)
        rest = {k: v for k, v in event.items() if k != key}
        known = set(model.model_fields)
        found += [Problem(k, "unknown_parameter", "unknown key") for k in rest if k not in known]
        if found:
            return found
    return _check(model, event, "")


def session_problems(session: Any, api: Api = "realtime", prefix: str = "session") -> list[Problem]:
    """The problems of a session object: a Realtime `session.update`'s session (realtime or
    transcription, by its `type`), or a GPT-Live `session.start` configuration."""
    if api == "live":
        return _check(_live_type("SessionConfig"), session, prefix)
    return _realtime_session(session, prefix)


def live_accept_problems(body: Any) -> list[Problem]:
    """The problems of a GPT-Live SIP accept body (`POST /live/sessions/{id}/accept`, the openai
    package's `SessionAcceptParams`): `{"session": {...}}` with `type: "live"` and the `session.start`
    configuration, less what a SIP call does not take (`client`; `audio.format`: SIP negotiates it)."""
    if not isinstance(body, dict):
        return [Problem("", "invalid_type", "the body is a JSON object")]
    found = [Problem(k, "unknown_parameter", "unknown key") for k in body if k != "session"]
    session = body.get("session")
    if not isinstance(session, dict):
        if "session" not in body:
            return [*found, Problem("session", "missing_required_parameter", "Field required")]
        return [*found, Problem("session", "invalid_type", "expected an object")]
    if session.get("type") != "live":
        code = "missing_required_parameter" if "type" not in session else "invalid_value"
        found.append(Problem("session.type", code, f"Input should be 'live' (got {session.get('type')!r})"))
    if "client" in session:
        found.append(Problem("session.client", "unknown_parameter", "unknown key"))
    audio = session.get("audio")
    if isinstance(audio, dict):
        found += [Problem(f"session.audio.{k}", "unknown_parameter", "unknown key") for k in audio if k != "output"]
    config = {k: v for k, v in session.items() if k not in ("type", "client")}
    if isinstance(audio, dict):
        config["audio"] = {k: v for k, v in audio.items() if k == "output"}
    return found + _check(_live_type("SessionConfig"), config, "session")


def check_live_backend(config: Any) -> list[str]:
    """Problems of GPT-Live Responses backend settings (`ResponsesDelegationConfig`); empty when valid."""
    return [str(p) for p in _check(_live_type("ResponsesDelegationConfig"), config, "")]


def item_problems(item: Any, prefix: str = "item") -> list[Problem]:
    """The problems of a Realtime conversation item, checked against the model its type and role name."""
    if not isinstance(item, dict):
        return [Problem(prefix, "invalid_type", "expected an object")]
    models = _item_models()
    kind, role = item.get("type"), item.get("role")
    if not isinstance(kind, str) or not (role is None or isinstance(role, str)):
        where = f"{prefix}.type" if not isinstance(kind, str) else f"{prefix}.role"
        return [Problem(where, "invalid_type", "expected a string")]
    model = models.get((kind, role)) or models.get((kind, None))
    if model is None:
        kinds = sorted({t for t, _ in models})
        message = f"unknown item type {item.get('type')!r} with role {item.get('role')!r} (types: {', '.join(kinds)})"
        return [Problem(_join(prefix, "type"), "invalid_value", message)]
    return _check(model, item, prefix)


def client_event_types(api: Api = "realtime") -> list[str]:
    """Every client event type of `api`, sorted."""
    return sorted(_event_models(api))


def unknown_fields(value: Any, path: str = "") -> list[str]:
    """Dotted paths of every key in `value` (a validated openai model) that its type does not declare."""
    return list(_walk_unknown(value, path))


# --- the checks -------------------------------------------------------------------------------


def _check(model: Any, data: Any, prefix: str) -> list[Problem]:
    from pydantic import ValidationError

    try:
        text = json.dumps(data)
    except (TypeError, ValueError) as exc:
        return [Problem(prefix, "invalid_type", f"not JSON-serializable: {exc}")]
    try:
        obj = model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        return _problems(exc.errors(include_url=False), data, prefix)
    return [Problem(path, "unknown_parameter", "unknown key") for path in _walk_unknown(obj, prefix)]


def _realtime_session(session: Any, prefix: str) -> list[Problem]:
    if not isinstance(session, dict):
        return [Problem(prefix, "invalid_type", "expected an object")]
    kind = session.get("type")
    if kind is None:
        return [Problem(_join(prefix, "type"), "missing_required_parameter", "Field required")]
    model = _realtime_session_models().get(kind)
    if model is None:
        message = f"Input should be 'realtime' or 'transcription' (got {kind!r})"
        return [Problem(_join(prefix, "type"), "invalid_value", message)]
    return _check(model, session, prefix)


def _item(item: Any, prefix: str) -> list[Problem]:
    return item_problems(item, prefix)


#: (api, event type) -> (the key whose object is checked on its own first, its checker)
_NESTED: dict[tuple[str, str], tuple[str, Any]] = {
    ("realtime", "session.update"): ("session", _realtime_session),
    ("realtime", "conversation.item.create"): ("item", _item),
}


def _walk_unknown(value: Any, path: str) -> Iterator[str]:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield _join(path, key)
        for name in type(value).model_fields:
            child = getattr(value, name, None)
            if child is not None:
                yield from _walk_unknown(child, _join(path, name))
    elif isinstance(value, list | tuple):
        for i, child in enumerate(value):
            yield from _walk_unknown(child, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _walk_unknown(child, _join(path, str(key)))


# --- readable errors ----------------------------------------------------------------------------


def _problems(errors: list[Any], data: Any, prefix: str) -> list[Problem]:
    """Readable problems, without the noise of union members the payload plainly is not.

    A union member whose `type` (or `role`) literal refuses the payload is the wrong member, and its
    errors are dropped. When every member of a union is wrong, one problem lists the allowed values.
    """
    locs: list[Loc] = [tuple(e["loc"]) for e in errors]
    wrong = {
        loc[:-1]
        for err, loc in zip(errors, locs, strict=True)
        if err["type"] == "literal_error" and len(loc) >= 2 and loc[-1] in _TAGS and _is_tag(loc[:-1], data)
    }
    out: list[Problem] = []
    bad_tags: dict[str, tuple[list[str], Any]] = {}
    for err, loc in zip(errors, locs, strict=True):
        arms = [loc[:i] for i in range(1, len(loc)) if loc[:i] in wrong]
        if not arms:
            out.append(_problem(_path(loc, data, prefix, missing=err["type"] == "missing"), err))
            continue
        union = arms[0][:-1]
        members_wrong = all(m[: len(union) + 1] in wrong for m in locs if m[: len(union)] == union)
        if members_wrong and loc[:-1] == arms[0] and loc[-1] in _TAGS:
            expected, _ = bad_tags.setdefault(_path(loc, data, prefix), ([], err.get("input")))
            expected.append(str(err.get("ctx", {}).get("expected", "")))
    for path, (expected, got) in bad_tags.items():
        values = ", ".join(dict.fromkeys(", ".join(expected).split(", ")))
        out.append(Problem(path, "invalid_value", f"Input should be one of {values} (got {got!r})"))
    return list(dict.fromkeys(out))


#: The keys that tell union members apart in the openai types.
_TAGS = ("type", "role")


def _problem(path: str, err: Any) -> Problem:
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {_short(repr(got))})"
    if err["type"] == "missing":
        return Problem(path, "missing_required_parameter", err["msg"])
    code = "invalid_type" if err["type"].endswith("_type") else "invalid_value"
    return Problem(path, code, f"{err['msg']}{shown}")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_tag(loc: Loc, data: Any) -> bool:
    """Whether the last part of `loc` is a union member's tag rather than a key of the data."""
    node = data
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


def _path(loc: Loc, data: Any, prefix: str, *, missing: bool = True) -> str:
    """The data path of an error: union tags in the location are skipped, a missing key is kept."""
    path, node = prefix, data
    for i, part in enumerate(loc):
        if _has(node, part):
            path = f"{path}[{part}]" if isinstance(node, list) else _join(path, str(part))
            node = node[part]
        elif missing and i == len(loc) - 1 and isinstance(part, str) and part.isidentifier():
            path = _join(path, part)
    return path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- the openai types -----------------------------------------------------------------------------


def _literal(model: Any, field: str) -> tuple[Any, ...]:
    info = model.model_fields.get(field)
    return typing.get_args(info.annotation) if info is not None else ()


def _members(union: Any) -> tuple[Any, ...]:
    """The members of a (possibly `Annotated`) union type."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return typing.get_args(union)


@functools.cache
def _event_models(api: Api) -> dict[str, Any]:
    """Client event type -> the openai model of that event."""
    if api == "realtime":
        from openai.types.realtime.realtime_client_event import RealtimeClientEvent as union
    elif api == "live":
        from openai.types.live.client_event import ClientEvent as union
    else:
        raise ValueError(f"unknown API {api!r} (expected one of {', '.join(APIS)})")
    return {_literal(m, "type")[0]: m for m in _members(union)}


@functools.cache
def _realtime_session_models() -> dict[str, Any]:
    from openai.types.realtime import RealtimeSessionCreateRequest, RealtimeTranscriptionSessionCreateRequest

    return {"realtime": RealtimeSessionCreateRequest, "transcription": RealtimeTranscriptionSessionCreateRequest}


@functools.cache
def _item_models() -> dict[tuple[str, str | None], Any]:
    from openai.types.realtime import ConversationItem

    models: dict[tuple[str, str | None], Any] = {}
    for m in _members(ConversationItem):
        for role in _literal(m, "role") or (None,):
            models[(_literal(m, "type")[0], role)] = m
    return models


@functools.cache
def _live_type(name: str) -> Any:
    import openai.types.live as live

    return getattr(live, name)
