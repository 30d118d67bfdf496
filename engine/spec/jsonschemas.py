"""Checking the JSON Schemas a graph declares (tool parameters, escalation outputs).

Beyond the 2020-12 metaschema, which accepts almost any object, the mistakes that would otherwise
surface only when a tool is called are caught: a `type` that is no JSON type, a `$ref` that
resolves to nothing (or points outside the schema), a `pattern` that is no regular expression, and
a misspelled keyword (`propertes`), which the metaschema allows and which silently leaves the
arguments unchecked.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a schema is checked: a graph without tools never needs it
    import jsonschema

Loc = tuple[Any, ...]

_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_KEYWORDS = frozenset(
    {
        *("$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment", "$defs"),
        *("prefixItems", "items", "contains", "additionalProperties", "properties", "patternProperties"),
        *("dependentSchemas", "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not"),
        *("unevaluatedItems", "unevaluatedProperties", "type", "const", "enum", "multipleOf", "maximum"),
        *("exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems"),
        *("minItems", "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required"),
        *("dependentRequired", "title", "description", "default", "deprecated", "readOnly", "writeOnly"),
        *("examples", "format", "contentEncoding", "contentMediaType", "contentSchema"),
        *("definitions", "dependencies", "additionalItems"),  # earlier drafts, still understood
    }
)
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_VALUES = (
    *("additionalProperties", "items", "contains", "propertyNames", "if", "then", "else", "not"),
    *("unevaluatedItems", "unevaluatedProperties", "additionalItems", "contentSchema"),
)
_SCHEMA_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf")


@functools.cache
def _metaschema() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)


def first_error(schema: Any, instance: Any) -> jsonschema.ValidationError | None:
    """The most relevant reason `instance` does not match `schema` (a schema `schema_problem` accepts), or None."""
    import jsonschema

    return jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(instance))


#: `schema_problem`'s answers by the schema's `repr`: a graph's scripts check their arguments against the
#: same few schemas again and again, and the metaschema check is slow. For YAML's values (dicts, lists,
#: strings, numbers, booleans, null, dates) equal reprs mean equal schemas.
_answers: dict[str, tuple[str, Loc, bool] | None] = {}
_MAX_ANSWERS = 512


def schema_problem(schema: Any) -> tuple[str, Loc, bool] | None:
    """The first problem of a JSON Schema: its message, where it is inside the schema, and whether that is a key."""
    try:
        key = repr(schema)
    except RecursionError:
        return _schema_problem(schema)
    if key not in _answers:
        if len(_answers) >= _MAX_ANSWERS:
            _answers.clear()
        _answers[key] = _schema_problem(schema)
    return _answers[key]


def _schema_problem(schema: Any) -> tuple[str, Loc, bool] | None:
    import jsonschema

    try:
        error = jsonschema.exceptions.best_match(_metaschema().iter_errors(schema))
        if error is not None:
            return _metaschema_message(error), tuple(error.absolute_path), False
        return next(_problems(schema, schema, ()), None)
    except RecursionError:
        return "the schema nests too deeply to check", (), False


def _metaschema_message(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    value = error.instance
    in_type = path[-1:] == ["type"] or (len(path) > 1 and path[-2] == "type")
    if in_type and isinstance(value, str) and value not in _TYPES:
        return f"'{value}' is not a JSON Schema type{_close(value, _TYPES, 0.6)}; the types are {', '.join(_TYPES)}"
    return error.message


def _close(word: str, choices: Any, cutoff: float) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _problems(node: Any, root: Any, at: Loc) -> Iterator[tuple[str, Loc, bool]]:
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            yield from _ref_problem(value, root, (*at, key))
        elif key == "pattern" and isinstance(value, str) and (problem := _regex_problem(value)):
            yield f"pattern {value!r} is not a valid regular expression: {problem}", (*at, key), False
        elif key == "patternProperties" and isinstance(value, dict):
            for name, sub in value.items():
                if problem := _regex_problem(str(name)):
                    yield f"pattern {name!r} is not a valid regular expression: {problem}", (*at, key, name), True
                yield from _problems(sub, root, (*at, key, name))
        elif key not in _KEYWORDS and (hint := _close(str(key), _KEYWORDS, 0.8)):
            yield f"unknown keyword '{key}'{hint}", (*at, key), True
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _problems(sub, root, (*at, key, name))
        elif key in _SCHEMA_VALUES:
            yield from _problems(value, root, (*at, key))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from _problems(sub, root, (*at, key, i))


def _regex_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    return None


def _ref_problem(ref: str, root: Any, at: Loc) -> Iterator[tuple[str, Loc, bool]]:
    if not ref.startswith("#"):
        yield f"$ref '{ref}' points outside the schema; only local references ('#/$defs/...') work here", at, False
        return
    node = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            yield f"$ref '{ref}' resolves to nothing in this schema", at, False
            return
