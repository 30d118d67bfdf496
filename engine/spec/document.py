"""Loading a graph file into a `Document`: the validated spec plus where everything came from."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .files import resolve_root
from .findings import Finding, SpecError, did_you_mean
from .loader import Mapping, Sequence, display_path, load_yaml
from .models import GUARDRAIL_KINDS, TOOL_KINDS, GraphSpec

Loc = tuple[Any, ...]


@dataclass(slots=True)
class Document:
    """A loaded graph file: the spec, its raw marked YAML and the folder its paths resolve in."""

    spec: GraphSpec
    raw: Mapping
    path: Path

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def root(self) -> Path:
        """The folder every file the graph names must lie in: its folder, or the one its `root:` names."""
        return resolve_root(self.dir, self.spec.root)

    @property
    def file(self) -> str:
        return self.raw.mark.file if self.raw.mark else str(self.path)

    def finding(self, code: str, message: str, loc: Loc = (), *, key: bool = False) -> Finding:
        """A finding pointed at the value (or key) at `loc` in the raw YAML."""
        mark, _ = _walk(self.raw, loc, key=key)
        if mark is None:
            return Finding(code, message, self.file)
        return Finding(code, message, mark.file, mark.line, mark.col)


def load_document(path: str | Path) -> Document:
    """Read, parse and schema-check a graph file; raise `SpecError` with located findings."""
    raw = load_yaml(path)
    if not isinstance(raw, Mapping):
        message = "a graph file is a mapping with 'graph', 'start' and 'agents'"
        raise SpecError([Finding("E202", message, display_path(Path(path)), 1, 1)])
    try:
        spec = GraphSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(schema_findings(raw, exc)) from None
    return Document(spec, raw, Path(path).resolve())


# --- mapping pydantic errors onto the YAML ---------------------------------------------------------


def _walk(root: Any, loc: Loc, *, key: bool = False) -> tuple[Any, Loc]:
    """The mark at `loc` and the part of `loc` that names real data.

    Pydantic puts union tags and class names into error locations; parts that do not match
    the data are skipped, so a finding still lands on the nearest real node.
    """
    node, mark, data_loc = root, getattr(root, "mark", None), ()
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, Mapping) and part in node:
            # A union tag can equal a key ('call'); step over it when the next part is a sibling.
            if not last and not isinstance(node[part], Mapping | Sequence) and loc[i + 1] in node:
                continue
            mark = (node.key_marks if key and last else node.value_marks).get(part, mark)
            node, data_loc = node[part], (*data_loc, part)
        elif isinstance(node, Sequence) and isinstance(part, int) and 0 <= part < len(node):
            mark, node, data_loc = node.item_marks[part], node[part], (*data_loc, part)
    return mark, data_loc


def _arms(tp: Any) -> list[Any]:
    """The alternatives of a (possibly Annotated, possibly Optional) type."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for arm in typing.get_args(tp) for a in _arms(arm) if a is not type(None)]
    return [tp]


def _step(tp: Any, part: Any) -> Any:
    """The type one location part down from `tp`, or None when `part` is not a data step."""
    for arm in _arms(tp):
        origin = typing.get_origin(arm)
        if origin is list and isinstance(part, int):
            return typing.get_args(arm)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arm)[1]
        if isinstance(arm, type) and issubclass(arm, BaseModel) and part in arm.model_fields:
            return arm.model_fields[part].annotation
    return None


def _allowed_keys(loc: Loc, root: type[BaseModel]) -> list[str]:
    """The keys the model at `loc` accepts (for did-you-mean on unknown keys)."""
    tp: Any = root
    for part in loc:
        nxt = _step(tp, part)
        if nxt is not None:
            tp = nxt
    return [k for arm in _arms(tp) if isinstance(arm, type) and issubclass(arm, BaseModel) for k in arm.model_fields]


def _type_at(loc: Loc, root: type[BaseModel]) -> Any:
    tp: Any = root
    for part in loc:
        tp = _step(tp, part) or tp
    return tp


def _misplaced(raw: Mapping, parent: Loc, name: Any, root: type[BaseModel]) -> str:
    """` (is 'billing' meant to be under agents:?)` when the key fits the mapping just above it (a dedent)."""
    node: Any = raw
    for part in parent:
        node = node[part]
    keys = list(node) if isinstance(node, Mapping) else []
    if name not in keys or keys.index(name) == 0:
        return ""
    # The mapping the key was dedented out of: the one above it, or the last one nested at its end.
    chain: list[Loc] = []
    at, inner = (*parent, keys[keys.index(name) - 1]), node[keys[keys.index(name) - 1]]
    while isinstance(inner, Mapping) and inner:
        chain.append(at)
        last = list(inner)[-1]
        at, inner = (*at, last), inner[last]
    value = node[name]
    for loc in reversed(chain):
        if _fits(name, value, _type_at(loc, root)):
            return f" (is '{name}' meant to be under {loc[-1]}:?)"
    return ""


