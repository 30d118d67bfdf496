"""The call store: one small interface over SQLite and Postgres (same schema, same SQL).

Each write method is committed before it returns, so what a process wrote survives it being killed.
A store may be used from any thread (a lock serializes its one connection). The recorder queues its
writes with `submit()` for the store's writer thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import _schema

#: Where calls go when neither `--db` nor `ENGINE_DB` says otherwise (under the working directory).
DEFAULT_DB = ".engine/calls.db"
ENV_VAR = "ENGINE_DB"
_IDENTIFIER = re.compile(r"[a-z_]+\Z")
log = logging.getLogger("engine.records")
#: How long the writer gathers writes after the queue ran empty (what a record may lag behind a call).
_GATHER_S = 0.01

#: `done(error)`, called on the writer thread once a submitted write is committed (None) or failed.
Done = Callable[[BaseException | None], None]
_Job = tuple[Callable[..., object], tuple[Any, ...], Done | None]


class StoreError(Exception):
    """The call store cannot be opened or read (the message says which store and why)."""


def store_url(db: str | None = None) -> str:
    """The store to use: `db` if given, else `$ENGINE_DB`, else `.engine/calls.db`."""
    return db or os.environ.get(ENV_VAR) or DEFAULT_DB


def open_store(url: str | None = None) -> CallStore:
    """Open (and on first use create) the store at `url`: a `postgresql://` URL, or a SQLite file
    (a path or `sqlite:///path`). Without `url`, `store_url()` decides. Raises `StoreError`."""
    url = store_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresStore

        return PostgresStore(url)
    from ._sqlite import SqliteStore

    return SqliteStore(Path(url.removeprefix("sqlite://") if url.startswith("sqlite:///") else url))


class CallStore(ABC):
    """Calls and their rows (see `engine.records._schema` for the tables).

    Writes and reads raise the driver's own errors (`sqlite3.Error`, `psycopg.Error`): the recorder
    counts them as dropped records, `engine calls` reports them.
    """

    def __init__(self, description: str) -> None:
        self.description = description  # where the store is, without credentials: for messages
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._queueing = threading.Lock()  # orders submits and the close (never held across a write)
        self._writer: threading.Thread | None = None
        self._closed = False

    # --- database specifics ---------------------------------------------------------------------

    placeholder = "?"

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement (committed at once); the rows it returned."""

    @abstractmethod
    def _close(self) -> None: ...

    # --- writes ---------------------------------------------------------------------------------

    def start_call(self, row: dict[str, Any]) -> None:
        """Add a call (`id`, `frontend`, `caller`, `graph`, `graph_hash`, `started_at`)."""
        self._insert("calls", row, conflict=None)

    def end_call(self, call_id: str, *, ended_at: float, end_reason: str, dropped: int = 0) -> None:
        sql = "UPDATE calls SET ended_at = ?, end_reason = ?, dropped = ? WHERE id = ?"
        self._run(sql, ended_at, end_reason, dropped, call_id)

    def put(self, table: str, row: dict[str, Any]) -> None:
        """Add a row to one of a call's tables, or replace the row with the same key (a turn, tool
        call or approval is written again as it completes)."""
        self._insert(table, row, conflict=_schema.ROW_KEYS[table])

    # --- reads ----------------------------------------------------------------------------------

    def calls(self, limit: int | None = None, before: str | None = None) -> list[dict[str, Any]]:
        """The calls, newest first, each with `agents`: the agents visited, in order. At most `limit`;
        with `before` (the last id of the previous page), those that started before that call. Reads
        only the visits of the calls returned. Raises `KeyError` for an unknown `before`."""
        sql, params = "SELECT * FROM calls", []
        if before is not None:
            found = self._run("SELECT started_at FROM calls WHERE id = ?", before)
            if not found:
                raise KeyError(before)
            started = found[0]["started_at"]
            sql += " WHERE started_at < ? OR (started_at = ? AND id < ?)"
            params += [started, started, before]
        sql += " ORDER BY started_at DESC, id DESC"
        rows = self._run(sql + " LIMIT ?", *params, limit) if limit is not None else self._run(sql, *params)
        agents: dict[str, list[str]] = {row["id"]: [] for row in rows}
        for start in range(0, len(rows), 500):  # a bounded IN list, even for a whole-store export
            ids = list(agents)[start : start + 500]
            marks = ", ".join("?" for _ in ids)
            for visit in self._run(f"SELECT call_id, agent FROM visits WHERE call_id IN ({marks}) ORDER BY seq", *ids):
                visited = agents[visit["call_id"]]
                if not visited or visited[-1] != visit["agent"]:
                    visited.append(visit["agent"])
        return [{**row, "agents": agents[row["id"]]} for row in rows]

    def find(self, call_id: str) -> str | None:
        """The id of the call named by `call_id` or by a prefix of one id; None if none or several."""
        exact = self._run("SELECT id FROM calls WHERE id = ?", call_id)
        if exact:
            return call_id
        like = call_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = self._run("SELECT id FROM calls WHERE id LIKE ? ESCAPE '\\' LIMIT 2", like)
        return found[0]["id"] if len(found) == 1 else None

    def call(self, call_id: str) -> dict[str, Any] | None:
        """A call's row with its rows from every table (`visits`, `turns`, ...), each in `seq` order."""
        found = self._run("SELECT * FROM calls WHERE id = ?", call_id)
        if not found:
            return None
        record = dict(found[0])
        for table in _schema.ROW_KEYS:
            record[table] = self._run(f"SELECT * FROM {table} WHERE call_id = ? ORDER BY seq", call_id)
        return record

    # --- lifecycle ------------------------------------------------------------------------------

    def submit(self, write: Callable[..., object], *args: Any, done: Done | None = None) -> None:
        """Queue `write(*args)` for the store's writer thread (one thread: writes keep their order);
        `done(error)` is called there once it is committed or has failed. Never blocks (recorders
        bound how much they queue). Raises `RuntimeError` once the store is closed."""
        with self._queueing:
            if self._closed:
                raise RuntimeError("the call store is closed")
            if self._writer is None:
                self._writer = threading.Thread(target=self._drain, name="engine-records", daemon=True)
                self._writer.start()
            self._jobs.put((write, args, done))

    def barrier(self) -> Future[None]:
        """A future that is done once every write submitted before it is done.
        Raises `RuntimeError` once the store is closed."""
        future: Future[None] = Future()
        self.submit(_nothing, done=lambda _: future.cancelled() or future.set_result(None))
        return future

    def close(self) -> None:
        """Finish queued writes and close the connection."""
        with self._queueing:
            self._closed = True
            writer, self._writer = self._writer, None
            if writer is not None:
                self._jobs.put(None)
        if writer is not None:
            writer.join()
        with self._lock:
            self._close()

    def _drain(self) -> None:
        """The writer thread: each write in turn, until the close. Once the queue is empty it rests a
        moment before it waits again: writes that come meanwhile are queued without waking it (a
        wake-up per write costs the event loop a GIL hand-off each)."""
        while True:
            job = self._jobs.get()
            while job is not None:
                self._write_one(*job)
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    time.sleep(_GATHER_S)
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
            else:
                return  # close() queues None after the last write

    @staticmethod
    def _write_one(write: Callable[..., object], args: tuple[Any, ...], done: Done | None) -> None:
        error: Exception | None = None
        try:
            write(*args)
        except Exception as exc:
            error = exc
        if done is not None:
            try:
                done(error)
            except Exception:  # a callback's bug must not stop the writer
                log.exception("a call store write callback failed")

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- helpers --------------------------------------------------------------------------------

    def _run(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self._lock:
            return self._execute(sql.replace("?", self.placeholder), params)

    def _insert(self, table: str, row: dict[str, Any], *, conflict: tuple[str, ...] | None) -> None:
        columns = list(row)
        if not all(_IDENTIFIER.match(name) for name in [table, *columns]):
            raise ValueError(f"not a column of the call store: {table}.{columns}")
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        if conflict:
            updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in conflict)
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
        self._run(sql, *row.values())


@contextmanager
def opened(url: str | None) -> Iterator[CallStore]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def _nothing() -> None:
    pass
