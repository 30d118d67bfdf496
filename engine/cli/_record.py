"""Every call a command runs goes to the call store (`--db`, `$ENGINE_DB`, else `.engine/calls.db`).

A store that cannot be opened is one warning: the call goes on unrecorded, never fails for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runtime import Session
    from ..spec import Document

log = logging.getLogger("engine.cli")


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="the call store: a SQLite path or postgresql:// URL")


@contextlib.asynccontextmanager
async def recorded(
    session: Session, doc: Document, *, frontend: str, db: str | None, secrets: list[str], caller: str | None = None
) -> AsyncIterator[Any]:
    """Record `session` (subscribed now, so the whole call is seen) until it closes; yields the recorder."""
    from ..records import CallRecorder, StoreError, open_store

    try:
        store = open_store(db)
    except StoreError as exc:
        log.warning("this call is not recorded: %s", exc)
        yield None
        return
    recorder = CallRecorder(store, frontend=frontend, graph=doc, caller=caller, secrets=secrets)
    task = asyncio.create_task(recorder.consume(session.subscribe()))
    try:
        yield recorder
    finally:
        await session.close()  # ends the subscription: the recorder writes the end
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        store.close()
