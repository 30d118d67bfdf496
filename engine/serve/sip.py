"""OpenAI SIP calls: `POST /openai/webhook` takes `realtime.call.incoming` and runs the graph on the call.

The delivery is verified with the openai package's `webhooks.unwrap` and `OPENAI_WEBHOOK_SECRET`
(the standard-webhooks signature: unsigned, stale or tampered deliveries are refused with 400); a
delivery seen before (its `webhook-id`) is answered 200 and not acted on again. The call is accepted
with the start agent's compiled session, then the engine attaches to it with the `call_id` (the
sideband websocket) and runs the graph; SIP headers (From, To, X-…) land in the context. Over
capacity it is rejected with 486 Busy Here.

Offline (no key) the call runs on a simulator attached by the same `call_id`, so the whole path
but OpenAI's own accept runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..compile import compile_session
from ..runtime import AiohttpTransport, PlaybackClock
from ..runtime import events as ev
from ..runtime.graph_runtime import GraphRuntime, responses_base
from ..runtime.line import RealtimeCallLine
from ..spec import Document
from ._calls import OpenCall, ServeConfig, open_call
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
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._client: Any = None
        self.tasks: set[asyncio.Task[None]] = set()

    def _openai(self) -> Any:
        import openai

        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self.config.api_key or "unset",
                base_url=responses_base(self.config.url),
                webhook_secret=self._secret or None,
            )
        return self._client

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
        self._seen[delivery] = None
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        if event.type != "realtime.call.incoming":
            return JSONResponse({"status": "ignored", "type": event.type})
        call_id = event.data.call_id
        refusal = self._refusal()
        wanted = request.query_params.get("scenario")  # the webhook URL set in OpenAI's dashboard may name one
        scenario = self.catalog.get(wanted) if wanted else next(iter(self.catalog.scenarios.values()), None)
        if refusal is None and (scenario is None or (not self.config.live and not scenario.simulated_ok)):
            refusal = "no scenario to run"
        if refusal is not None:
            if self.config.live:
                with contextlib.suppress(openai.OpenAIError):
                    await self._openai().realtime.calls.reject(call_id, status_code=BUSY)
            return JSONResponse({"status": "rejected", "reason": refusal, "call_id": call_id})
        assert scenario is not None
        call = SipCall(call_id, scenario.doc, sip_context(event.data.sip_headers), self)
        self._add(call)
        task = asyncio.create_task(call.run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return JSONResponse({"status": "accepted", "call_id": call_id})


class SipCall:
    def __init__(self, call_id: str, doc: Document, context: dict[str, Any], owner: SipCalls) -> None:
        self.id = f"sip_{call_id}"
        self.call_id = call_id
        self.doc = doc
        self.context = context
        self._owner = owner
        self._done = asyncio.Event()
        self.ended: str | None = None

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

    async def run(self) -> None:
        owner, config = self._owner, self._owner.config
        transport = AiohttpTransport()
        call: OpenCall | None = None
        offline: Any = None  # the simulator's calls API client, offline
        try:
            if config.live:
                fields = accept_fields(self.doc, self.context, self.call_id)
                await owner._openai().realtime.calls.accept(self.call_id, **fields)
            line = RealtimeCallLine(owner._openai(), self.call_id) if config.live else None
            call = await open_call(
                self.doc,
                config,
                runtime_for=owner._runtime_for,
                playback=PlaybackClock(),
                transport=transport,
                context=self.context,
                line=line,
                call_id=self.call_id,
                store=owner.store,
                frontend="sip",
                caller=self.context.get("caller"),
            )
            if not config.live and call.sim is not None:
                # Offline, OpenAI's part is the simulator's, by the same calls API and client.
                import openai

                offline = openai.AsyncOpenAI(api_key="sim-key", base_url=call.sim.http_base)
                await offline.realtime.calls.accept(self.call_id, **accept_fields(self.doc, self.context, self.call_id))
                call.session.control.line = RealtimeCallLine(offline, self.call_id)
            events = call.session.subscribe()
            await call.connect()
            await call.session.request_response()  # the agent answers the phone
            ended = asyncio.create_task(self._done.wait())
            lost = asyncio.create_task(self._until_lost(events))
            await asyncio.wait([ended, lost], return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            lost.cancel()
        except Exception as exc:
            log.warning("sip call %s failed: %s: %s", self.call_id, type(exc).__name__, exc)
        finally:
            if call is not None:
                await call.close(self.ended)
            if offline is not None:
                await offline.close()
            await transport.aclose()
            owner._remove(self)
