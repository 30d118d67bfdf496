"""OpenAI SIP calls: `POST /openai/webhook` takes `realtime.call.incoming` and `live.transport.incoming`
(and its deprecated twin `live.call.incoming`) and runs the graph on the call.

The delivery is verified with the openai package's `webhooks.unwrap` and `OPENAI_WEBHOOK_SECRET`
(the standard-webhooks signature: unsigned, stale or tampered deliveries are refused with 400); a
delivery seen before (its `webhook-id`) is answered 200 and not acted on again, nor is a call taken
already (by its id, or the SIP `Call-ID` of its INVITE). SIP headers (From, To, X-…) land in the context.
Over capacity the call is rejected with 486 Busy Here.

Which API answers: `engine serve --api`, else the graph's `api:`. The same pending call may emit both
a Realtime and a GPT-Live event, and the first accept picks the API: only the event of the graph's
API is acted on, the other is answered `ignored`, so a call is never accepted twice.

- Realtime: accepted with the start agent's compiled session (`realtime.calls.accept`), then the
  engine attaches with the `call_id` and sends the full `session.update`.
- GPT-Live: accepted with the start agent's compiled `session.start` config (`live.sessions.accept`,
  `type: live`, no audio format: SIP negotiates it), then the engine attaches to the session's
  sideband (`/live/sessions/{id}/attach`) and is the model's backend; transfers and hang-ups go
  through `live.sessions.refer` / `hangup`, DTMF out on the sideband.

Offline (no key) the call runs on a simulator that serves the same calls endpoints and sideband, so
the whole path but OpenAI's own accept runs here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..compile import compile_session
from ..compile.live import compile_live_start
from ..runtime import PicowsTransport, PlaybackClock
from ..runtime import events as ev
from ..runtime.graph_runtime import GraphRuntime, responses_base
from ..runtime.line import RealtimeCallLine
from ..runtime.live import live_responses_base
from ..runtime.live.line import LiveCallLine
from ..spec import Document
from ._calls import Api, OpenCall, ServeConfig, open_call
from ._catalog import Catalog

log = logging.getLogger("engine.serve.sip")
BUSY = 486
#: The session fields `calls.accept` takes (the rest of a compiled session.update goes out once attached).
_ACCEPT_FIELDS = frozenset(
    {"type", "audio", "include", "instructions", "max_output_tokens", "model", "output_modalities",
     "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools", "tracing", "truncation"}
)  # fmt: skip
_SEEN_LIMIT = 10_000


def accept_fields(doc: Document, context: dict[str, Any], call_id: str) -> dict[str, Any]:
    """What `calls.accept` is sent: the start agent's compiled session (SIP: the call keeps its codec).
    The engine sends the full `session.update` again once attached, so nothing left out here is lost."""
    event = compile_session(doc, doc.spec.start, context={**doc.spec.context, **context}, call_id=call_id)
    return {k: v for k, v in event["session"].items() if k in _ACCEPT_FIELDS}


def live_accept_session(doc: Document, context: dict[str, Any]) -> dict[str, Any]:
    """The `session` `live.sessions.accept` is sent: the start agent's compiled `session.start` config
    (as `engine compile --api live` prints it) with `type: live`, and no audio format (SIP negotiates it)."""
    start = compile_live_start(doc, context={**doc.spec.context, **context}, negotiated_audio=True)
    return {"type": "live", **start["session"]}


#: The webhook events that offer an incoming SIP call, and the API each is for.
INCOMING: dict[str, Api] = {
    "realtime.call.incoming": "realtime",
    "live.transport.incoming": "live",
    "live.call.incoming": "live",  # deprecated by OpenAI; old subscriptions still send it
}


def incoming_id(event: Any) -> str:
    """The id a call is accepted by: Realtime's `call_id` (`rtc_…`), GPT-Live's `session_id` (`live_…`)."""
    data = event.data
    return str(data.call_id if event.type == "realtime.call.incoming" else data.session_id)


def sip_context(headers: list[Any]) -> dict[str, Any]:
    """SIP headers as context values: `caller` (From), `called` (To), and every header by name."""
    values = {str(getattr(h, "name", "")): str(getattr(h, "value", "")) for h in headers or ()}
    context: dict[str, Any] = {"sip_headers": values}
    if "From" in values:
        context["caller"] = values["From"]
    if "To" in values:
        context["called"] = values["To"]
    return context


class SipCalls:
    """The webhook and the calls it started."""

    def __init__(
        self,
        catalog: Catalog,
        config: ServeConfig,
        runtime_for: Callable[[Document], GraphRuntime],
        *,
        webhook_secret: str,
        refusal: Callable[[], str | None],
        add: Callable[[Any], None],
        remove: Callable[[Any], None],
        store: Any = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config
        self._runtime_for = runtime_for
        self._secret = webhook_secret
        self._refusal = refusal
        self._add, self._remove = add, remove
        self._seen: OrderedDict[str, None] = OrderedDict()  # webhook deliveries
        self._taken: OrderedDict[str, None] = OrderedDict()  # calls answered or refused, and their INVITEs
        self._client: Any = None
        self.tasks: set[asyncio.Task[None]] = set()

    def _openai(self) -> Any:
        import openai

        if self._client is None:
            url = self.config.url
            base = live_responses_base(url) if url and "/live/" in url else responses_base(url)
            self._client = openai.AsyncOpenAI(
                api_key=self.config.api_key or "unset", base_url=base, webhook_secret=self._secret or None
            )
        return self._client

    async def aclose(self) -> None:
        """Close the calls API client (the server is stopping; its calls have ended)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def _remember(self, seen: OrderedDict[str, None], key: str) -> None:
        seen[key] = None
        while len(seen) > _SEEN_LIMIT:
            seen.popitem(last=False)

    async def webhook(self, request: Request) -> Response:
        import openai

        if not self._secret:
            return JSONResponse({"error": "OPENAI_WEBHOOK_SECRET is not set on this server"}, status_code=503)
        body = await request.body()
        try:
            event = self._openai().webhooks.unwrap(body, dict(request.headers))
        except openai.InvalidWebhookSignatureError as exc:
            return JSONResponse({"error": f"invalid webhook signature: {exc}"}, status_code=400)
        except (ValueError, openai.OpenAIError) as exc:
            return JSONResponse({"error": f"unreadable webhook: {exc}"}, status_code=400)
        delivery = request.headers.get("webhook-id", "")
        if delivery in self._seen:
            return JSONResponse({"status": "duplicate"})
        self._remember(self._seen, delivery)
        api = INCOMING.get(event.type)
        if api is None:
            return JSONResponse({"status": "ignored", "type": event.type})
        call_id = incoming_id(event)
        context = sip_context(event.data.sip_headers)
        invite = next((v for k, v in context["sip_headers"].items() if k.lower() in ("call-id", "i")), "")
        if call_id in self._taken or (invite and f"sip:{invite}" in self._taken):
            return JSONResponse({"status": "duplicate", "call_id": call_id})  # one call, offered again
        wanted = request.query_params.get("scenario")  # the webhook URL set in OpenAI's dashboard may name one
        scenario = self.catalog.get(wanted) if wanted else next(iter(self.catalog.scenarios.values()), None)
        if scenario is not None and self.config.api_for(scenario.doc) != api:
            # The same INVITE offered on the other API too: the first accept picks the API, and it is ours.
            on = self.config.api_for(scenario.doc)
            log.info("sip: %s ignored: '%s' runs on %s and takes the call from its own event", call_id, scenario.id, on)
            return JSONResponse({"status": "ignored", "call_id": call_id, "reason": f"'{scenario.id}' runs on {on}"})
        refusal = self._refusal()
        if refusal is None and (scenario is None or (not self.config.live and not scenario.simulated_ok)):
            refusal = "no scenario to run"
        self._remember(self._taken, call_id)
        if invite:
            self._remember(self._taken, f"sip:{invite}")
        if refusal is not None:
            if self.config.live:
                calls = self._openai().live.sessions if api == "live" else self._openai().realtime.calls
                try:
                    await calls.reject(call_id, status_code=BUSY)
                except openai.OpenAIError as exc:
                    log.warning("sip: rejecting %s failed: %s", call_id, exc)
            return JSONResponse({"status": "rejected", "reason": refusal, "call_id": call_id})
        assert scenario is not None
        call = SipCall(call_id, scenario.doc, context, self, api)
        self._add(call)
        task = asyncio.create_task(call.run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return JSONResponse({"status": "accepted", "call_id": call_id, "api": api})


class SipCall:
    def __init__(self, call_id: str, doc: Document, context: dict[str, Any], owner: SipCalls, api: Api) -> None:
        self.id = f"sip_{call_id}"
        self.call_id = call_id
        self.doc = doc
        self.context = context
        self.api = api
        self._owner = owner
        self._done = asyncio.Event()
        self.ended: str | None = None
        self.opened: OpenCall | None = None  # the session (and offline its simulator) once opened

    def end(self, reason: str) -> None:
        self.ended = self.ended or reason
        self._done.set()

    async def _until_lost(self, events: Any) -> None:
        """Until the call's connection is gone (the caller hung up, or the server dropped it)."""
        async for item in events:
            if isinstance(item, ev.Error) and item.fatal:
                self.ended = self.ended or "the call ended"
                return
            if isinstance(item, ev.CallEnded):
                self.ended = self.ended or f"call ended: {item.reason}"
                return

    async def _accept(self, client: Any) -> None:
        """Answer the call on its API (raises `openai.OpenAIError` when the API refuses)."""
        if self.api == "live":
            await client.live.sessions.accept(self.call_id, session=live_accept_session(self.doc, self.context))
        else:
            await client.realtime.calls.accept(self.call_id, **accept_fields(self.doc, self.context, self.call_id))

    def _line(self, client: Any, call: OpenCall) -> Any:
        if self.api == "live":
            return LiveCallLine(client, self.call_id, call.session.send)
        return RealtimeCallLine(client, self.call_id)

    async def run(self) -> None:
        owner, config = self._owner, self._owner.config
        transport = PicowsTransport()
        call: OpenCall | None = None
        offline: Any = None  # the simulator's calls API client, offline
        on_live = self.api == "live"
        try:
            if config.live:
                await self._accept(owner._openai())
            call = self.opened = await open_call(
                self.doc,
                config,
                runtime_for=owner._runtime_for,
                playback=PlaybackClock(),
                transport=transport,
                context=self.context,
                call_id=None if on_live else self.call_id,
                attach=self.call_id if on_live else None,
                store=owner.store,
                frontend="sip",
                caller=self.context.get("caller"),
            )
            client = owner._openai()
            if not config.live and call.sim is not None:
                # Offline, OpenAI's part is the simulator's, by the same calls API and client.
                import openai

                client = offline = openai.AsyncOpenAI(api_key="sim-key", base_url=call.sim.http_base)
                await self._accept(offline)
            line = self._line(client, call)
            if on_live:
                call.session.line = line
            else:
                call.session.control.line = line  # type: ignore[union-attr]
            events = call.session.subscribe()
            await call.connect()
            await call.greet()  # the agent answers the phone
            ended = asyncio.create_task(self._done.wait())
            lost = asyncio.create_task(self._until_lost(events))
            await asyncio.wait([ended, lost], return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            lost.cancel()
        except Exception as exc:
            log.warning("sip call %s failed: %s: %s", self.call_id, type(exc).__name__, exc)
            self.ended = self.ended or f"failed: {type(exc).__name__}"
        finally:
            if call is not None:
                await call.close(self.ended)
            if offline is not None:
                await offline.close()
            await transport.aclose()
            owner._remove(self)
