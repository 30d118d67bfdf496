"""The SQLite call store: one file, WAL mode, shared safely by several processes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _schema
from ._store import CallStore, StoreError


class SqliteStore(CallStore):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level=None): each write is its own transaction, committed at once.
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
            # WAL: readers (`engine calls`) never block the writer; NORMAL: a commit survives the
            # process being killed (only a power loss can take the last commits).
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{path}: SQLite refused WAL mode (journal mode is {mode})")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._create_schema()
        except (sqlite3.Error, OSError) as exc:  # OSError: its folder cannot be made (a file is in the way)
            raise StoreError(f"cannot open the call store {path}: {exc}") from exc

    def _create_schema(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # one process creates the tables; the others wait and see them
        try:
            for statement in _schema.statements(real="REAL", integer="INTEGER"):
                conn.execute(statement)
            found = conn.execute("SELECT version FROM schema_version").fetchall()
            if not found:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (_schema.VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if found and found[0][0] != _schema.VERSION:
            raise StoreError(
                f"{self.description}: the call store has schema version {found[0][0]}; "
                f"this engine reads version {_schema.VERSION}"
            )

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, tuple(params))
        if cursor.description is None:
            return []
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def _close(self) -> None:
        self._conn.close()
