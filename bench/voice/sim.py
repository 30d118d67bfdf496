"""The engine's simulator as the benchmark's far end, in a process of its own; prints its URL.

    python bench/voice/sim.py GRAPH [--cpu N]

It is `engine.sim.Simulator` itself, with four benchmark settings: audio paced at real time, cut
into 20 ms deltas (the simulator's default is 100 ms), microphone appends dropped unparsed (the
callers send silence; parsing it and running the VAD would make this far end, on the load client's
CPU, the bottleneck), and the first 8 bytes of every audio delta
overwritten, just before it is sent, with `time.monotonic_ns()` (little-endian). Both relays pass
agent audio on untouched, so a client reads the stamp and knows how long the frame took to reach it;
CLOCK_MONOTONIC is one clock for every process on the machine. Nothing in engine/ is changed: the
patches live in this process only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import engine.sim.voice as voice
from engine.sim import Simulator
from engine.sim.realtime import RealtimeConnection
from engine.spec import load_document

voice.CHUNK_MS = 20  # 20 ms deltas, as a phone or a browser frame
_send = RealtimeConnection.send


async def _stamped_send(self: RealtimeConnection, event: dict[str, Any]) -> bool:
    if event.get("type") == "response.output_audio.delta":
        raw = bytearray(base64.b64decode(event["delta"]))
        raw[:8] = struct.pack("<q", time.monotonic_ns())
        event = {**event, "delta": base64.b64encode(raw).decode("ascii")}
    return await _send(self, event)


RealtimeConnection.send = _stamped_send  # type: ignore[method-assign]
_on_text = RealtimeConnection._on_text


async def _on_text_dropping_appends(self: RealtimeConnection, data: str) -> None:
    # The callers send silence, which the VAD would only confirm: skipping it keeps the far end,
    # which shares a CPU with the load client, from being the bottleneck of the benchmark.
    if 'input_audio_buffer.append"' in data[:48]:
        return
    await _on_text(self, data)


RealtimeConnection._on_text = _on_text_dropping_appends  # type: ignore[method-assign]


async def serve(graph: Path, port: int) -> None:
    doc = load_document(graph)
    assert doc.spec.demo is not None, f"{graph} has no demo"
    sim = Simulator(doc.spec.demo, realtime_pacing=True, speech="tone", record=False, port=port)
    await sim.start()
    print(sim.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("graph", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.graph, args.port))


if __name__ == "__main__":
    main()
