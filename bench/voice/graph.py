"""The benchmark's graph: one agent, and a demo of model-only turns, one per call.

The simulator's script cursor is shared by its connections and each call's opening response takes
the next model-only turn, so the demo has a turn for every call of the largest run; each turn says
one long sentence (the tone speaks 60 ms a character), so the agent talks for the whole window.
"""

from __future__ import annotations

from pathlib import Path

SENTENCE = "This is the benchmark agent talking without a pause so that audio flows for the whole window. "


def write_graph(folder: Path, calls: int, seconds: float) -> Path:
    text = (SENTENCE * (int(seconds * 1000 / 60 / len(SENTENCE)) + 1)).strip()
    lines = [
        "graph: voice-bench",
        "description: One agent that talks for the whole benchmark window.",
        "model: gpt-realtime-2.1",
        "start: talker",
        "agents:",
        "  talker:",
        "    description: Talks.",
        "    instructions: Talk.",
        "demo:",
        "  turns:",
    ]
    for _ in range(calls + 10):
        lines += ["    - model:", f"        - say: {text}"]
    path = folder / "voice_bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
