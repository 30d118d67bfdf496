"""Which models the installed `openai` package lists, and which are shutting down or shut down.

The package's generated types carry both facts: the `Literal` of a `model` field names the models
an endpoint takes, and the field's docstring lists "Deprecated values" with their "Announced
shutdown date". They are read from the package's source files with `ast` (without importing
`openai`, which takes seconds), once per process. When the package moves on, so does validation.

Kinds of model and where the package lists them:
- `realtime`: `RealtimeSessionCreateRequest.model` (`openai/types/realtime/`)
- `live`: GPT-Live `SessionConfig.model` (`openai/types/live/`)
- `text`: `ChatModel` and `ResponsesModel` (`openai/types/shared/`): escalations, classifiers,
  Responses backends
- `transcription`: `AudioTranscription.model` (`openai/types/realtime/`)
"""

from __future__ import annotations

import ast
import datetime
import difflib
import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["realtime", "live", "text", "transcription"]
KINDS: tuple[Kind, ...] = ("realtime", "live", "text", "transcription")
State = Literal["current", "deprecated", "shut_down", "unsupported", "unknown"]

DEPRECATIONS_URL = "https://developers.openai.com/api/docs/deprecations"

#: kind -> (source file under openai/types, class or alias name, field name or None for an alias)
_SOURCES: dict[Kind, tuple[tuple[str, str, str | None], ...]] = {
    "realtime": (("realtime/realtime_session_create_request.py", "RealtimeSessionCreateRequest", "model"),),
    "live": (("live/session_config.py", "SessionConfig", "model"),),
    "text": (("shared/chat_model.py", "ChatModel", None), ("shared/responses_model.py", "ResponsesModel", None)),
    "transcription": (("realtime/audio_transcription.py", "AudioTranscription", "model"),),
}


@dataclass(frozen=True)
class Listing:
    """What the package says about one model name: listed at all, and any deprecation note."""

    name: str
    kind: Kind
    shutdown: datetime.date | None = None  # an announced shutdown date
    unsupported: bool = False  # "Not a supported model ID. Retained for SDK compatibility."


@dataclass(frozen=True)
class ModelStatus:
    """A model name's standing on a given day.

    `state` is `current`, `deprecated` (a shutdown is announced for `shutdown`, `days_left` away),
    `shut_down` (on or before that day), `unsupported` (listed only for SDK compatibility) or
    `unknown` (the package does not list it for this kind; `other_kinds` says where it does list it).
    """

    name: str
    kind: Kind
    state: State
    shutdown: datetime.date | None = None
    days_left: int | None = None
    other_kinds: tuple[Kind, ...] = ()


def model_status(name: str, kind: Kind, today: datetime.date | None = None) -> ModelStatus:
    """The standing of model `name` as a `kind` model on `today` (default: today's UTC date).

    Raises `ValueError` for an unknown kind; `LookupError` when the openai package is not installed.
    """
    today = today or datetime.datetime.now(datetime.UTC).date()
    listing = listings(kind).get(name)
    if listing is None:
        others = tuple(k for k in KINDS if k != kind and name in listings(k))
        return ModelStatus(name, kind, "unknown", other_kinds=others)
    if listing.unsupported:
        return ModelStatus(name, kind, "unsupported")
    if listing.shutdown is None:
        return ModelStatus(name, kind, "current")
    days = (listing.shutdown - today).days
    state: State = "shut_down" if days <= 0 else "deprecated"
    return ModelStatus(name, kind, state, listing.shutdown, max(days, 0))


def current_models(kind: Kind) -> list[str]:
    """The models of `kind` the package lists without any deprecation note, in its order."""
    return [n for n, listing in listings(kind).items() if listing.shutdown is None and not listing.unsupported]


def similar_current(name: str, kind: Kind, n: int = 1) -> list[str]:
    """Current models of `kind` whose names are closest to `name` (for did-you-mean)."""
    return difflib.get_close_matches(name, current_models(kind), n=n, cutoff=0.5)


