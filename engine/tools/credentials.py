"""Every secret a graph's tools send: the values to scrub from any text the engine shows or writes."""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.redact import is_secret_header
from engine.spec import Document
from engine.spec.models import EnvValue


def secret_values(document: Document, environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret header values of `document`'s HTTP tools and hosted MCP servers (the API key aside).

    A value is secret when it comes from the environment (`{env: NAME}`: the variable's value, and
    with its `prefix`) or sits under a credential header name (`Authorization`, `X-Api-Key`, ...),
    literal or not. Variables that are not set are skipped. Register the result with a `Redactor`.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, None] = {}  # ordered and without duplicates
    for tool in document.spec.tools.values():
        for call in (tool.http, tool.mcp):
            for name, value in (call.headers if call is not None else {}).items():
                if isinstance(value, EnvValue):
                    if environ.get(value.env):
                        found[environ[value.env]] = None
                        found[value.prefix + environ[value.env]] = None
                elif is_secret_header(name) and value:
                    found[value] = None
                    found[value.split(" ")[-1]] = None  # the bare token of "Bearer <token>"
    return list(found)
