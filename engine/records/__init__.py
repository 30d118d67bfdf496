"""The call store: every call from every frontend, recorded as it happens (SQLite or Postgres).

    store = open_store()  # .engine/calls.db, $ENGINE_DB, or a postgresql:// URL
    recorder = CallRecorder(store, frontend="run", graph=doc, secrets=[api_key])
    await recorder.consume(session.subscribe())

The tables are described in `engine.records._schema`.
"""

from ._recorder import FRONTENDS, CallRecorder, graph_hash, new_call_id, record_call
from ._schema import VERSION as SCHEMA_VERSION
from ._store import DEFAULT_DB, ENV_VAR, CallStore, StoreError, open_store, store_url

__all__ = [
    "DEFAULT_DB",
    "ENV_VAR",
    "FRONTENDS",
    "SCHEMA_VERSION",
    "CallRecorder",
    "CallStore",
    "StoreError",
    "graph_hash",
    "new_call_id",
    "open_store",
    "record_call",
    "store_url",
]
