"""One measurement of one client, in a process of its own; prints one JSON object.

    python bench/measure.py VARIANT TEST --url ws://127.0.0.1:PORT/v1/realtime [options]

TEST is `start` (resident memory once the client is imported and configured), `audio` (CPU per
audio delta), `roundtrips` (CPU per tool, sync tool and handoff round trip after 10 and after N turns),
`latency` (round-trip percentiles with S sessions streaming audio at real time) or `memory`
(resident memory per idle session). CPU is this process's user+system time (`time.process_time`),
so the server, in its own process, is never counted. `--loop uvloop` runs the client on uvloop
(bench/run.py runs every client on the same loop). bench/run.py runs these and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `engine` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("BENCH_ENGINE_ROOT"):  # `run.py --before DIR`: the engine of another checkout
    sys.path.insert(0, os.environ["BENCH_ENGINE_ROOT"])

from bench.clients import BenchClient, Clients, prepare


def rss_mb() -> float:
    """Resident memory of this process now (not the peak), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def _open(clients: Clients, url: str) -> BenchClient:
    client = clients.new()
    await client.open(url)
    return client


async def measure_audio(clients: Clients, url: str, deltas: int, repeats: int) -> dict[str, Any]:
    client = await _open(clients, url)
    try:
        await client.turn("audio 200", 1)  # warm up: lazy imports, first-use caches
        best = float("inf")
        for _ in range(repeats):
            before = client.audio_deltas
            cpu = time.process_time()
            await client.turn(f"audio {deltas}", 1)
            spent = time.process_time() - cpu
            if client.audio_deltas - before != deltas or client.audio_bytes != client.audio_deltas * 960:
                raise RuntimeError(
                    f"expected {deltas} audio deltas, the client delivered {client.audio_deltas - before}"
                )
            best = min(best, spent)
    finally:
        await client.close()
    return {"us_per_audio_delta": best / deltas * 1e6, "deltas": deltas, "repeats": repeats}


async def _cpu_per_round_trip(client: BenchClient, kind: str, count: int) -> float:
    cpu = time.process_time()
    await client.turn(f"{kind} {count}", count + 1)  # `count` calls, then the closing response
    return (time.process_time() - cpu) / count * 1e6


async def measure_roundtrips(clients: Clients, url: str, count: int, turns: list[int]) -> dict[str, Any]:
    client = await _open(clients, url)
    result: dict[str, Any] = {"round_trips": count}
    done = 0
    try:
        await client.turn("tool 2", 3)  # warm up
        await client.turn("sync 2", 3)
        await client.turn("handoff 2", 3)
        for target in turns:
            cpu, start = time.process_time(), done
            while done < target:
                await client.turn("turn", 1)
                done += 1
            if done > start:
                result[f"us_per_turn_to_{target}"] = (time.process_time() - cpu) / (done - start) * 1e6
            result[f"tool_us_at_{target}"] = await _cpu_per_round_trip(client, "tool", count)
            result[f"sync_us_at_{target}"] = await _cpu_per_round_trip(client, "sync", count)
            result[f"handoff_us_at_{target}"] = await _cpu_per_round_trip(client, "handoff", count)
    finally:
        await client.close()
    return result


def _http(url: str, method: str = "GET") -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
        return json.loads(response.read())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


async def measure_latency(clients: Clients, url: str, sessions: int, seconds: float, rounds: int) -> dict[str, Any]:
    http_base = url.replace("ws://", "http://", 1).split("/v1/", 1)[0]
    opened: list[BenchClient] = []
    for start in range(0, sessions, 50):  # connect in batches, as calls arrive over time
        opened += await asyncio.gather(*(_open(clients, url) for _ in range(start, min(sessions, start + 50))))
    await asyncio.gather(*(c.turn("noop", 1) for c in opened))
    await asyncio.to_thread(_http, f"{http_base}/reset", "POST")

    async def converse(client: BenchClient) -> None:
        await asyncio.sleep(random.uniform(0, seconds))  # calls are not in step with each other
        await client.turn(f"live {seconds} {rounds}", rounds + 1, timeout=seconds * rounds * 20 + 60)

    audio = sum(c.audio_deltas for c in opened)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(converse(c) for c in opened))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    audio = sum(c.audio_deltas for c in opened) - audio
    stats = await asyncio.to_thread(_http, f"{http_base}/stats")
    await asyncio.gather(*(c.close() for c in opened))
    rtt = stats["rtt_ms"]
    expected = sessions * rounds * max(1, round(seconds / 0.02))
    if audio < expected or len(rtt) < sessions * rounds:
        raise RuntimeError(f"{audio} of {expected} audio deltas and {len(rtt)} of {sessions * rounds} calls arrived")
    return {
        "sessions": sessions,
        "p50_ms": _percentile(rtt, 0.50),
        "p99_ms": _percentile(rtt, 0.99),
        "max_ms": max(rtt, default=float("nan")),
        "round_trips": len(rtt),
        "cpu_load": cpu / wall,
        "us_per_delta": cpu / max(audio, 1) * 1e6,  # everything included (calls too), per audio delta
        "server_cpu_load": stats["cpu_load"],
        "load_average": os.getloadavg()[0],  # the machine's (other processes compete for the core)
        "audio_per_s": audio / wall,
        "wall_s": wall,
    }


async def measure_memory(clients: Clients, url: str, sessions: int) -> dict[str, Any]:
    first = await _open(clients, url)  # the first session pays for lazy imports and shared caches
    await first.turn("noop", 1)
    gc.collect()
    base = rss_mb()
    opened: list[BenchClient] = []
    for start in range(0, sessions, 50):
        opened += await asyncio.gather(*(_open(clients, url) for _ in range(start, min(sessions, start + 50))))
    await asyncio.gather(*(c.turn("noop", 1) for c in opened))
    gc.collect()
    per_session = (rss_mb() - base) / sessions
    await asyncio.gather(*(c.close() for c in [first, *opened]))
    return {"mb_after_first_session": base, "kb_per_idle_session": per_session * 1000, "sessions": sessions}


async def run(variant: str, test: str, args: argparse.Namespace) -> dict[str, Any]:
    before = rss_mb()
    clients = prepare(variant)
    if test == "start":
        return {"mb_at_start": rss_mb(), "mb_interpreter": before}
    try:
        if test == "audio":
            return await measure_audio(clients, args.url, args.deltas, args.repeats)
        if test == "roundtrips":
            return await measure_roundtrips(clients, args.url, args.count, args.turns)
        if test == "latency":
            return await measure_latency(clients, args.url, args.sessions, args.seconds, args.rounds)
        if test == "memory":
            return await measure_memory(clients, args.url, args.sessions)
        raise ValueError(f"unknown test {test!r}")
    finally:
        await clients.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant")
    parser.add_argument("test", choices=["start", "audio", "roundtrips", "latency", "memory"])
    parser.add_argument("--url", default="ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime")
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    parser.add_argument("--deltas", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=100, help="round trips measured at each point")
    parser.add_argument("--turns", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0, help="audio per response in the latency test")
    parser.add_argument("--rounds", type=int, default=10, help="tool round trips per session in the latency test")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the client's event loop")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args.variant, args.test, args))
    else:
        result = asyncio.run(run(args.variant, args.test, args))
    print(json.dumps({"variant": args.variant, "test": args.test, **result}))


if __name__ == "__main__":
    main()
