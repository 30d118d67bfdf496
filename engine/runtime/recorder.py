"""The `--events` file: every client and server event, timestamped, audio elided, secrets redacted."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

# Fields that carry base64 audio, by event type: recorded as a size, never as data.
_AUDIO_FIELDS = {"response.output_audio.delta": "delta", "input_audio_buffer.append": "audio"}


class EventRecorder:
    def __init__(self, path: Path, secrets: list[str]) -> None:
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._secrets = [s for s in secrets if s]

    def record(self, direction: str, event: dict[str, Any]) -> None:
        field = _AUDIO_FIELDS.get(event.get("type", ""))
        if field and isinstance(event.get(field), str):
            event = {**event, field: f"<{len(event[field]) * 3 // 4} bytes of audio elided>"}
        line = json.dumps({"t": round(time.time(), 6), "direction": direction, "event": event}, ensure_ascii=False)
        for secret in self._secrets:
            line = line.replace(secret, "<redacted>")
        self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()
