"""Twilio Media Streams: a phone call into a graph.

`POST /twilio/voice` (the number's voice webhook) answers with TwiML connecting the call to the
media websocket, `/twilio/media`, with the caller's number and the scenario as stream parameters.
When `TWILIO_AUTH_TOKEN` is set the webhook's `X-Twilio-Signature` is checked (Twilio's own
`RequestValidator`), and an unsigned or tampered request is refused.

On the websocket, Twilio's messages are bridged to a session: `start` opens it (the session speaks
`g711_ulaw`, so the caller's μ-law goes in and the agent's comes out untouched, base64 as it came);
`media` appends audio; the agent's audio goes back as `media`, with a `mark` naming the item and the
millisecond reached after every 100 ms of it and at its end, and Twilio's echo of a mark reports what
the caller has heard, so barge-in truncates there (to within 100 ms); barge-in sends `clear`; `dtmf`
digits are told to the agent; `stop` ends the call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Send

from ..runtime import ConnectFailed, PicowsTransport, PlaybackClock, Session
from ..runtime import events as ev
from ..runtime.graph_runtime import GraphRuntime
from ..runtime.line import CallLine, LineUnsupported
from ..runtime.playback import decoded_size
from ..spec import Document
from ._calls import OpenCall, ServeConfig, open_call
from ._catalog import Catalog, Scenario

log = logging.getLogger("engine.serve.twilio")
#: μ-law at 8 kHz: one byte a sample, eight a millisecond.
_BYTES_PER_MS = 8
#: A `mark` goes after this much agent audio (and at an item's end): a mark a frame would double the
#: messages each way, for truncation finer than anyone hears.
MARK_EVERY_MS = 100
#: Digits pressed within this long of each other are told to the agent as one entry.
DTMF_GAP_S = 1.0


def _public_url(request: Request) -> str:
    """The URL Twilio requested (what it signed): behind a proxy, as the proxy's headers say."""
    url = request.url
    proto = request.headers.get("x-forwarded-proto")
    host = request.headers.get("x-forwarded-host")
    if proto:
        url = url.replace(scheme=proto.split(",")[0].strip())
    if host:
        url = url.replace(netloc=host.split(",")[0].strip())
    return str(url)


def _pick(catalog: Catalog, wanted: str | None) -> Scenario | None:
    if wanted:
        return catalog.get(wanted)
    return next(iter(catalog.scenarios.values()), None)


async def voice_webhook(request: Request, catalog: Catalog, config: ServeConfig, refusal: str | None) -> Response:
    """TwiML for an incoming call: connect it to `/twilio/media` (or say why it cannot be taken)."""
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import Connect, VoiceResponse

    # Twilio posts application/x-www-form-urlencoded: the standard library's parser reads it.
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    if config.twilio_auth_token:
        signature = request.headers.get("x-twilio-signature", "")
        if not RequestValidator(config.twilio_auth_token).validate(_public_url(request), params, signature):
            return Response("invalid Twilio signature", status_code=403, media_type="text/plain")
    twiml = VoiceResponse()
    scenario = _pick(catalog, request.query_params.get("scenario"))
    if refusal is None and scenario is None:
        refusal = "no such scenario"
    if refusal is None and scenario is not None and not config.live and not scenario.simulated_ok:
        refusal = "this line is not available right now"
    if refusal is not None or scenario is None:
        twiml.say("Sorry, this line cannot take your call right now. Please try again later.")
        twiml.hangup()
        return Response(str(twiml), media_type="application/xml")
    public = _public_url(request)
    scheme = "wss" if public.startswith("https") else "ws"
    host = public.split("://", 1)[1].split("/", 1)[0]
    connect = Connect()
    stream = connect.stream(url=f"{scheme}://{host}/twilio/media")
    stream.parameter(name="scenario", value=scenario.id)
    for name in ("From", "To", "CallSid", "CallerName"):
        if params.get(name):
            stream.parameter(name=name, value=params[name])
    twiml.append(connect)
    return Response(str(twiml), media_type="application/xml")


