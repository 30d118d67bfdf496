"""Run the whole benchmark and print the engine, the Agents SDK and a bare client side by side.

    pip install -e ".[bench]"          # the Agents SDK, for the comparison
    python bench/run.py                # everything (a few minutes)
    python bench/run.py --quick        # fewer sessions and repeats (under a minute)
    python bench/run.py --json out.json

The bench server (bench/server.py) runs in its own process pinned to one CPU and each
measurement (bench/measure.py) in a fresh process pinned to the other, so a client is charged
only for its own work and starts with nothing cached. Every figure is the median of `--repeats`
fresh processes. A client that is not installed (the SDK without the bench extra) is left out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.clients import VARIANTS  # noqa: E402

SDK, BARE = "agents-sdk", "bare-aiohttp"
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _pin(index: int) -> list[str]:
    """`--cpu N` for a process, when this machine has CPUs to spare."""
    return ["--cpu", str(_CPUS[index])] if len(_CPUS) >= 2 else []


@contextlib.contextmanager
def bench_server() -> Iterator[str]:
    """The bench server in its own process; yields its websocket URL."""
    cmd = [sys.executable, str(ROOT / "bench" / "server.py"), "--port", "0", *_pin(1)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the bench server did not start: {line!r}")
        yield f"ws://127.0.0.1:{line.split()[1]}/v1/realtime?model=gpt-realtime"
    finally:
        proc.terminate()
        proc.wait(10)


def measure(variant: str, test: str, url: str, *options: str) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "measure.py"), variant, test, "--url", url, *_pin(0), *options]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} {test} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(repeats: int, variant: str, test: str, url: str, *options: str) -> dict[str, Any]:
    """Each numeric field is the median over `repeats` fresh processes."""
    runs = [measure(variant, test, url, *options) for _ in range(repeats)]
    return {
        key: statistics.median(r[key] for r in runs) if isinstance(value, int | float) else value
        for key, value in runs[0].items()
    }


def available(variant: str) -> bool:
    probe = "import agents.realtime" if variant == SDK else "import engine"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, cwd=ROOT).returncode == 0


# --- command wall times ---------------------------------------------------------------------------------


def generated_graph(agents: int, folder: Path) -> Path:
    """A graph of `agents` agents in a ring with chords, each with its own tool, a prompt and a state plan."""
    lines = [
        f"graph: generated-{agents}",
        "model: gpt-realtime",
        "context: {company: Example Co}",
        "start: agent_0",
        "agents:",
    ]
    for i in range(agents):
        handoffs = sorted({(i + 1) % agents, (i + 7) % agents} - {i})
        lines += [
            f"  agent_{i}:",
            f"    description: Agent number {i} of {{{{ company }}}}.",
            f"    instructions: You are agent {i} at {{{{ company }}}}. Help with topic {i}, then hand off.",
            f"    tools: [tool_{i}]",
            f"    handoffs: [{', '.join(f'agent_{h}' for h in handoffs)}]",
            "    states:",
            "      initial: ask",
            "      steps:",
            "        ask: {instructions: [Ask what they need.], transitions: [{to: answer, when: you know}]}",
            "        answer: {instructions: [Answer briefly.], transitions: [{to: ask, when: they ask more}]}",
        ]
    lines.append("tools:")
    for i in range(agents):
        lines += [
            f"  tool_{i}:",
            f"    description: Look up record {i}.",
            "    parameters: {type: object, properties: {id: {type: string}}, required: [id]}",
            f'    returns: {{record: "{i}", id: "{{{{ args.id }}}}"}}',
        ]
    path = folder / f"generated_{agents}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wall_time(args: list[str], repeats: int) -> float:
    """Median wall time of `engine ARGS` in seconds, a fresh process each time (imports included)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"engine {' '.join(args)} failed:\n{done.stderr.decode()[-2000:]}")
    return statistics.median(times)


def command_times(repeats: int) -> dict[str, float]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        graphs = [*sorted((ROOT / "graphs").glob("*.yaml")), generated_graph(500, Path(tmp))]
        for graph in graphs:
            if graph.name.endswith(".tests.yaml"):
                continue
            name = graph.stem
            results[f"validate {name}"] = wall_time(["validate", str(graph)], repeats)
            results[f"compile --all {name}"] = wall_time(["compile", "--all", str(graph)], repeats)
    return results


