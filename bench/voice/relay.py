"""The bare relay: the same two protocols as `engine serve`, with no engine in between.

    python bench/voice/relay.py --sim ws://127.0.0.1:PORT/v1/realtime [--port N] [--cpu N]

A raw ASGI app under uvicorn (the server `engine serve` runs on) with one picows websocket to the
simulator per call (the client the engine's transport uses, its frames queued for the call's writer
as they come off the socket), so the difference from `engine serve` is the engine's own work: the
session, its events, the console's wire tap, records, marks.

- `/ws/call`, the console's protocol: a `start` text frame, then binary microphone frames, sent on
  as `input_audio_buffer.append`; each of the simulator's audio deltas comes back as
  `{"type":"audio","item_id":..,"data":..}` and every other event as `{"type":"event","event":..}`.
- `/twilio/media`, Twilio Media Streams: `start` opens the call (a μ-law session), `media` payloads go
  on as appends (base64 untouched), audio deltas go back as `media`, with a `mark` after every 100 ms
  of an item's audio and at its end (as `engine serve` marks); marks are read and dropped.

Frames are parsed with orjson, as the engine parses them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from collections import deque
from typing import Any

import orjson
import uvicorn
from picows import WSListener, WSMsgType, WSTransport, ws_connect


def _session_update(codec: str) -> str:
    fmt = {"type": "audio/pcmu"} if codec == "g711_ulaw" else {"type": "audio/pcm", "rate": 24000}
    session = {
        "type": "realtime",
        "instructions": "You are a bench relay.",
        "audio": {"input": {"format": fmt, "turn_detection": {"type": "server_vad"}}, "output": {"format": fmt}},
    }
    return json.dumps({"type": "session.update", "session": session})


class Sim(WSListener):
    """One call's websocket to the simulator: its text frames wait in order for `next()`."""

    def __init__(self) -> None:
        super().__init__()
        self.ws: WSTransport | None = None
        self._frames: deque[str | None] = deque()  # None: the connection ended
        self._waiting: asyncio.Future[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self._put(frame.get_payload_as_utf8_text())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._put(None)

    def _put(self, text: str | None) -> None:
        self._frames.append(text)
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)

    async def next(self) -> str | None:
        while not self._frames:
            self._waiting = asyncio.get_running_loop().create_future()
            await self._waiting
        return self._frames.popleft()

    def send(self, text: str) -> None:
        assert self.ws is not None
        self.ws.send(WSMsgType.TEXT, text.encode())


class Relay:
    def __init__(self, sim_url: str) -> None:
        self.sim_url = sim_url + ("&" if "?" in sim_url else "?") + "model=gpt-realtime-2.1"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "websocket":  # the load client asks which scenario to call
            found = scope["path"] == "/api/scenarios"
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200 if found else 404, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"scenarios": [{"id": "bench"}]}' if found else b""})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        twilio = scope["path"] == "/twilio/media"
        first = await receive()
        if first["type"] != "websocket.receive":
            return
        stream_sid = ""
        if twilio:  # `connected` first, then `start`
            message = json.loads(first.get("text") or "{}")
            while message.get("event") != "start":
                message = json.loads((await receive()).get("text") or "{}")
            stream_sid = message["streamSid"]
        ws, sim = await ws_connect(Sim, self.sim_url)
        assert isinstance(sim, Sim)
        try:
            sim.send(_session_update("g711_ulaw" if twilio else "pcm16"))
            sim.send('{"type":"response.create"}')
            if not twilio:
                await send({"type": "websocket.send", "text": '{"type":"ready"}'})
            down = asyncio.create_task(self._down(sim, send, twilio, stream_sid))
            try:
                await self._up(receive, sim, twilio)
            finally:
                down.cancel()
        finally:
            ws.send_close()
            ws.disconnect()

    async def _up(self, receive: Any, sim: Sim, twilio: bool) -> None:
        while (message := await receive())["type"] == "websocket.receive":
            if twilio:
                event = orjson.loads(message["text"])
                kind = event["event"]
                if kind == "media":
                    sim.send(f'{{"type": "input_audio_buffer.append", "audio": "{event["media"]["payload"]}"}}')
                elif kind == "stop":
                    return
            elif (data := message.get("bytes")) is not None:
                audio = base64.b64encode(data).decode("ascii")
                sim.send(f'{{"type": "input_audio_buffer.append", "audio": "{audio}"}}')
            elif '"stop"' in (message.get("text") or ""):
                return

    async def _down(self, sim: Sim, send: Any, twilio: bool, sid: str) -> None:
        ended: dict[str, float] = {}  # ms of audio sent per item
        marked: dict[str, float] = {}  # where its last mark was
        while (text := await sim.next()) is not None:
            event = orjson.loads(text)
            kind = event.get("type")
            if kind == "response.output_audio.delta":
                item, data = event["item_id"], event["delta"]
                if twilio:
                    ended[item] = ended.get(item, 0.0) + (len(data) * 3 // 4 - data.count("=", -2)) / 8
                    await send(
                        {
                            "type": "websocket.send",
                            "text": f'{{"event":"media","streamSid":"{sid}","media":{{"payload":"{data}"}}}}',
                        }
                    )
                    if ended[item] - marked.get(item, 0.0) >= 100:
                        await self._mark(send, sid, item, ended, marked)
                else:
                    await send(
                        {"type": "websocket.send", "text": f'{{"type":"audio","item_id":"{item}","data":"{data}"}}'}
                    )
            elif twilio and kind == "response.output_audio.done" and event.get("item_id") in ended:
                if ended[event["item_id"]] > marked.get(event["item_id"], 0.0):
                    await self._mark(send, sid, event["item_id"], ended, marked)
            elif not twilio:
                await send({"type": "websocket.send", "text": f'{{"type":"event","event":{text}}}'})

    @staticmethod
    async def _mark(send: Any, sid: str, item: str, ended: dict[str, float], marked: dict[str, float]) -> None:
        marked[item] = ended[item]
        mark = {"event": "mark", "streamSid": sid, "mark": {"name": f"{item}:{int(ended[item])}"}}
        await send({"type": "websocket.send", "text": orjson.dumps(mark).decode()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    config = uvicorn.Config(Relay(args.sim), host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    print("relay: starting", file=sys.stderr, flush=True)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:  # the loop engine serve runs on
        runner.run(server.serve())


if __name__ == "__main__":
    main()
