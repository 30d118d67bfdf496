"""Both voice load benchmarks, `engine serve` and the bare relay side by side; prints a table.

    python bench/voice/run.py console --calls 1 50 200 --repeats 3
    python bench/voice/run.py twilio --calls 100 250 500 --repeats 3
    python bench/voice/run.py twilio --calls 100 --repeats 1 --json out.json

Every measurement starts fresh processes: the simulator (bench/voice/sim.py) and the load client
(bench/voice/load.py) share the first CPU; the server under test (`engine serve --url SIM`, or the
bare relay, bench/voice/relay.py) has the second to itself. Engine and bare alternate within each
repeat, so both see the same machine; each figure is the median over the repeats. Added latency is
the engine's percentile minus the bare relay's, per repeat, then the median.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from graph import write_graph  # noqa: E402

CPUS = sorted(os.sched_getaffinity(0))
LOAD_CPU, SERVER_CPU = (CPUS[0], CPUS[1]) if len(CPUS) >= 2 else (CPUS[0], CPUS[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pinned(cpu: int) -> Any:
    return lambda: os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def process(cmd: list[str], cpu: int, log: Path) -> Iterator[subprocess.Popen[str]]:
    with open(log, "w") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=log.parent, preexec_fn=_pinned(cpu)
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_http(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def measure(target: str, protocol: str, calls: int, graph: Path, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    sim_cmd = [sys.executable, str(HERE / "sim.py"), str(graph)]
    with process(sim_cmd, LOAD_CPU, tmp / "sim.err") as sim:
        assert sim.stdout is not None
        sim_url = sim.stdout.readline().strip()
        if not sim_url.startswith("ws://"):
            raise RuntimeError(f"the simulator did not start: {(tmp / 'sim.err').read_text()[-2000:]}")
        port = _free_port()
        if target == "engine":
            server_cmd = [
                sys.executable, "-m", "engine.cli", "serve", str(graph), "--url", sim_url, "--port", str(port),
                "--max-calls", "10000", "--db", str(tmp / "calls.db"), *(["--no-record"] if args.no_record else []),
            ]  # fmt: skip
        else:
            server_cmd = [sys.executable, str(HERE / "relay.py"), "--sim", sim_url, "--port", str(port)]
        with process(server_cmd, SERVER_CPU, tmp / f"{target}.err") as server:
            base = f"http://127.0.0.1:{port}"
            _wait_http(base + "/api/scenarios")
            load_cmd = [
                sys.executable, str(HERE / "load.py"), protocol, "--url", base, "--calls", str(calls),
                "--pid", str(server.pid), "--sim-pid", str(sim.pid),
                "--seconds", str(args.seconds), "--warmup", str(args.warmup),
                "--cpu", str(LOAD_CPU),
            ]  # fmt: skip
            done = subprocess.run(load_cmd, capture_output=True, text=True, timeout=240)
            if done.returncode != 0:
                raise RuntimeError(
                    f"{target} {protocol} x{calls} failed:\n{done.stderr[-3000:]}\n"
                    f"server log:\n{(tmp / f'{target}.err').read_text()[-3000:]}"
                )
            return json.loads(done.stdout.strip().splitlines()[-1])


_REPORTED = ("server_us_per_frame", "server_cpu_load", "p50_ms", "p99_ms", "client_cpu_load", "sim_cpu_load")


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", choices=["console", "twilio"])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--targets", nargs="+", default=["engine", "bare"], choices=["engine", "bare"])
    parser.add_argument("--json", type=Path, help="also write every run here")
    parser.add_argument("--no-record", action="store_true", help="engine serve without its call store (--no-record)")
    args = parser.parse_args()
    all_runs: dict[str, Any] = {}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        graph = write_graph(tmp, max(args.calls), seconds=args.seconds + args.warmup + max(args.calls) / 20 + 30)
        for calls in args.calls:
            runs: dict[str, list[dict[str, Any]]] = {t: [] for t in args.targets}
            for _ in range(args.repeats):
                for target in args.targets:
                    try:
                        result = measure(target, args.protocol, calls, graph, tmp, args)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:  # reported, and the run goes on
                        print(f"# {target} x{calls} FAILED: {str(exc)[-1500:]}", file=sys.stderr, flush=True)
                        continue
                    runs[target].append(result)
                    print(f"# {target} x{calls}: {json.dumps(result)}", file=sys.stderr, flush=True)
            all_runs[str(calls)] = runs
            row: dict[str, Any] = {"calls": calls}
            if not all(runs.values()):
                rows.append({**row, "failed": [t for t, r in runs.items() if not r]})
                continue
            for target in args.targets:
                for key in _REPORTED:
                    row[f"{target}_{key}"] = _median(runs[target], key)
            if set(args.targets) == {"engine", "bare"} and len(runs["engine"]) == len(runs["bare"]):
                pairs = list(zip(runs["engine"], runs["bare"], strict=True))
                ratios = (e["server_us_per_frame"] / b["server_us_per_frame"] for e, b in pairs)
                row["cpu_ratio"] = statistics.median(ratios)
                row["added_p50_ms"] = statistics.median(e["p50_ms"] - b["p50_ms"] for e, b in pairs)
                row["added_p99_ms"] = statistics.median(e["p99_ms"] - b["p99_ms"] for e, b in pairs)
            rows.append(row)
    print(json.dumps(rows, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "runs": all_runs}, indent=1))


if __name__ == "__main__":
    main()
