"""N concurrent calls against one server for a fixed window; prints one JSON object.

    python bench/voice/load.py console|twilio --url http://127.0.0.1:PORT --calls N --pid SERVER_PID

Each call sends a 20 ms frame of silence every 20 ms against the clock (the console: binary PCM16 at
24 kHz; Twilio: `media` JSON with base64 μ-law, Twilio's documented fields) and receives the agent's
audio, which bench/voice/sim.py streams at real time with a send timestamp in its first 8 bytes; a
Twilio call echoes each `mark` at once. Silence keeps the simulator's VAD quiet, so audio flows both
ways for the whole window. During the window (after every call is up and `--warmup` seconds), it
counts frames each way, reads the server process's CPU (utime+stime from /proc/PID/stat) before and
after, and keeps every audio frame's latency (arrival minus the simulator's stamp). It also reports
its own CPU load and how late its sends were, so a saturated client shows rather than hides.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import struct
import sys
import time
import urllib.request
from typing import Any

import aiohttp

FRAME_S = 0.020
PCM16_FRAME = bytes(960)  # 20 ms of PCM16 silence at 24 kHz
ULAW_FRAME = base64.b64encode(b"\xff" * 160).decode("ascii")  # 20 ms of μ-law silence at 8 kHz
_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (all threads)


def stamp_ns(b64: str) -> int:
    return struct.unpack("<q", base64.b64decode(b64[:12])[:8])[0]


class Window:
    def __init__(self) -> None:
        self.open = False
        self.up = 0
        self.down = 0
        self.latency_ms: list[float] = []
        self.late_ms: list[float] = []


async def pace(w: Window, send: Any) -> None:
    """Call `send(i)` every 20 ms against the clock (no drift), from a random phase."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    i = 0
    while True:
        due = start + i * FRAME_S
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif w.open:
            w.late_ms.append(-delay * 1000)
        await send(i)
        if w.open:
            w.up += 1
        i += 1


async def console_call(http: aiohttp.ClientSession, base: str, scenario: str, w: Window, up: asyncio.Event) -> None:
    async with http.ws_connect(base.replace("http", "ws", 1) + "/ws/call", max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"type": "start", "scenario": scenario, "codec": "pcm16"}))
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"console call refused: {msg}")
            if msg.data.startswith('{"type": "ready"') or msg.data.startswith('{"type":"ready"'):
                break
            if '"refused"' in msg.data[:30]:
                raise RuntimeError(msg.data)
        up.set()
        sender = asyncio.create_task(pace(w, lambda i: ws.send_bytes(PCM16_FRAME)))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                if msg.data.startswith('{"type":"audio"') and w.open:
                    data = msg.data[msg.data.index('"data":"') + 8 :]
                    w.latency_ms.append((time.monotonic_ns() - stamp_ns(data)) / 1e6)
                    w.down += 1
        finally:
            sender.cancel()


async def twilio_call(
    http: aiohttp.ClientSession, base: str, scenario: str, n: int, w: Window, up: asyncio.Event
) -> None:
    sid = f"MZbench{n:026d}"
    async with http.ws_connect(base.replace("http", "ws", 1) + "/twilio/media", max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": sid,
            "start": {
                "accountSid": "ACbench",
                "streamSid": sid,
                "callSid": f"CAbench{n:026d}",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"scenario": scenario, "From": f"+1555{n:07d}"},
            },
        }
        await ws.send_str(json.dumps(start))
        up.set()

        async def media(i: int) -> None:
            await ws.send_str(
                f'{{"event":"media","sequenceNumber":"{i + 2}","media":{{"track":"inbound","chunk":"{i + 1}",'
                f'"timestamp":"{i * 20}","payload":"{ULAW_FRAME}"}},"streamSid":"{sid}"}}'
            )

        sender = asyncio.create_task(pace(w, media))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                kind = event.get("event")
                if kind == "media":
                    if w.open:
                        w.latency_ms.append((time.monotonic_ns() - stamp_ns(event["media"]["payload"])) / 1e6)
                        w.down += 1
                elif kind == "mark":  # played at once: echo it, as Twilio does when the audio before it has played
                    await ws.send_str(json.dumps({"event": "mark", "streamSid": sid, "mark": event["mark"]}))
        finally:
            sender.cancel()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with urllib.request.urlopen(args.url + "/api/scenarios", timeout=30) as r:
        scenario = json.loads(r.read())["scenarios"][0]["id"]
    w = Window()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks: list[asyncio.Task[None]] = []
        for n in range(args.calls):
            up = asyncio.Event()
            if args.protocol == "console":
                task = asyncio.create_task(console_call(http, args.url, scenario, w, up))
            else:
                task = asyncio.create_task(twilio_call(http, args.url, scenario, n, w, up))
            tasks.append(task)
            waiter = asyncio.create_task(up.wait())
            done, _ = await asyncio.wait([task, waiter], timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                task.result()  # raises why the call failed
            if not done:
                raise RuntimeError(f"call {n} was not up after 30 s")
            if n % 20 == 19:
                await asyncio.sleep(0.05)  # calls arrive over time
        await asyncio.sleep(args.warmup)
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()
            raise RuntimeError(f"{len(failed)} calls ended before the window")
        sim0 = server_cpu_s(args.sim_pid) if args.sim_pid else 0.0
        cpu0, own0, wall0 = server_cpu_s(args.pid), time.process_time(), time.perf_counter()
        w.open = True
        await asyncio.sleep(args.seconds)
        w.open = False
        cpu, own, wall = server_cpu_s(args.pid) - cpu0, time.process_time() - own0, time.perf_counter() - wall0
        sim = server_cpu_s(args.sim_pid) - sim0 if args.sim_pid else float("nan")
        ended = sum(t.done() for t in tasks)
        for t in tasks:
            t.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
    frames = w.up + w.down
    return {
        "protocol": args.protocol,
        "calls": args.calls,
        "calls_ended_early": ended,
        "window_s": wall,
        "frames_up": w.up,
        "frames_down": w.down,
        "expected_each_way": round(args.calls * wall / FRAME_S),
        "server_cpu_load": cpu / wall,
        "server_us_per_frame": cpu / frames * 1e6 if frames else float("nan"),
        "server_us_per_call_s": cpu / (args.calls * wall) * 1e6,
        "p50_ms": pct(w.latency_ms, 0.50),
        "p99_ms": pct(w.latency_ms, 0.99),
        "max_ms": max(w.latency_ms, default=float("nan")),
        "client_cpu_load": own / wall,
        "sim_cpu_load": sim / wall,
        "client_late_p99_ms": pct(w.late_ms, 0.99) if w.late_ms else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", choices=["console", "twilio"])
    parser.add_argument("--url", required=True, help="the server's http base")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--pid", type=int, required=True, help="the server process, whose CPU is read")
    parser.add_argument("--sim-pid", type=int, help="the simulator process, whose CPU is reported too")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--cpu", type=int)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    print(json.dumps(asyncio.run(run(args))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
