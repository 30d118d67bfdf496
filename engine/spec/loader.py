"""A YAML loader that keeps where every key and value came from.

It builds on `yaml.SafeLoader` (only plain data, never Python objects), refuses duplicate keys
(a key merged in with `<<:` may be overridden, as YAML intends), and adds one tag, `!include path`,
which inlines another YAML file (or, for any other suffix, the file's text) relative to the
including file. Included files are confined to the graph's folder, or the folder its top-level
`root:` names (see `files.py`), so the document is composed before it is constructed: `root:` is
read first. Mappings and sequences come back as `Mapping` and `Sequence`, plain `dict`/`list`
subclasses that remember the marks of their keys and items, so any later layer can point at
`file:line:col`.

Hostile input fails with a finding, never a crash or a hang: nodes are composed in Python (libyaml's
composer recurses in C and overflows the stack on deep nesting), and a document whose aliases expand
to more than `MAX_NODES` nodes (a "billion laughs") is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from .files import FileRefused, confined_file, display_path, resolve_root
from .findings import Finding, SpecError
from .yaml_errors import explain

__all__ = ["MAX_DEPTH", "MAX_NODES", "Mapping", "Mark", "Sequence", "display_path", "load_yaml"]

#: Most nodes a file may expand to, aliases counted at every use (real graphs have a few thousand).
MAX_NODES = 1_000_000
#: Deepest nesting of mappings and sequences (real graphs nest about ten levels). Checked while composing,
#: so the finding points at the node that goes too deep, whatever limits the YAML library has of its own.
MAX_DEPTH = 300


@dataclass(frozen=True, slots=True)
class Mark:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    @classmethod
    def of(cls, mark: yaml.Mark, file: str) -> Mark:
        return cls(file, mark.line + 1, mark.column + 1)


class Mapping(dict):
    """A dict that knows where it, each key and each value start."""

    mark: Mark | None = None
    nodes: int = 1  # nodes it expands to, itself included

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}


class Sequence(list):
    """A list that knows where it and each item start."""

    mark: Mark | None = None
    nodes: int = 1

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_marks: list[Mark] = []


# libyaml's parser when present (several times faster). Its composer is not used: it recurses in C
# without a limit, so deep nesting would crash the process; Python's composer hits RecursionError.
try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _Parser = None


if _Parser is not None:

    class _Base(Composer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover - PyYAML without libyaml
    _Base = yaml.SafeLoader  # type: ignore[misc, assignment]


class _Loader(_Base):  # type: ignore[misc, valid-type]
    file: str = ""
    path: Path = Path()
    chain: tuple[Path, ...] = ()
    root: Path | None = None  # the folder included files must lie in; None: read from the document
    depth: int = 0

    def get_single_data(self) -> Any:
        # Composed first, constructed second: the top-level `root:` must be known before any `!include` runs.
        node = self.get_single_node()
        if node is None:
            return None
        if self.root is None:
            self.root = _declared_root(self, node)
        return self.construct_document(node)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                message = f"YAML nesting is deeper than {MAX_DEPTH} levels"
                raise _Located("E101", message, Mark.of(self.peek_event().start_mark, self.file))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _mark(loader: _Loader, node: yaml.Node) -> Mark:
    return Mark.of(node.start_mark, loader.file)


def _count(loader: _Loader, node: yaml.Node, result: Mapping | Sequence, children: list[Any]) -> None:
    """Record how many nodes `result` expands to; refuse a document that expands beyond `MAX_NODES`."""
    result.nodes = 1 + sum(c.nodes if isinstance(c, Mapping | Sequence) else 1 for c in children)
    if result.nodes > MAX_NODES:
        message = f"the document expands to more than {MAX_NODES:,} nodes (aliases used over and over?)"
        raise _Located("E101", message, _mark(loader, node))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Mapping:
    explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # pairs merged in with `<<:` come first; later keys override them
    result = Mapping()
    result.mark = _mark(loader, node)
    written: set[Any] = set()  # keys written in this mapping itself (not merged in)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise _Located("E202", "mapping keys must be plain scalars", _mark(loader, key_node))
        if key in written and id(key_node) in explicit:
            first = result.key_marks[key]
            raise _Located(
                "E104", f"duplicate key '{key}' (first defined at line {first.line})", _mark(loader, key_node)
            )
        result.pop(key, None)  # an override moves to where it is written
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_marks[key] = _mark(loader, key_node)
        result.value_marks[key] = _mark(loader, value_node)
        if id(key_node) in explicit:
            written.add(key)
    _count(loader, node, result, [*result.keys(), *result.values()])
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Sequence:
    result = Sequence()
    result.mark = _mark(loader, node)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_marks.append(_mark(loader, item))
    _count(loader, node, result, result)
    return result


def _construct_include(loader: _Loader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode) or not node.value:
        raise _Located("E202", "!include takes a file path", _mark(loader, node))
    written = str(node.value)
    try:
        target = confined_file(loader.path.parent, written, loader.root)
    except FileRefused as exc:
        if exc.unreadable:
            raise _Located("E102", f"included file not found: {written}", _mark(loader, node)) from None
        raise _Located("E106", f"!include {exc}", _mark(loader, node)) from None
    if target in loader.chain:
        cycle = " -> ".join(display_path(p) for p in (*loader.chain, target))
        raise _Located("E103", f"include cycle: {cycle}", _mark(loader, node))
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read included file {written}: {_reason(exc)}"
        raise _Located("E102", message, _mark(loader, node)) from None
    if target.suffix not in (".yaml", ".yml"):
        return text
    return _parse(text, target, (*loader.chain, target), loader.root)


def _declared_root(loader: _Loader, node: yaml.Node) -> Path:
    """The root a graph's files are confined to: its top-level `root:` (read before anything is included)."""
    if not isinstance(node, yaml.MappingNode):
        return resolve_root(loader.path.parent, None)
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "root":
            if not isinstance(value, yaml.ScalarNode) or value.tag != "tag:yaml.org,2002:str":
                raise _Located("E202", "root: a folder path relative to the graph, such as '..'", _mark(loader, value))
            try:
                return resolve_root(loader.path.parent, value.value)
            except FileRefused as exc:
                raise _Located("E106", str(exc), _mark(loader, value)) from None
    return resolve_root(loader.path.parent, None)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("!include", _construct_include)


