"""A YAML loader that keeps where every key and value came from.

It builds on `yaml.SafeLoader` (only plain data, never Python objects), refuses duplicate keys,
and adds one tag, `!include path`, which inlines another YAML file (or, for any other suffix, the
file's text) relative to the including file. Mappings and sequences come back as `Mapping` and
`Sequence`, plain `dict`/`list` subclasses that remember the marks of their keys and items, so any
later layer can point at `file:line:col`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .findings import Finding, SpecError


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}


class Sequence(list):
    """A list that knows where it and each item start."""

    mark: Mark | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_marks: list[Mark] = []


def display_path(path: Path) -> str:
    """Paths in findings are relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# libyaml's parser when present (several times faster); the constructors are ours either way.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    file: str = ""
    path: Path = Path()
    chain: tuple[Path, ...] = ()


def _mark(loader: _Loader, node: yaml.Node) -> Mark:
    return Mark.of(node.start_mark, loader.file)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Mapping:
    loader.flatten_mapping(node)
    result = Mapping()
    result.mark = _mark(loader, node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise _Located("E202", "mapping keys must be plain scalars", _mark(loader, key_node))
        if key in result:
            first = result.key_marks[key]
            raise _Located(
                "E104", f"duplicate key '{key}' (first defined at line {first.line})", _mark(loader, key_node)
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_marks[key] = _mark(loader, key_node)
        result.value_marks[key] = _mark(loader, value_node)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Sequence:
    result = Sequence()
    result.mark = _mark(loader, node)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_marks.append(_mark(loader, item))
    return result


def _construct_include(loader: _Loader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode) or not node.value:
        raise _Located("E202", "!include takes a file path", _mark(loader, node))
    target = (loader.path.parent / str(node.value)).resolve()
    if target in loader.chain:
        cycle = " -> ".join(display_path(p) for p in (*loader.chain, target))
        raise _Located("E103", f"include cycle: {cycle}", _mark(loader, node))
    if not target.is_file():
        raise _Located("E102", f"included file not found: {node.value}", _mark(loader, node))
    if target.suffix not in (".yaml", ".yml"):
        return target.read_text(encoding="utf-8")
    return _load(target, (*loader.chain, target))


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
        raise _Located("E105", f"cannot read file: {exc}", Mark(display_path(path), 0, 0)) from None
    loader = _Loader(text)
    loader.name = str(path)
    loader.file, loader.path, loader.chain = display_path(path), path, chain
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark.of(mark, loader.file) if mark else Mark(loader.file, 0, 0)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise _Located("E101", f"YAML syntax error: {problem}", where) from None
    except yaml.YAMLError as exc:
        raise _Located("E101", f"YAML error: {exc}", Mark(loader.file, 0, 0)) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Load one YAML file with marks and includes; raise `SpecError` with a located finding."""
    resolved = Path(path).resolve()
    try:
        return _load(resolved, (resolved,))
    except _Located as exc:
        raise SpecError([exc.finding]) from None
    except RecursionError:
        raise SpecError([Finding("E101", "YAML nesting is too deep", display_path(resolved))]) from None
