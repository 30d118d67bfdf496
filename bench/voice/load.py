"""N concurrent calls against one server for a fixed window; prints one JSON object.

    python bench/voice/load.py console|twilio --url http://127.0.0.1:PORT --calls N --pid SERVER_PID

Each call sends a 20 ms frame of silence every 20 ms against the clock (the console: binary PCM16 at
24 kHz; Twilio: `media` JSON with base64 μ-law, Twilio's documented fields), all of them from one
ticker, and receives the agent's
audio, which bench/voice/sim.py streams at real time with a send timestamp in its first 8 bytes; a
Twilio call echoes each `mark` at once. Silence keeps the simulator's VAD quiet, so audio flows both
ways for the whole window. During the window (after every call is up and `--warmup` seconds), it
counts frames each way, reads the server process's CPU (utime+stime from /proc/PID/stat) before and
after, and keeps every audio frame's latency (arrival minus the simulator's stamp). It also reports
its own CPU load and how late its sends were, so a saturated client shows rather than hides. It
uses picows, whose frames reach a callback with no task woken per frame: the load side, sharing a
core with the simulator, must outlast the server it measures.
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

from picows import WSListener, WSMsgType, WSTransport, ws_connect

FRAME_S = 0.020
PHASES = 20  # the calls' sending phases, a millisecond apart
PHASE_S = FRAME_S / PHASES
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


class Call(WSListener):
    """One call's websocket: agent audio is timed as it comes off the socket; a Twilio mark is echoed
    at once, as Twilio does when the audio before it has played."""

    def __init__(self, w: Window, twilio: bool, sid: str) -> None:
        super().__init__()
        self.w, self.twilio, self.sid = w, twilio, sid
        self.ws: WSTransport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()  # the console said `ready`
        self.ended: asyncio.Future[None] = loop.create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()
            return
        text = frame.get_payload_as_utf8_text()
        w = self.w
        if self.twilio:
            event = json.loads(text)
            kind = event.get("event")
            if kind == "media":
                if w.open:
                    w.latency_ms.append((time.monotonic_ns() - stamp_ns(event["media"]["payload"])) / 1e6)
                    w.down += 1
            elif kind == "mark":
                self.send_text(json.dumps({"event": "mark", "streamSid": self.sid, "mark": event["mark"]}))
        elif text.startswith('{"type":"audio"'):
            if w.open:
                data = text[text.index('"data":"') + 8 :]
                w.latency_ms.append((time.monotonic_ns() - stamp_ns(data)) / 1e6)
                w.down += 1
        elif not self.ready.done():
            if text.startswith(('{"type": "ready"', '{"type":"ready"')):
                self.ready.set_result(None)
            elif '"refused"' in text[:30]:
                self.ready.set_exception(RuntimeError(f"console call refused: {text}"))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError("the call closed before it was up"))
        self.ended.set_result(None)

    def send_text(self, text: str) -> None:
        assert self.ws is not None
        self.ws.send(WSMsgType.TEXT, text.encode())

    def send_frame(self, i: int) -> None:
        """The caller's frame number `i`: 20 ms of silence."""
        if self.twilio:
            self.send_text(
                f'{{"event":"media","sequenceNumber":"{i + 2}","media":{{"track":"inbound","chunk":"{i + 1}",'
                f'"timestamp":"{i * 20}","payload":"{ULAW_FRAME}"}},"streamSid":"{self.sid}"}}'
            )
        else:
            assert self.ws is not None
            self.ws.send(WSMsgType.BINARY, PCM16_FRAME)


async def tick(calls: list[Call], w: Window) -> None:
    """Every call sends a frame every 20 ms against the clock (no drift), the calls spread over 20
    phases a millisecond apart: one wakeup a millisecond for all of them, not one per call per frame."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    slot = 0
    while True:
        delay = start + slot * PHASE_S - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif w.open:
            w.late_ms.append(-delay * 1000)
        frame = slot // PHASES
        for call in calls[slot % PHASES :: PHASES]:
            if not call.ended.done():
                call.send_frame(frame)
                if w.open:
                    w.up += 1
        slot += 1


async def open_call(base: str, protocol: str, scenario: str, n: int, w: Window) -> Call:
    twilio = protocol == "twilio"
    sid = f"MZbench{n:026d}"
    path = "/twilio/media" if twilio else "/ws/call"
    _, call = await ws_connect(lambda: Call(w, twilio, sid), base.replace("http", "ws", 1) + path)
    assert isinstance(call, Call)
    if not twilio:
        call.send_text(json.dumps({"type": "start", "scenario": scenario, "codec": "pcm16"}))
        await call.ready
        return call
    call.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
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
    call.send_text(json.dumps(start))
    return call


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with urllib.request.urlopen(args.url + "/api/scenarios", timeout=30) as r:
        scenario = json.loads(r.read())["scenarios"][0]["id"]
    w = Window()
    calls: list[Call] = []
    ticker = asyncio.create_task(tick(calls, w))
    for n in range(args.calls):
        try:
            calls.append(await asyncio.wait_for(open_call(args.url, args.protocol, scenario, n, w), 30))
        except TimeoutError:
            raise RuntimeError(f"call {n} was not up after 30 s") from None
        if n % 20 == 19:
            await asyncio.sleep(0.05)  # calls arrive over time
    await asyncio.sleep(args.warmup)
    failed = sum(c.ended.done() for c in calls)
    if failed:
        raise RuntimeError(f"{failed} calls ended before the window")
    sim0 = server_cpu_s(args.sim_pid) if args.sim_pid else 0.0
    cpu0, own0, wall0 = server_cpu_s(args.pid), time.process_time(), time.perf_counter()
    w.open = True
    await asyncio.sleep(args.seconds)
    w.open = False
    cpu, own, wall = server_cpu_s(args.pid) - cpu0, time.process_time() - own0, time.perf_counter() - wall0
    sim = server_cpu_s(args.sim_pid) - sim0 if args.sim_pid else float("nan")
    ended = sum(c.ended.done() for c in calls)
    ticker.cancel()
    for call in calls:
        if call.ws is not None:
            call.ws.send_close()
            call.ws.disconnect()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.ended for c in calls), return_exceptions=True), 15)
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
