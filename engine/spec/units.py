"""Units the graph file writes as text: durations (`5s`, `500ms`, `2m`, or a number of seconds)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

_DURATION = r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*"
_DURATION_ERROR = "a duration is a number of seconds or a string like '5s', '500ms', '2m'"


def _seconds(value: Any) -> Any:
    """Durations: a number of seconds, or a string such as `5s`, `500ms`, `2m`."""
    if isinstance(value, bool):
        raise ValueError(_DURATION_ERROR)
    if isinstance(value, str):
        m = re.fullmatch(_DURATION, value)
        if not m:
            raise ValueError(_DURATION_ERROR)
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
        return float(m.group(1)) * scale
    return value


# The JSON Schema says what the validator accepts, so editors do not flag valid files.
Duration = Annotated[
    float,
    BeforeValidator(_seconds),
    Field(gt=0, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": f"^{_DURATION}$"}],
            "examples": ["5s"],
        }
    ),
]
