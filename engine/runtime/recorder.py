"""The `--events` file: every client and server event, timestamped, audio elided, secrets redacted.

Secrets are removed two ways: by key (any value under `authorization` or `api-key`, and every value
of a `headers` object, anywhere in an event: hosted MCP server headers travel in `session.update`
and come back in `session.updated`), and by value (the API key and auth header values wherever
they appear, when long enough that replacing them cannot mangle ordinary text).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from pathlib import Path
from typing import IO, Any

from ..redact import AUTH_HEADERS, Redactor

log = logging.getLogger("engine.runtime")

REDACTED = "<redacted>"
#: Characters of a malformed frame kept in the file.
MALFORMED_LIMIT = 500

# Fields that carry base64 audio, by event type (Realtime, then GPT-Live): recorded as a size, never as data.
AUDIO_FIELDS = {
    "response.output_audio.delta": "delta",
    "input_audio_buffer.append": "audio",
    "session.output_audio.delta": "delta",
    "session.input_audio.append": "audio",
    "session.output_audio.fixture.play": "audio",
}
_HEADERS_KEY = "headers"
# A cheap test on the serialized line: most events have no such key and skip the walk. The first
# letter outside the case-blind group lets the search skip most quotes at once (twice as fast).
SENSITIVE_KEY = re.compile(r'"[AaHh](?i:uthorization|pi-key|eaders)"\s*:')


class EventRecorder:
    """Writes one JSON line per event to `path`, which is started afresh (one file, one run).

    A file that cannot be written (a full disk, a vanished folder) stops the recording with one
    warning; the session goes on. Raises `OSError` only when the file cannot be opened at all.
    """

    def __init__(self, path: Path, secrets: list[str]) -> None:
        self._path = path
        self._file: IO[str] | None = path.open("w", encoding="utf-8")
        self._scrub = Redactor(secrets, REDACTED)
        self.failed: str | None = None

    def _fail(self, exc: OSError) -> None:
        self.failed = f"{exc.strerror or exc}"
        log.warning("the events file %s cannot be written (%s): recording stopped", self._path, self.failed)
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # what was buffered is lost with the disk that refused it
                file.close()

    def record(self, direction: str, event: dict[str, Any]) -> None:
        if self._file is None:
            return
        kind = event.get("type")
        field = AUDIO_FIELDS.get(kind) if isinstance(kind, str) else None
        if field and isinstance(event.get(field), str):
            event = {**event, field: f"<{len(event[field]) * 3 // 4} bytes of audio elided>"}
        try:
            line = self._dumps(direction, event)
            if SENSITIVE_KEY.search(line):
                line = self._dumps(direction, redact_keys(event))
        except (RecursionError, TypeError, ValueError) as exc:  # nested past any walk, or not JSON
            line = self._dumps(direction, {"unrecordable": f"{type(exc).__name__}: an event of type {kind!r}"})
        try:
            self._file.write(self._scrub(line) + "\n")
        except OSError as exc:
            self._fail(exc)

    def record_malformed(self, raw: str) -> None:
        """A server frame that is not a JSON event, kept as `{"malformed": <its first 500 characters>}`."""
        # Scrubbed before cutting, so a secret straddling the cut cannot leave its first half behind.
        self.record("server", {"malformed": self._scrub(raw)[:MALFORMED_LIMIT]})

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self._file.close()
        except OSError as exc:
            self._fail(exc)
        self._file = None

    @staticmethod
    def _dumps(direction: str, event: dict[str, Any]) -> str:
        return json.dumps({"t": round(time.time(), 6), "direction": direction, "event": event}, ensure_ascii=False)


def redact_keys(value: Any) -> Any:
    """A copy of `value` with secret-bearing values replaced (the event itself is live: never mutated)."""
    if isinstance(value, list):
        return [redact_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    redacted: dict[str, Any] = {}
    for key, item in value.items():
        name = key.lower() if isinstance(key, str) else key
        if name in AUTH_HEADERS and item is not None:
            redacted[key] = REDACTED
        elif name == _HEADERS_KEY and isinstance(item, dict):
            redacted[key] = {header: REDACTED for header in item}
        elif name == _HEADERS_KEY and item is not None:
            redacted[key] = REDACTED  # headers in a shape we do not know: hide them whole
        else:
            redacted[key] = redact_keys(item)
    return redacted