class _Located(Exception):
    def __init__(self, code: str, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.finding = Finding(code, message, mark.file, mark.line, mark.col)


def _load(path: Path, chain: tuple[Path, ...]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Located("E105", f"cannot read file: {_reason(exc)}", Mark(display_path(path), 0, 0)) from None
    return _parse(text, path, chain, None)


def _parse(text: str, path: Path, chain: tuple[Path, ...], root: Path | None) -> Any:
    file = display_path(path)
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
    except yaml.reader.ReaderError as exc:
        raise _Located("E101", _reader_message(exc), _offset_mark(text, exc.position, file, python=True)) from None
    loader.name = str(path)
    loader.file, loader.path, loader.chain, loader.root = file, path, chain, root
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark.of(mark, loader.file) if mark else Mark(loader.file, 0, 0)
        message = _syntax_message(exc)
        if message is None:
            message, at = explain(exc, text)
            message = f"YAML syntax error: {message}"
            if at is not None:
                where = Mark(loader.file, at[0] + 1, at[1] + 1)
        raise _Located("E101", message, where) from None
    except yaml.reader.ReaderError as exc:
        raise _Located("E101", _reader_message(exc), _offset_mark(text, exc.position, file, python=False)) from None
    except yaml.YAMLError as exc:
        raise _Located("E101", f"YAML error: {exc}", Mark(loader.file, 0, 0)) from None
    finally:
        loader.dispose()


def _syntax_message(exc: yaml.MarkedYAMLError) -> str | None:
    """Our own message for an unsupported tag; None for a syntax error (`explain` words those)."""
    problem = exc.problem or ""
    if isinstance(exc, yaml.constructor.ConstructorError) and "could not determine a constructor" in problem:
        tag = problem.split("tag ", 1)[-1].replace("tag:yaml.org,2002:", "!!")
        return f"unsupported tag {tag}: graph files hold plain data, and the only tag is !include"
    return None


def _reader_message(exc: yaml.reader.ReaderError) -> str:
    return f"YAML syntax error: character {exc.character:#06x}: {exc.reason}"


def _offset_mark(text: str, offset: int, file: str, *, python: bool) -> Mark:
    """The mark of an offset in `text`: in characters from PyYAML's reader, in UTF-8 bytes from libyaml."""
    before = text[:offset] if python or _Parser is None else text.encode("utf-8")[:offset].decode("utf-8", "ignore")
    return Mark(file, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)


def load_yaml(path: str | Path) -> Any:
    """Load one YAML file with marks and includes; raise `SpecError` with a located finding."""
    resolved = Path(path).resolve()
    try:
        return _load(resolved, (resolved,))
    except _Located as exc:
        raise SpecError([exc.finding]) from None
    except RecursionError:
        raise SpecError([Finding("E101", "YAML nesting is too deep", display_path(resolved))]) from None
