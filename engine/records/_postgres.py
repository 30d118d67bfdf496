"""The Postgres call store (psycopg 3), for several workers sharing one store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import _schema
from ._store import CallStore, StoreError

#: Serializes schema creation between workers starting at once (CREATE TABLE IF NOT EXISTS races).
_SCHEMA_LOCK = 0x656E67696E65  # "engine"


def _describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://<unparsable URL>"
    params.pop("password", None)
    return make_conninfo(**params)


class PostgresStore(CallStore):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__(_describe(url))
        self._url = url
        try:
            self._conn = self._connect()
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _schema.statements(real="DOUBLE PRECISION", integer="BIGINT"):
                    self._conn.execute(statement)
                found = self._conn.execute("SELECT version FROM schema_version").fetchall()
                if not found:
                    self._conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (_schema.VERSION,))
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the call store {self.description}: {exc}".strip()) from exc
        if found and found[0][0] != _schema.VERSION:
            raise StoreError(
                f"{self.description}: the call store has schema version {found[0][0]}; "
                f"this engine reads version {_schema.VERSION}"
            )

    def _connect(self) -> psycopg.Connection[Any]:
        # Autocommit: each write is its own transaction, committed at once.
        return psycopg.connect(self._url, autocommit=True, connect_timeout=10)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self._conn.closed:  # the server went away earlier: try a new connection for this write
            self._conn = self._connect()
        cursor = self._conn.execute(sql, tuple(params))  # type: ignore[arg-type]
        if cursor.description is None:
            return []
        columns = [d.name for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def _close(self) -> None:
        self._conn.close()