# --- the run --------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    variants = [v for v in args.variants if available(v)]
    for missing in sorted(set(args.variants) - set(variants)):
        print(f"bench: {missing} is not installed; left out (pip install -e '.[bench]')", file=sys.stderr)
    results: dict[str, Any] = {"variants": variants, "clients": {v: {} for v in variants}}
    sessions = [1, 20, 50] if args.quick else [1, 100, 500]
    with bench_server() as url:
        for variant in variants:
            out = results["clients"][variant]
            if args.verbose:
                print(f"bench: {variant}", file=sys.stderr)
            out["start"] = median_of(args.repeats, variant, "start", url)
            deltas = "5000" if args.quick else "20000"
            out["audio"] = median_of(args.repeats, variant, "audio", url, "--deltas", deltas)
            turns = ["10", "200"] if args.quick else ["10", "1000"]
            out["roundtrips"] = median_of(args.repeats, variant, "roundtrips", url, "--turns", *turns)
            out["memory"] = median_of(1, variant, "memory", url, "--sessions", "50" if args.quick else "200")
            out["latency"] = {}
            for count in sessions:
                rounds = ["--seconds", "1", "--rounds", "3" if args.quick else "10"]
                out["latency"][count] = median_of(
                    args.repeats, variant, "latency", url, "--sessions", str(count), *rounds
                )
    results["turns"] = [int(t) for t in turns]
    results["commands"] = command_times(3 if args.quick else 7)
    return results


# --- the report -----------------------------------------------------------------------------------------


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}x" if base else "-"


def report(results: dict[str, Any]) -> str:
    variants, clients = results["variants"], results["clients"]
    sdk = clients.get(SDK)
    first, last = results["turns"]
    rows: list[tuple[str, str, list[float]]] = [
        ("CPU per audio delta", "µs", [clients[v]["audio"]["us_per_audio_delta"] for v in variants]),
    ]
    for kind, what in (("tool", "tool"), ("sync", "sync-tool"), ("handoff", "handoff")):
        for at in (first, last):
            label = f"CPU per {what} round trip after {at} turns"
            rows.append((label, "µs", [clients[v]["roundtrips"][f"{kind}_us_at_{at}"] for v in variants]))
    rows.append(("resident memory at start", "MB", [clients[v]["start"]["mb_at_start"] for v in variants]))
    rows.append(("memory per idle session", "kB", [clients[v]["memory"]["kb_per_idle_session"] for v in variants]))
    for count in clients[variants[0]]["latency"]:
        for q in ("p50", "p99"):
            label = f"{q} round trip, {count} streaming session{'s' * (int(count) != 1)}"
            rows.append((label, "ms", [clients[v]["latency"][count][f"{q}_ms"] for v in variants]))
        label = f"client CPU load, {count} streaming session{'s' * (int(count) != 1)}"
        rows.append((label, "cores", [clients[v]["latency"][count]["cpu_load"] for v in variants]))

    names = [VARIANTS[v] for v in variants]
    with_ratio = sdk is not None
    header = ["measure", "unit", *names, *([f"{n} / SDK" for n in names if n != VARIANTS[SDK]] if with_ratio else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    sdk_index = variants.index(SDK) if with_ratio else -1
    for label, unit, values in rows:
        cells = [label, unit, *(f"{v:,.1f}" if v >= 10 else f"{v:.2f}" for v in values)]
        if with_ratio:
            cells += [_ratio(v, values[sdk_index]) for i, v in enumerate(values) if i != sdk_index]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| command (wall time, fresh process) | s |", "|---|---|"]
    lines += [f"| `engine {name}` | {seconds:.3f} |" for name, seconds in results["commands"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sessions, turns and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per figure (default 3, quick 1)")
    parser.add_argument("--variants", nargs="+", default=["engine", SDK, BARE], choices=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(report(results))


if __name__ == "__main__":
    main()
