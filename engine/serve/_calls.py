"""Opening a call's session, live or on the simulator, the same way for every frontend of the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..runtime import PlaybackClock, Session, Transport
from ..runtime import events as ev
from ..runtime.graph_runtime import GraphRuntime
from ..runtime.line import CallLine
from ..spec import Document

if TYPE_CHECKING:
    from ..runtime.live import LiveSession

log = logging.getLogger("engine.serve")

Api = Literal["realtime", "live"]


@dataclass(frozen=True)
class ServeConfig:
    """How calls run: live (a key or a URL) or on the simulator; limits and draining."""

    api_key: str = ""
    url: str | None = None
    simulate: bool = False
    max_calls: int = 200
    drain_seconds: float = 30.0
    twilio_auth_token: str = ""  # when set, /twilio/voice checks Twilio's request signature
    twilio_account_sid: str = ""  # with the auth token: transfers and hang-ups of Twilio calls
    db: str | None = None  # the call store (--db, else $ENGINE_DB, else .engine/calls.db)
    record: bool = True  # write every call to the call store
    console_token: str = ""  # ENGINE_CONSOLE_TOKEN: the console, its API and calls need it when set
    webhook_secret: str = ""  # OPENAI_WEBHOOK_SECRET: /openai/webhook verifies deliveries with it
    api: Api | None = None  # --api: every call on this voice API; None: each graph's own `api:`

    @property
    def live(self) -> bool:
        return bool(self.api_key or self.url) and not self.simulate

    def api_for(self, doc: Document) -> Api:
        """The voice API a call of `doc` runs on: `engine serve --api`, else the graph's `api:`."""
        return self.api or doc.spec.api


class OpenCall:
    """A session and, offline, the simulator it talks to, and its record in the call store; `close()`
    ends them (the record is finished and flushed)."""

    def __init__(self, session: Session | LiveSession, sim: Any = None) -> None:
        self.session = session
        self.sim = sim
        self.recorder: Any = None
        self._recording: asyncio.Task[Any] | None = None

    def record(self, store: Any, *, frontend: str, doc: Document, caller: str | None, secrets: list[str]) -> None:
        """Write this call to `store` as it happens (subscribed now: call before `connect()`)."""
        from ..records import CallRecorder

        self.recorder = CallRecorder(store, frontend=frontend, graph=doc, caller=caller, secrets=secrets)  # type: ignore[arg-type]
        self._recording = asyncio.create_task(self.recorder.consume(self.session.subscribe()))

    @property
    def off_script(self) -> list[str]:
        """What went off the demo's script (offline), in words."""
        if self.sim is None:
            return []
        return [str(p) for p in [*self.sim.script_errors, *self.sim.mismatches]]

    async def connect(self) -> None:
        """Raises `ConnectFailed` when the session cannot connect (everything is closed then)."""
        try:
            await self.session.connect()
        except BaseException:
            await self.close()
            raise

    @property
    def on_live(self) -> bool:
        """The call runs on GPT-Live (no text input, no turns to commit, no response to ask for)."""
        from ..runtime.live import LiveSession

        return isinstance(self.session, LiveSession)

    async def greet(self) -> None:
        """The agent opens the call, as a phone line does. On Realtime it is asked to speak; GPT-Live
        decides itself (it delegates its greeting at the start), so there is nothing to ask there."""
        if not self.on_live:
            await self.session.request_response()

    async def tell(self, note: str) -> None:
        """Tell the agent what the caller did (keys pressed): a user message on Realtime, which it
        answers; on GPT-Live, which takes no text from the caller, a silent note in its context.
        Raises `ConnectionError` when the session is gone."""
        if self.on_live:
            await self.session.append("thinking", note, None)  # type: ignore[union-attr]
        else:
            await self.session.send_text(note)

    async def close(self, end_reason: str | None = None) -> None:
        if self.recorder is not None and end_reason:
            self.recorder.end_reason = end_reason
        with contextlib.suppress(Exception):
            await self.session.close()
        if self._recording is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._recording, 10)  # the subscription ends with the session
        if self.sim is not None:
            with contextlib.suppress(Exception):
                await self.sim.stop()


async def open_call(
    doc: Document,
    config: ServeConfig,
    *,
    runtime_for: Callable[[Document], GraphRuntime] | None,
    playback: PlaybackClock,
    transport: Transport,
    context: dict[str, Any] | None = None,
    line: CallLine | None = None,
    call_id: str | None = None,
    attach: str | None = None,
    store: Any = None,
    frontend: str = "console",
    caller: str | None = None,
    on_audio: Callable[[ev.Audio], None] | None = None,
) -> OpenCall:
    """A session for one call, to `connect()` once subscribed to, on the API `config.api_for(doc)`
    names. Live calls of one graph share its runtime (compiler cache, toolbox, clients); offline,
    each call gets a simulator replaying the graph's demo, and its own runtime (its escalations go
    to that simulator). `call_id` is a Realtime SIP call's; `attach` a GPT-Live SIP session's id
    (the session attaches to it by its sideband instead of starting one); `on_audio` a player called
    at once with each assistant `Audio`, from the listener."""
    on_live = config.api_for(doc) == "live"
    # The frontends subscribe(): the session keeps no event stream of its own that nobody reads.
    options: dict[str, Any] = {"context": dict(context or {}), "iterable": False, "on_audio": on_audio}
    sim = None
    if config.live:
        shared = runtime_for is not None and not (on_live and config.url)  # a --url server answers Responses too
        graph: Document | GraphRuntime = runtime_for(doc) if shared and runtime_for else doc
        if not shared:
            options.update(url=config.url, api_key=config.api_key)
    else:
        from ..sim import Simulator  # a side branch: loaded only when a call runs offline
        from ..sim.live import LiveSimulator

        demo = doc.spec.demo
        assert demo is not None  # checked when the call was asked for
        sim = await (LiveSimulator if on_live else Simulator)(demo).start()
        graph = doc
        url = sim.live_url if on_live else sim.url
        options.update(url=url, api_key="sim-key", agent=demo.agent, context={**demo.context, **options["context"]})
        if demo.state is not None:
            options["state"] = demo.state
    try:
        session: Session | LiveSession
        if on_live:
            from ..runtime.live import LiveSession

            session = LiveSession(
                graph, approval="ask", playback=playback, transport=transport, line=line, attach=attach, **options
            )
        else:
            session = Session(
                graph, approval="ask", playback=playback, transport=transport, line=line, call_id=call_id, **options
            )
        opened = OpenCall(session, sim)
        if store is not None:
            opened.record(store, frontend=frontend, doc=doc, caller=caller, secrets=[config.api_key])
    except BaseException:
        if sim is not None:
            await sim.stop()
        raise
    return opened
