"""The JSON Schema of the graph file, generated from the pydantic models (editors and CI use it)."""

from __future__ import annotations

import json
from typing import Any

from .models import GraphSpec

SCHEMA_ID = "https://github.com/realtime-agent-engine/engine/schemas/graph.schema.json"


def graph_json_schema() -> dict[str, Any]:
    schema = GraphSpec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def graph_json_schema_text() -> str:
    """The schema exactly as checked in at `schemas/graph.schema.json`."""
    return json.dumps(graph_json_schema(), indent=2, sort_keys=False) + "\n"
