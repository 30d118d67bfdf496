"""The scenarios a server offers: the graph files given on its command line, loaded once at start."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from ..graph import build_graph, inline_svg
from ..graph._view import edge_id, node_ids
from ..spec import Document, SpecError
from ..spec import Session as SessionSettings
from ..validate import is_tests_file, load_graph

Codec = Literal["pcm16", "g711_ulaw"]
#: Samples per second of each codec the console offers (G.711 is a phone line's 8 kHz).
CODEC_RATES: dict[str, int] = {"pcm16": 24000, "g711_ulaw": 8000}


@dataclass
class Scenario:
    id: str
    doc: Document

    @property
    def name(self) -> str:
        return self.doc.spec.graph

    @property
    def simulated_ok(self) -> bool:
        """Whether it can run without a key (the simulator replays its demo)."""
        return self.doc.spec.demo is not None

    @cached_property
    def drawing(self) -> dict[str, Any]:
        """The graph's picture (the drawing of `engine graph --format html`) and the drawing id of each
        node (agents by name, states as `agent/state`) and edge (`u->v`)."""
        g = build_graph(self.doc)
        ids = node_ids(g)
        edges = {f"{u}->{v}": edge_id(ids, u, v) for u, v in g.edges()}
        return {"svg": inline_svg(self.doc, g), "nodes": ids, "edges": edges}

    def summary(self) -> dict[str, Any]:
        spec = self.doc.spec
        return {
            "id": self.id,
            "name": spec.graph,
            "description": spec.description or "",
            "start": spec.start,
            "agents": list(spec.agents),
            "demo": self.simulated_ok,
            "file": self.doc.path.name,
        }

    def variant(self, codec: Codec, *, push_to_talk: bool) -> Document:
        """The graph as a call with these audio settings runs it: the codec both ways, and no turn
        detection for push-to-talk (the client commits each turn)."""
        spec = self.doc.spec
        agents = {
            name: agent.model_copy(update={"session": _with_audio(agent.session, codec, push_to_talk, only_set=True)})
            if agent.session is not None
            else agent
            for name, agent in spec.agents.items()
        }
        session = _with_audio(spec.session, codec, push_to_talk, only_set=False)
        return dataclasses.replace(self.doc, spec=spec.model_copy(update={"session": session, "agents": agents}))


def _with_audio(
    settings: SessionSettings | None, codec: Codec, push_to_talk: bool, *, only_set: bool
) -> SessionSettings | None:
    """`settings` with the call's codec (and push-to-talk); `only_set`: change only what an agent wrote."""
    if settings is None:
        return None
    written = settings.model_dump(exclude_unset=True)
    audio = written.get("audio")
    if only_set and not audio:
        return settings
    audio = dict(audio or {})
    inp, out = dict(audio.get("input") or {}), dict(audio.get("output") or {})
    if not only_set or "format" in inp:
        inp["format"] = codec
    if not only_set or "format" in out:
        out["format"] = codec
    if push_to_talk and (not only_set or "turn_detection" in inp):
        inp["turn_detection"] = None
    audio["input"], audio["output"] = inp, out
    return SessionSettings.model_validate({**written, "audio": audio})


class Catalog:
    """Scenarios by id, in the order given; graph files that do not load are kept as `problems`."""

    def __init__(self, scenarios: list[Scenario], problems: list[str]) -> None:
        self.scenarios = {s.id: s for s in scenarios}
        self.problems = problems

    @classmethod
    def load(cls, paths: list[Path]) -> Catalog:
        """Load each FILE, and each graph file (`*.yaml`, not `*.tests.yaml`) in each DIR."""
        scenarios: list[Scenario] = []
        problems: list[str] = []
        taken: set[str] = set()
        for path in _graph_files(paths, problems):
            try:
                doc = load_graph(path)
            except SpecError as exc:
                problems.append(str(exc))
                continue
            except OSError as exc:
                problems.append(f"{path}: cannot read it: {exc.strerror or exc}")
                continue
            base = re.sub(r"[^a-z0-9_-]+", "-", doc.spec.graph.lower()).strip("-") or "graph"
            ident, n = base, 2
            while ident in taken:
                ident, n = f"{base}-{n}", n + 1
            taken.add(ident)
            scenarios.append(Scenario(ident, doc))
        return cls(scenarios, problems)

    def get(self, ident: str) -> Scenario | None:
        return self.scenarios.get(ident)


def _graph_files(paths: list[Path], problems: list[str]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in [*path.glob("*.yaml"), *path.glob("*.yml")] if not is_tests_file(p))
            if not found:
                problems.append(f"{path}: no graph files (*.yaml) in this folder")
            files += found
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files