def _fits(name: Any, value: Any, tp: Any) -> bool:
    """Whether `name: value` is a valid entry of a mapping of type `tp` (as far as its keys tell)."""
    for arm in _arms(tp):
        if typing.get_origin(arm) is dict and isinstance(value, Mapping):
            items = [a for a in _arms(typing.get_args(arm)[1]) if isinstance(a, type) and issubclass(a, BaseModel)]
            if any(set(value) <= set(item.model_fields) for item in items):
                return True
        elif isinstance(arm, type) and issubclass(arm, BaseModel) and name in arm.model_fields:
            return True
    return False


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"


_TYPE_ERRORS = ("_type", "_parsing", "model_attributes_type", "union_tag_invalid", "literal_error")
_MAPPING_ERRORS = ("model_type", "model_attributes_type", "dict_type")


def _is_type_error(err: Any) -> bool:
    return any(err["type"].endswith(t) or err["type"] == t for t in _TYPE_ERRORS)


def _within(inner: Loc, outer: Loc) -> bool:
    return inner[: len(outer)] == outer


def schema_findings(raw: Mapping, exc: ValidationError, root: type[BaseModel] = GraphSpec) -> list[Finding]:
    """Pydantic's errors as located findings, deduplicated across union arms."""
    doc = Document(GraphSpec.model_construct(), raw, Path(raw.mark.file if raw.mark else ""))
    entries = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        _, data_loc = _walk(raw, loc)
        entries.append((err, loc, data_loc))

    # A value that fails every arm of a union yields one error per arm. When some arm got far
    # enough to complain about keys, or about a value inside, the bare type mismatches of the other
    # arms are noise; when every arm is a plain mismatch, they become one finding listing them all.
    def beaten(at: Loc) -> bool:
        return any(_within(d, at) and (not _is_type_error(e) or len(d) > len(at)) for e, _, d in entries)

    mismatches: dict[Loc, list[Any]] = {}
    order: list[Finding | Loc] = []
    for err, loc, data_loc in entries:
        if not _is_type_error(err):
            order.append(_finding(doc, err, loc, data_loc, root))
        elif not beaten(data_loc):
            if data_loc not in mismatches:
                order.append(data_loc)
            mismatches.setdefault(data_loc, []).append(err)
    findings = [item if isinstance(item, Finding) else _mismatch(doc, item, mismatches[item]) for item in order]
    return list(dict.fromkeys(findings))


def _expected(err: Any) -> str:
    """What a type error says the value should be, without the `Input should be` and parser chatter."""
    if err["type"] in _MAPPING_ERRORS:
        return "a mapping"
    return err["msg"].removeprefix("Input should be ").split(", unable to ")[0]


def _mismatch(doc: Document, data_loc: Loc, errors: list[Any]) -> Finding:
    """One finding for a value of the wrong type, listing what each arm of a union would accept."""
    if len(errors) == 1 and errors[0]["type"] not in _MAPPING_ERRORS:
        message = errors[0]["msg"].removeprefix("Value error, ")
    else:
        message = "Input should be " + " or ".join(dict.fromkeys(_expected(e) for e in errors))
    got = errors[0].get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return doc.finding("E202", f"{_dotted(data_loc)}: {message}{shown}", data_loc)


def _kind_loc(doc: Document, data_loc: Loc) -> Loc:
    """Where to point when a tool or guardrail has not exactly one kind: the second kind written, else its name."""
    node: Any = doc.raw
    for part in data_loc:
        node = node[part]
    kinds = [k for k in node if k in (*TOOL_KINDS, *GUARDRAIL_KINDS)] if isinstance(node, Mapping) else []
    return (*data_loc, kinds[1]) if len(kinds) > 1 else data_loc


def _finding(doc: Document, err: dict[str, Any], loc: Loc, data_loc: Loc, root: type[BaseModel]) -> Finding:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        name = data_loc[-1] if data_loc else loc[-1]
        parent = data_loc[:-1]
        hint = did_you_mean(str(name), _allowed_keys(parent, root)) or _misplaced(doc.raw, parent, name, root)
        return doc.finding("E201", f"unknown key '{name}' in {_dotted(parent)}{hint}", data_loc, key=True)
    if kind == "missing":
        return doc.finding("E203", f"missing required key '{loc[-1]}' in {_dotted(data_loc)}", data_loc)
    if kind == "value_error" and "exactly one of" in msg:
        return doc.finding(
            "E204", f"{_dotted(data_loc)}: {msg.removeprefix('Value error, ')}", _kind_loc(doc, data_loc), key=True
        )
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return doc.finding("E202", f"{_dotted(data_loc)}: {msg.removeprefix('Value error, ')}{shown}", data_loc)
