"""The call store: every call from every frontend, recorded as it happens (SQLite or Postgres).

    store = open_store()  # --db, else $ENGINE_DB, else .engine/calls.db; or a postgresql:// URL
    recorder = CallRecorder(store, frontend="run", graph=doc, caller=None, secrets=[api_key])
    await recorder.consume(session.subscribe())  # until the session ends; then the end is written

The tables are described in `engine.records._schema`.
"""

from __future__ import annotations as _annotations

import typing as _typing

from ._schema import VERSION as SCHEMA_VERSION
from ._store import DEFAULT_DB, ENV_VAR, CallStore, StoreError, open_store, store_url
from ._views import document as call_document
from ._views import replay as replay_steps
from ._views import summary as call_summary

if _typing.TYPE_CHECKING:
    from ._recorder import FRONTENDS, CallRecorder, graph_hash, new_call_id, record_call

__all__ = [
    "DEFAULT_DB",
    "ENV_VAR",
    "FRONTENDS",
    "SCHEMA_VERSION",
    "CallRecorder",
    "CallStore",
    "StoreError",
    "call_document",
    "call_summary",
    "graph_hash",
    "new_call_id",
    "open_store",
    "record_call",
    "replay_steps",
    "store_url",
]

_RECORDER = {"FRONTENDS", "CallRecorder", "graph_hash", "new_call_id", "record_call"}


def __getattr__(name: str) -> _typing.Any:
    # The recorder reads the runtime's events, which pull in the whole runtime: `engine calls` needs none of it.
    if name in _RECORDER:
        from . import _recorder

        return getattr(_recorder, name)
    raise AttributeError(name)