class TwilioLine:
    """A Twilio call's line for the graph's call control, through Twilio's REST API (a call update)."""

    def __init__(self, account_sid: str, auth_token: str, call_sid: str) -> None:
        self._account_sid, self._auth_token, self._call_sid = account_sid, auth_token, call_sid

    async def _update(self, **changes: Any) -> None:
        from twilio.rest import Client

        def update() -> None:
            Client(self._account_sid, self._auth_token).calls(self._call_sid).update(**changes)

        await asyncio.to_thread(update)  # Twilio's client is synchronous

    async def transfer(self, to: str, summary: str) -> None:
        from twilio.twiml.voice_response import Dial, VoiceResponse

        twiml = VoiceResponse()
        dial = Dial()
        if to.startswith("sip:"):
            dial.sip(to)
        else:
            dial.number(to.removeprefix("tel:"))
        twiml.append(dial)
        await self._update(twiml=str(twiml))  # the media stream ends; the caller is connected to `to`

    async def hangup(self) -> None:
        await self._update(status="completed")

    async def send_dtmf(self, digits: str) -> None:
        raise LineUnsupported("a Twilio media stream cannot send digits to the caller")


class TwilioCall:
    """One Twilio media stream bridged to a session."""

    def __init__(
        self,
        receive: Receive,
        send: Send,
        catalog: Catalog,
        config: ServeConfig,
        runtime_for: Callable[[Document], GraphRuntime] | None,
        store: Any = None,
    ) -> None:
        self.id = f"twilio_{time.monotonic_ns()}"
        self._store = store
        self._receive = receive  # the server's own: fifty frames a second each way, no wrapper between
        self._send_frame = send
        self.catalog = catalog
        self.config = config
        self._runtime_for = runtime_for if config.live else None
        self.stream_sid: str | None = None
        self.call_sid: str | None = None
        self.playback = PlaybackClock()
        self._sent_ms: dict[str, float] = {}  # agent audio sent per item, in ms
        self._marked_ms: dict[str, float] = {}  # where the item's last mark was, in ms
        self._playing = False  # audio was sent since the last clear
        self._transport = PicowsTransport()
        self._call: OpenCall | None = None
        self._session: Session | None = None
        self._events_subscription: Any = None
        self._digits = ""
        self._digits_task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self.ended: str | None = None
        self.stream_closed = False  # Twilio's websocket is gone: nothing more can be sent on it
        self._done = asyncio.Event()

    def end(self, reason: str) -> None:
        self.ended = self.ended or reason
        self._done.set()

    async def run(self) -> None:
        """Read Twilio's messages until `stop` or a disconnect; the session's events go back as they come."""
        reader = asyncio.create_task(self._read_safely())
        done = asyncio.create_task(self._done.wait())
        try:
            await asyncio.wait([reader, done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, done, self._digits_task):
                if task is not None:
                    task.cancel()
            if self._call is not None:
                await self._call.close(self.ended)
            await self._transport.aclose()

    async def _read_safely(self) -> None:
        try:
            await self._read()
        except ConnectionError as exc:  # the session's connection is gone for good: the call is over
            self.ended = self.ended or f"connection lost: {exc}"

    async def _read(self) -> None:
        events: asyncio.Task[None] | None = None
        try:
            while True:
                frame = await self._receive()
                if frame["type"] != "websocket.receive":  # a disconnect
                    self.stream_closed = True
                    self.ended = self.ended or "the stream closed"
                    return
                text = frame.get("text") or frame.get("bytes") or b""
                try:
                    message = orjson.loads(text)
                    kind = message["event"]
                except (ValueError, KeyError, TypeError, RecursionError):
                    log.warning("skipping a malformed Twilio message: %.200s", text)
                    continue
                if kind == "start" and self._session is None:
                    if not await self._start(message):
                        return
                    assert self._session is not None
                    events = asyncio.create_task(self._events(self._events_subscription))
                elif kind == "media" and self._session is not None:
                    await self._media(message)
                elif kind == "mark":
                    self._mark(message)
                elif kind == "dtmf" and self._session is not None:
                    self._dtmf(message)
                elif kind == "stop":
                    self.ended = "the caller hung up"
                    return
                # `connected` carries nothing to act on
        finally:
            if events is not None:
                events.cancel()

    async def _start(self, message: dict[str, Any]) -> bool:
        start = message.get("start") or {}
        self.stream_sid = message.get("streamSid") or start.get("streamSid")
        self.call_sid = start.get("callSid")
        params = dict(start.get("customParameters") or {})
        scenario = _pick(self.catalog, params.pop("scenario", None))
        if scenario is None or (not self.config.live and not scenario.simulated_ok):
            log.warning("twilio stream %s: no scenario to run", self.stream_sid)
            self.ended = "no scenario"
            return False
        encoding = (start.get("mediaFormat") or {}).get("encoding", "audio/x-mulaw")
        if encoding != "audio/x-mulaw":
            log.warning("twilio stream %s: media format %s is not μ-law", self.stream_sid, encoding)
        context = {
            "caller": params.pop("From", None),
            "called": params.pop("To", None),
            "call_sid": self.call_sid,
            "stream_sid": self.stream_sid,
            **params,
        }
        doc = scenario.variant("g711_ulaw", push_to_talk=False)
        line: CallLine | None = None
        if self.config.live and self.config.twilio_account_sid and self.config.twilio_auth_token and self.call_sid:
            line = TwilioLine(self.config.twilio_account_sid, self.config.twilio_auth_token, self.call_sid)
        self._call = await open_call(
            doc,
            self.config,
            runtime_for=self._runtime_for,
            playback=self.playback,
            transport=self._transport,
            context={k: v for k, v in context.items() if v is not None},
            line=line,
            store=self._store,
            frontend="twilio",
            caller=context["caller"],
        )
        self._session = self._call.session
        self._events_subscription = self._session.subscribe(audio=True)
        try:
            await self._call.connect()
        except ConnectFailed as exc:
            log.warning("twilio stream %s: cannot reach the realtime server: %s", self.stream_sid, exc.reason)
            self.ended = "cannot reach the realtime server"
            return False
        await self._call.greet()  # the agent answers the phone
        return True

    async def _media(self, message: dict[str, Any]) -> None:
        media = message.get("media") or {}
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return
        payload = media.get("payload")
        if isinstance(payload, str):
            assert self._session is not None
            await self._session.send_audio(base64.b64decode(payload))

    def _mark(self, message: dict[str, Any]) -> None:
        name = (message.get("mark") or {}).get("name", "")
        item_id, _, ms = name.rpartition(":")
        if item_id and ms.isdigit():
            # Twilio echoes a mark once the audio before it has played (and at once after a `clear`,
            # for an item already cut: the clock keeps an item where it was cut).
            self.playback.report(item_id, int(ms))

    def _dtmf(self, message: dict[str, Any]) -> None:
        digit = str((message.get("dtmf") or {}).get("digit", ""))
        if not digit:
            return
        self._digits += digit
        if self._digits_task is not None:
            self._digits_task.cancel()
        self._digits_task = asyncio.create_task(self._tell_digits())

    async def _tell_digits(self) -> None:
        await asyncio.sleep(DTMF_GAP_S)
        digits, self._digits = self._digits, ""
        if self._session is not None and self._call is not None and digits:
            self._session.context["dtmf"] = digits
            with contextlib.suppress(ConnectionError):
                await self._call.tell(f"(The caller pressed the keys: {' '.join(digits)})")

    async def _events(self, subscription: Any) -> None:
        async for event in subscription:
            if isinstance(event, ev.Audio):
                await self._audio(event)
            elif isinstance(event, ev.AudioDone):
                await self._mark_end(event.item_id)
            elif isinstance(event, (ev.AudioInterrupted, ev.SpeechStarted)) and self._playing:
                self._playing = False
                await self._send({"event": "clear", "streamSid": self.stream_sid})
            elif isinstance(event, ev.CallEnded):
                self.end(f"call ended: {event.reason}")  # closing the stream hangs up what the line did not
                return
            elif isinstance(event, ev.Error) and event.fatal:
                self.end(f"connection lost: {event.message}")
                return

    async def _audio(self, audio: ev.Audio) -> None:
        # The payload goes out as the session received it: μ-law, base64, untouched.
        end = self._sent_ms.get(audio.item_id, 0.0) + decoded_size(audio.data) / _BYTES_PER_MS
        self._sent_ms[audio.item_id] = end
        self._playing = True
        sid = self.stream_sid
        await self._send_text(f'{{"event":"media","streamSid":"{sid}","media":{{"payload":"{audio.data}"}}}}')
        if end - self._marked_ms.get(audio.item_id, 0.0) >= MARK_EVERY_MS:
            await self._mark_at(audio.item_id, end)

    async def _mark_end(self, item_id: str) -> None:
        end = self._sent_ms.get(item_id)
        if end is not None and end > self._marked_ms.get(item_id, 0.0):
            await self._mark_at(item_id, end)

    async def _mark_at(self, item_id: str, ms: float) -> None:
        self._marked_ms[item_id] = ms
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": f"{item_id}:{int(ms)}"}})

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_text(orjson.dumps(message).decode())

    async def _send_text(self, text: str) -> None:
        async with self._send_lock:
            with contextlib.suppress(OSError, RuntimeError):  # the stream is gone: its reader ends the call
                await self._send_frame({"type": "websocket.send", "text": text})
