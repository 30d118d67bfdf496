"""The realtime session object: the server's defaults and how `session.update` changes them."""

from __future__ import annotations

import copy
import time
from typing import Any

# Keys whose value a `session.update` replaces whole: merging them field by field would build
# shapes the API never holds (a `audio/pcmu` format keeping `rate`, a VAD mixing two types).
_REPLACED_WHOLE = frozenset({"tools", "format", "turn_detection", "tool_choice", "prompt", "tracing", "include"})

_BYTES_PER_MS = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}


# What the API fills in for a turn detection given by its type alone (documented defaults).
_VAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "server_vad": {
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    },
    "semantic_vad": {"eagerness": "auto", "create_response": True, "interrupt_response": True},
}


def default_session(model: str, session_id: str) -> dict[str, Any]:
    """What the API reports in `session.created` for a fresh websocket session (GA shape)."""
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + 3600,
        "include": None,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
    }


def merge_session(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A new session: `update` deep-merged into `current` (fields absent from the update are kept)."""
    merged = copy.deepcopy(current)
    _merge_into(merged, update)
    return effective_session(merged)


def effective_session(session: dict[str, Any]) -> dict[str, Any]:
    """`session` with every default the server applies filled in, in place (and returned).

    `session.updated` reports the session the server now runs, as `session.created` does: a turn
    detection given by its type alone carries its threshold, padding and silence; a pcm format its rate.
    """
    audio_config = session.get("audio")
    if not isinstance(audio_config, dict):
        return session
    for direction in ("input", "output"):
        side = audio_config.get(direction)
        fmt = side.get("format") if isinstance(side, dict) else None
        if isinstance(fmt, dict) and fmt.get("type", "audio/pcm") == "audio/pcm":
            fmt.setdefault("type", "audio/pcm")
            fmt.setdefault("rate", 24000)
    vad = turn_detection(session)
    if isinstance(vad, dict):
        for key, value in _VAD_DEFAULTS.get(vad.get("type"), {}).items():
            vad.setdefault(key, value)
    return session


def _merge_into(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key in ("id", "object", "expires_at"):
            continue  # server-owned
        if isinstance(value, dict) and isinstance(target.get(key), dict) and key not in _REPLACED_WHOLE:
            _merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def voice(session: dict[str, Any]) -> Any:
    return ((session.get("audio") or {}).get("output") or {}).get("voice")


def output_modalities(session: dict[str, Any]) -> list[str]:
    return list(session.get("output_modalities") or ["audio"])


def function_tool_names(session: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> list[str]:
    """Names of the function tools offered (the session's, or a response's own `tools` override)."""
    offered = session.get("tools") if tools is None else tools
    return [t["name"] for t in offered or [] if isinstance(t, dict) and t.get("type", "function") == "function"]


def _format(session: dict[str, Any], direction: str) -> dict[str, Any]:
    return ((session.get("audio") or {}).get(direction) or {}).get("format") or {"type": "audio/pcm", "rate": 24000}


def output_format(session: dict[str, Any]) -> dict[str, Any]:
    return _format(session, "output")


def bytes_per_ms(fmt: dict[str, Any]) -> int:
    """Bytes per millisecond of a GA audio format: pcm16 24 kHz mono = 48, G.711 at 8 kHz = 8."""
    return _BYTES_PER_MS.get(fmt.get("type", "audio/pcm"), 48)


def input_format(session: dict[str, Any]) -> dict[str, Any]:
    return _format(session, "input")


def turn_detection(session: dict[str, Any]) -> dict[str, Any] | None:
    return ((session.get("audio") or {}).get("input") or {}).get("turn_detection")


def transcription(session: dict[str, Any]) -> dict[str, Any] | None:
    return ((session.get("audio") or {}).get("input") or {}).get("transcription")