def openai_version() -> str:
    """The installed openai package's version, from its `_version.py` (not imported)."""
    text = (_package_dir() / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    return match.group(1) if match else "?"


@functools.cache
def listings(kind: Kind) -> dict[str, Listing]:
    """Every model name of `kind` the package lists, in its order, with its deprecation note."""
    if kind not in _SOURCES:
        raise ValueError(f"unknown kind of model {kind!r} (expected one of {', '.join(KINDS)})")
    out: dict[str, Listing] = {}
    for file, owner, field in _SOURCES[kind]:
        names, doc = _literal_and_doc(_package_dir() / "types" / file, owner, field)
        notes = deprecation_notes(doc)
        for name in names:
            shutdown, unsupported = notes.get(name, (None, False))
            out.setdefault(name, Listing(name, kind, shutdown, unsupported))
    return out


def deprecation_notes(doc: str) -> dict[str, tuple[datetime.date | None, bool]]:
    """name -> (announced shutdown date, unsupported) from a docstring's "Deprecated values:" list."""
    if "Deprecated values:" not in doc:
        return {}
    block = doc.split("Deprecated values:", 1)[1]
    notes: dict[str, tuple[datetime.date | None, bool]] = {}
    for item in re.split(r"\n\s*- ", "\n" + block):
        text = " ".join(item.split())
        match = re.match(r'((?:"[^"]+",?\s*)+):\s*(.*)', text)
        if not match:
            continue
        names = re.findall(r'"([^"]+)"', match.group(1))
        date = re.search(r"shutdown\s+date:\s*(\d{4}-\d{2}-\d{2})", match.group(2))
        shutdown = datetime.date.fromisoformat(date.group(1)) if date else None
        unsupported = "not a supported model" in match.group(2).lower()
        for name in names:
            notes[name] = (shutdown, unsupported)
    return notes


def _package_dir() -> Path:
    spec = importlib.util.find_spec("openai")
    if spec is None or not spec.submodule_search_locations:
        raise LookupError("the openai package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _literal_and_doc(path: Path, owner: str, field: str | None) -> tuple[list[str], str]:
    """The string literals of a class field's (or module alias's) annotation, and its docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = tree.body
    if field is not None:
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner)
        body, target = cls.body, field
    else:
        target = owner
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == target:
            typed = node.annotation if field is not None else node.value
            following = body[i + 1] if i + 1 < len(body) else None
            doc = ""
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                doc = str(following.value.value)
            return _literals(typed), doc
    raise LookupError(f"{path.name} has no {owner}{'.' + field if field else ''}")


def _literals(node: ast.AST | None) -> list[str]:
    """The strings inside every `Literal[...]` of a type expression, in order."""
    out: list[str] = []
    for sub in ast.walk(node) if node is not None else ():
        if isinstance(sub, ast.Subscript) and getattr(sub.value, "id", getattr(sub.value, "attr", "")) == "Literal":
            for const in ast.walk(sub.slice):
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    out.append(const.value)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Support:
    """Which models a setting works with, per its docstring: `only` these (None: any), never `never`."""

    only: frozenset[str] | None = None
    never: frozenset[str] = frozenset()

    def allows(self, model: str) -> bool:
        return (self.only is None or model in self.only) and model not in self.never


@functools.cache
def transcription_support() -> dict[str, Support]:
    """Transcription setting -> the models its `AudioTranscription` docstring says it works with.

    Reads sentences such as "Supported by `gpt-transcribe` and `gpt-live-transcribe`", "Only
    supported with `gpt-realtime-whisper`" and "Prompt is not supported with `gpt-realtime-whisper`".
    """
    path = _package_dir() / "types" / "realtime" / "audio_transcription.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AudioTranscription")
    out: dict[str, Support] = {}
    for i, node in enumerate(cls.body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)) or node.target.id == "model":
            continue
        following = cls.body[i + 1] if i + 1 < len(cls.body) else None
        if not (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)):
            continue
        doc = " ".join(str(following.value.value).split())
        only = re.search(r"(?:Only supported with|Supported by) ((?:`[^`]+`(?:,? (?:and|or) |, )?)+)", doc)
        never = re.search(r"not supported with ((?:`[^`]+`(?:,? (?:and|or) |, )?)+)", doc)
        if only or never:
            out[node.target.id] = Support(
                frozenset(re.findall(r"`([^`]+)`", only.group(1))) if only else None,
                frozenset(re.findall(r"`([^`]+)`", never.group(1))) if never else frozenset(),
            )
    return out
