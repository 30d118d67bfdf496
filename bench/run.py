"""Run the whole benchmark and print the engine, the Agents SDK and a bare client side by side.

    pip install -e ".[bench]"          # the Agents SDK, for the comparison
    python bench/run.py                # everything (about ten minutes)
    python bench/run.py --quick        # fewer sessions and repeats (a few minutes)
    python bench/run.py --json out.json
    python bench/run.py --only scale --scale 100 500 --loop uvloop

The bench server (bench/server.py) runs in its own process pinned to one CPU and each
measurement (bench/measure.py) in a fresh process pinned to the other (`taskset`'s effect, by
`sched_setaffinity`), so a client is charged only for its own work and starts with nothing cached.
Every client process gets the same environment (glibc malloc thresholds fixed, so no client pays
for asyncio's 256 KiB read buffer being mapped and unmapped on every read) and the same event loop
(`--loop`). Variants are measured in turn within each repeat, so noise on the shared machine falls
on all of them alike; every figure is the median of `--repeats` fresh processes.

The headline is real-time scale: S sessions in one process on one core, each streaming 20 ms audio
deltas at real time with a tool call after each second, for each S of `--scale`; then, per client,
the largest S (to 50 sessions) whose p99 round trip stays under 50 ms. A client whose p99 passes
one second at some S is not run at larger ones (it no longer keeps real time).
A client that is not installed (the SDK without the bench extra) is left out.
"""

from __future__ import annotations

import argparse
import compileall
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

SDK, BARE = "agents-sdk", "bare-picows"
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
#: The same for every process: glibc's defaults map and unmap a 256 KiB read buffer on each socket read
#: (mmap/mremap/munmap), and adapt their thresholds differently in each process; fixed, none pays that.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 << 20), "MALLOC_TRIM_THRESHOLD_": str(16 << 20), "PYTHONHASHSEED": "0"}
#: p99 round trip a client must stay under to count as holding a session count.
P99_LIMIT_MS = 50.0
#: Past this p99 a client no longer keeps real time: larger counts are not run for it.
GIVE_UP_MS = 1000.0


def _env() -> dict[str, str]:
    return {**os.environ, **MALLOC_ENV}


def _pin(index: int) -> list[str]:
    """`--cpu N` for a process, when this machine has CPUs to spare."""
    return ["--cpu", str(_CPUS[index])] if len(_CPUS) >= 2 else []


@contextlib.contextmanager
def bench_server() -> Iterator[str]:
    """The bench server in its own process; yields its websocket URL."""
    cmd = [sys.executable, str(ROOT / "bench" / "server.py"), "--port", "0", *_pin(1)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=_env())
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the bench server did not start: {line!r}")
        yield f"ws://127.0.0.1:{line.split()[1]}/v1/realtime?model=gpt-realtime"
    finally:
        proc.terminate()
        proc.wait(10)


LOOP = "asyncio"
BEFORE: Path | None = None  # --before: the checkout whose engine the `engine-before` variant runs


def measure(variant: str, test: str, url: str, *options: str) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "measure.py"), variant, test, "--url", url, "--loop", LOOP]
    cmd += [*_pin(0), *options]
    env = _env()
    if variant == "engine-before" and BEFORE is not None:
        env["BENCH_ENGINE_ROOT"] = str(BEFORE)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} {test} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric field is the median over the runs; `spread` is each field's (max - min) / median."""
    out: dict[str, Any] = {}
    spread: dict[str, float] = {}
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [r[key] for r in runs]
            out[key] = statistics.median(values)
            if out[key]:
                spread[key] = (max(values) - min(values)) / abs(out[key])
        else:
            out[key] = value
    out["spread"] = spread
    out["repeats"] = len(runs)
    return out


def median_each(repeats: int, variants: list[str], test: str, url: str, *options: str) -> dict[str, dict[str, Any]]:
    """The median of `repeats` fresh processes for each variant, the variants taking turns in each repeat."""
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            runs[variant].append(measure(variant, test, url, *options))
    return {v: _median(r) for v, r in runs.items()}


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
    # Bytecode first, as any install has it: with PYTHONDONTWRITEBYTECODE set (as in some CI images)
    # each run would compile the engine's modules from source again, a fifth of validate's time.
    compileall.compile_dir(ROOT / "engine", quiet=1)
    compileall.compile_dir(ROOT / "graphs", quiet=1)
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


