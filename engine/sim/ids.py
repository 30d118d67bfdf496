"""Deterministic object ids, in the API's prefix style (`item_...`, `resp_...`, `call_...`)."""

from __future__ import annotations

import itertools


class IdFactory:
    """One counter per simulator, so ids stay unique across reconnections and runs are reproducible."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}_sim{next(self._counter):06d}"
