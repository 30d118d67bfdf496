"""The call history: recorded calls as JSON, and the page that lists them and replays one over its graph.

    GET /api/calls?limit=&before=   the calls, newest first (`before`: the last id of the previous page)
    GET /api/calls/{id}             one call's whole record (as `engine calls show --format json`), its
                                    replay steps, and whether the graph that made it is still served
    GET /calls, /calls/{id}         the page (static/history.*)

Store reads block, so they run in a thread. The graph of a call is found in the catalog by its
content hash: a console or Twilio call records the variant its codec made, so each scenario's hash
is known for every variant (`Scenario.variant`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..graph import build_graph
from ..records import call_document, call_summary, replay_steps
from ._calls import ServeConfig
from ._catalog import CODEC_RATES, Catalog, Scenario

log = logging.getLogger("engine.serve")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class History:
    """The history routes over `store` (None when calls are not recorded: every API answer says so)."""

    def __init__(
        self,
        catalog: Catalog,
        config: ServeConfig,
        store: Any,
        *,
        allowed: Callable[[Request], bool],
        refused: Callable[[], Response],
        page: Callable[[Request, str], Response],
    ) -> None:
        self.catalog = catalog
        self.store = store
        self._allowed = allowed
        self._refused = refused
        self._page = page
        if config.record:
            self._no_store = "the call store could not be opened when the server started (its log says why)"
        else:
            self._no_store = "this server does not record calls (it was started with --no-record)"
        self._lock = threading.Lock()
        self._hashes: dict[str, set[str]] = {}
        self._graphs: dict[str, Any] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/calls", self.page),
            Route("/calls/{call_id}", self.page),
            Route("/api/calls", self.list_calls),
            Route("/api/calls/{call_id}", self.show_call),
        ]

    # --- handlers --------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return self._page(request, "history.html")

    async def list_calls(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._refused()
        if self.store is None:
            return _error(self._no_store, 503)
        raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            return _error(f"limit is a whole number from 1 to {MAX_LIMIT}, not {raw!r}", 400)
        limit, before = int(raw), request.query_params.get("before") or None
        try:
            calls = await asyncio.to_thread(self._calls, limit, before)
        except Exception as exc:  # the driver's own errors: a damaged file, a dropped connection
            return self._store_failed(exc)
        if calls is None:
            return _error(f"no call {before!r} to list the calls before", 400)
        last = calls[-1]["id"] if len(calls) == limit else None
        return JSONResponse({"calls": calls, "next_before": last})

    async def show_call(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._refused()
        if self.store is None:
            return _error(self._no_store, 503)
        call_id = request.path_params["call_id"]
        try:
            doc = await asyncio.to_thread(self._call, call_id)
        except Exception as exc:
            return self._store_failed(exc)
        if doc is None:
            return _error(f"no call {call_id!r} in the call store (or the prefix matches several)", 404)
        return JSONResponse(doc)

    # --- reading (in a thread) ------------------------------------------------------------------

    def _calls(self, limit: int, before: str | None) -> list[dict[str, Any]] | None:
        try:
            rows = self.store.calls(limit, before)
        except KeyError:
            return None
        return [{**call_summary(row), "scenario": self._match(row)} for row in rows]

    def _call(self, call_id: str) -> dict[str, Any] | None:
        found = self.store.find(call_id)
        record = self.store.call(found) if found else None
        if record is None:
            return None
        doc = call_document(record)
        match = self._match(record)
        steps = replay_steps(record)
        if match["status"] == "same":
            graph = self._graph(self.catalog.scenarios[match["id"]])
            for step in steps:
                step["edges"] = _edges_taken(step, doc, graph)
        return {**doc, "scenario": match, "replay": steps}

    def _match(self, call: dict[str, Any]) -> dict[str, Any]:
        """Which scenario made this call: `same` (its content hash is the call's), `changed` (a
        scenario of that name, with other content now) or `missing`; `message` says it in words."""
        named: Scenario | None = None
        for scenario in self.catalog.scenarios.values():
            if call["graph_hash"] in self._hashes_of(scenario):
                return {"status": "same", "id": scenario.id, "name": scenario.name}
            if named is None and scenario.name == call["graph"]:
                named = scenario
        if named is not None:
            message = (
                f"the graph '{call['graph']}' has changed since this call (its content hash differs): "
                "the replay shows the agents visited, not the graph"
            )
            return {"status": "changed", "id": named.id, "name": named.name, "message": message}
        message = (
            f"the graph '{call['graph']}' that made this call is not served here any more: "
            "the replay shows the agents visited, not the graph"
        )
        return {"status": "missing", "id": None, "name": call["graph"], "message": message}

    def _hashes_of(self, scenario: Scenario) -> set[str]:
        with self._lock:
            known = self._hashes.get(scenario.id)
        if known is None:
            from ..records import graph_hash

            docs = [scenario.doc] + [
                scenario.variant(codec, push_to_talk=ptt)  # type: ignore[arg-type]
                for codec in CODEC_RATES
                for ptt in (False, True)
            ]
            known = {graph_hash(doc) for doc in docs}
            with self._lock:
                self._hashes[scenario.id] = known
        return known

    def _graph(self, scenario: Scenario) -> Any:
        with self._lock:
            graph = self._graphs.get(scenario.id)
        if graph is None:
            graph = build_graph(scenario.doc)
            with self._lock:
                self._graphs[scenario.id] = graph
        return graph

    def _store_failed(self, exc: Exception) -> Response:
        log.error("reading the call store %s failed: %s: %s", self.store.description, type(exc).__name__, exc)
        return _error(f"reading the call store {self.store.description} failed: {exc}", 503)


def _edges_taken(step: dict[str, Any], doc: dict[str, Any], graph: Any) -> list[str]:
    """The drawing's keys (`u->v`, nodes named as in the scenario's drawing) of the edges `step` took."""
    taken: list[str] = []

    def take(source: str, target: str) -> None:
        if graph.has_edge(source, target):
            taken.append(f"{source}->{target}")

    kind, agent, state = step["kind"], step["agent"], step["state"]
    if kind == "visit" and step["from"] is not None and state is not None:
        before = step["from"]
        if before["agent"] == agent and before["state"] is not None:
            take(f"{agent}/{before['state']}", f"{agent}/{state}")  # a state machine's transition
        elif before["agent"] != agent:
            take(agent, f"{agent}/{state}")  # a handoff lands in the agent's initial state
    elif kind == "event" and step.get("type") == "handoff":
        source, target = step["from"]["agent"], step["to"]["agent"]
        if step["from"]["state"] is not None:
            take(f"{source}/{step['from']['state']}", target)
        take(source, target)
    elif kind == "tool_start":
        call = doc["tool_calls"][step["ref"]]
        if call["escalation"] and graph.has_node(call["agent"]):
            for _, model, data in graph.out_edges(call["agent"], data=True):
                if data["kind"] == "escalation" and call["tool"] in data["tools"]:
                    take(call["agent"], model)
    return taken


def _error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)