def _scale_point(args: argparse.Namespace, variants: list[str], url: str, count: int) -> dict[str, dict[str, Any]]:
    options = ["--sessions", str(count), "--seconds", "1", "--rounds", str(args.rounds)]
    return median_each(args.repeats, variants, "latency", url, *options)


def scale(args: argparse.Namespace, variants: list[str], url: str) -> dict[str, Any]:
    """p50/p99 and CPU at each session count, then each client's largest count under the p99 limit."""
    points: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in variants}
    running = list(variants)
    for count in args.scale:
        if args.verbose:
            print(f"bench: scale {count} sessions: {', '.join(running)}", file=sys.stderr)
        for variant, figures in _scale_point(args, running, url, count).items():
            points[variant][count] = figures
        running = [v for v in running if points[v][count]["p99_ms"] <= GIVE_UP_MS]
        if not running:
            break
    largest: dict[str, str] = {}
    if args.find_largest:
        for variant in variants:
            largest[variant] = _largest(args, variant, url, points[variant])
    return {"points": points, "largest": largest}


def _largest(args: argparse.Namespace, variant: str, url: str, points: dict[int, dict[str, Any]]) -> str:
    """The largest session count (to 50) with p99 under the limit, searched between the measured points."""
    held = [c for c, f in points.items() if f["p99_ms"] < P99_LIMIT_MS]
    failed = [c for c, f in points.items() if f["p99_ms"] >= P99_LIMIT_MS]
    low = max(held, default=0)
    high = min((c for c in failed if c > low), default=None)
    if high is None:
        return f">= {low}" if low else "-"
    while high - low > 50:
        middle = (low + high) // 2 // 50 * 50 or 50
        if middle in (low, high):
            break
        if args.verbose:
            print(f"bench: {variant} largest: trying {middle} sessions", file=sys.stderr)
        figures = _scale_point(args, [variant], url, middle)[variant]
        points[middle] = figures
        if figures["p99_ms"] < P99_LIMIT_MS:
            low = middle
        else:
            high = middle
    return str(low) if low else f"< {high}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    global LOOP, BEFORE
    LOOP, BEFORE = args.loop, args.before
    if args.before is not None and "engine-before" not in args.variants:
        args.variants.insert(1, "engine-before")
    variants = [v for v in args.variants if available(v) and (v != "engine-before" or args.before is not None)]
    for missing in sorted(set(args.variants) - set(variants)):
        print(f"bench: {missing} is not installed; left out (pip install -e '.[bench]')", file=sys.stderr)
    results: dict[str, Any] = {"variants": variants, "loop": args.loop, "clients": {v: {} for v in variants}}
    turns = ["10", "200"] if args.quick else ["10", "1000"]
    results["turns"] = [int(t) for t in turns]
    only = set(args.only or ["bulk", "scale", "commands"])
    started = time.perf_counter()
    with bench_server() as url:
        if "bulk" in only:
            steps: list[tuple[str, int, tuple[str, ...]]] = [
                ("start", args.repeats, ()),
                ("audio", args.repeats, ("--deltas", "5000" if args.quick else "20000")),
                ("roundtrips", args.repeats, ("--turns", *turns)),
                ("memory", 1, ("--sessions", "50" if args.quick else "200")),
            ]
            for test, repeats, options in steps:
                if args.verbose:
                    print(f"bench: {test}", file=sys.stderr)
                for variant, figures in median_each(repeats, variants, test, url, *options).items():
                    results["clients"][variant][test] = figures
        if "scale" in only:
            results["scale"] = scale(args, variants, url)
    if "commands" in only:
        results["commands"] = command_times(3 if args.quick else 7)
    results["minutes"] = (time.perf_counter() - started) / 60
    return results


# --- the report -----------------------------------------------------------------------------------------


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}x" if base else "-"


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def report(results: dict[str, Any]) -> str:
    variants, clients = results["variants"], results["clients"]
    names = [VARIANTS[v] for v in variants]
    lines: list[str] = [f"event loop: {results['loop']}", ""]
    others = [v for v in ("engine", "engine-before") if v in variants]
    bases = [b for b in (BARE, SDK) if b in variants]
    if clients[variants[0]].get("audio"):
        first, last = results["turns"]
        rows: list[tuple[str, str, list[float | None]]] = [
            ("CPU per audio delta", "µs", [clients[v]["audio"]["us_per_audio_delta"] for v in variants]),
        ]
        for kind, what in (("tool", "tool"), ("sync", "sync-tool"), ("handoff", "handoff")):
            for at in (first, last):
                label = f"CPU per {what} round trip after {at} turns"
                rows.append((label, "µs", [clients[v]["roundtrips"][f"{kind}_us_at_{at}"] for v in variants]))
        rows.append(("resident memory at start", "MB", [clients[v]["start"]["mb_at_start"] for v in variants]))
        rows.append(("memory per idle session", "kB", [clients[v]["memory"]["kb_per_idle_session"] for v in variants]))
        ratio_names = [f"{VARIANTS[o]} / {VARIANTS[b]}" for o in others for b in bases]
        table = []
        for label, unit, values in rows:
            by = dict(zip(variants, values, strict=True))
            cells = [label, unit, *(_cell(v) for v in values)]
            cells += [_ratio(by[o] or 0, by[b]) for o in others for b in bases]
            table.append(cells)
        lines += _table(["measure", "unit", *names, *ratio_names], table)
        spreads = [
            max(f["spread"].get(k, 0) for k in f["spread"] if k.endswith(("_delta", "_at_10")))
            for v in variants
            for f in (clients[v]["audio"], clients[v]["roundtrips"])
            if f.get("spread")
        ]
        if spreads:
            lines.append(f"\nlargest (max - min) / median over the repeats of a figure above: {max(spreads):.0%}")
    if "scale" in results:
        points, largest = results["scale"]["points"], results["scale"]["largest"]
        counts = sorted({c for v in variants for c in points[v]}, key=int)
        table = []
        for count in counts:
            cells = [str(count)]
            for v in variants:
                f = points[v].get(count)
                figures = (
                    f"{_cell(f['p50_ms'])} / {_cell(f['p99_ms'])} ms, {f['cpu_load']:.2f} cores, "
                    f"{f['us_per_delta']:.0f} µs/delta"
                    if f
                    else ""
                )
                cells.append(figures or "not run")
            for o in others:
                for b in bases:
                    mine, base = points[o].get(count), points[b].get(count)
                    cells.append(_ratio(mine["us_per_delta"], base["us_per_delta"]) if mine and base else "")
            loads = [points[v][count]["server_cpu_load"] for v in variants if count in points[v]]
            cells.append(f"{max(loads):.2f}")
            table.append(cells)
        if largest:
            label = f"largest count with p99 < {P99_LIMIT_MS:.0f} ms"
            table.append([label, *(largest.get(v, "-") for v in variants), *([""] * len(others) * len(bases)), ""])
        ratios = [f"CPU {VARIANTS[o]} / {VARIANTS[b]}" for o in others for b in bases]
        header = ["sessions (one core)", *(f"{n}: p50 / p99, load, CPU per delta" for n in names), *ratios]
        lines += ["", *_table([*header, "server CPU"], table)]
    if results.get("commands"):
        lines += ["", "| command (wall time, fresh process) | s |", "|---|---|"]
        lines += [f"| `engine {name}` | {seconds:.3f} |" for name, seconds in results["commands"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer turns, sessions and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per figure (default 3, quick 1)")
    parser.add_argument("--variants", nargs="+", default=["engine", BARE, SDK], choices=list(VARIANTS))
    parser.add_argument("--only", nargs="+", choices=["bulk", "scale", "commands"], help="run only these parts")
    parser.add_argument("--scale", type=int, nargs="+", help="session counts (default 100 300 500 1000)")
    parser.add_argument("--rounds", type=int, default=None, help="seconds (tool calls) per session at scale")
    parser.add_argument("--no-largest", dest="find_largest", action="store_false", help="skip the largest-count search")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="every client's event loop")
    parser.add_argument("--before", type=Path, help="also run the engine of this checkout (a before/after column)")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    parser.add_argument("--report", type=Path, help="print the tables of a --json file of an earlier run, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.loads(args.report.read_text(encoding="utf-8"))))
        return
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.scale = args.scale or ([100, 300, 500] if args.quick else [100, 300, 500, 1000])
    args.rounds = args.rounds or (5 if args.quick else 10)
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(report(results))


if __name__ == "__main__":
    main()
