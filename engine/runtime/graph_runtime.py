"""What a graph needs once for all of its calls, so a server runs hundreds of sessions on one.

A `GraphRuntime` holds the compiler and its payloads cache, the toolbox (its argument validators, resolved callables,
one HTTP client and the bounded executor for sync tools), the guardrail checker and one client for
the Responses API (escalations and classifiers). Sessions borrow it; none of it holds per-call state.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..compile import SessionCompiler
from ..redact import auth_headers
from ..spec import Document
from ..tools import ResponsesClient, Toolbox
from .guardrails import GuardrailChecker
from .moves import CompiledPayloads

OPENAI_REALTIME_URL = "wss://api.openai.com/v1/realtime"


def realtime_url(url: str | None, model: str, call_id: str | None = None) -> str:
    """The websocket URL of a session: `url` (or OpenAI's) with the model, or the SIP call to attach to."""
    if url and ("model=" in url or "call_id=" in url):
        return url
    base = url or OPENAI_REALTIME_URL
    query = urlencode({"call_id": call_id} if call_id else {"model": model})
    return f"{base}{'&' if '?' in base else '?'}{query}"


def responses_base(url: str | None) -> str | None:
    """The HTTP base of a custom server: ws(s)://host/v1/realtime -> http(s)://host/v1."""
    if not url:
        return None
    parts = urlsplit(url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    path = parts.path.removesuffix("/").removesuffix("/realtime") or "/v1"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def credentials(api_key: str | None, headers: dict[str, str] | None) -> tuple[str, dict[str, str]]:
    """The API key (default `OPENAI_API_KEY`) and the connection's headers: a bearer token with the
    key, unless a credential header (Azure's `api-key`) is given."""
    api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
    headers = dict(headers or {})
    if api_key and not auth_headers(headers):
        headers["Authorization"] = f"Bearer {api_key}"
    return api_key, headers


class GraphRuntime:
    """The shared machinery of one graph. Use as `async with GraphRuntime(graph) as runtime:` and
    pass it to each `Session(runtime, ...)`; close it after the last session.

    `url`, `api_key` and `headers` are the defaults of its sessions (OpenAI, `OPENAI_API_KEY`), and
    authenticate the Responses client as the realtime connection does (Azure: `api-key`).
    Raises `engine.tools.CallableError` when a tool's `run:` target cannot be resolved.
    """

    def __init__(
        self,
        graph: Document,
        *,
        url: str | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        responses_url: str | None = None,
    ) -> None:
        self.graph = graph
        self.url = url
        self.api_key, self.headers = credentials(api_key, headers)
        self.compiler = SessionCompiler(graph)
        self.payloads = CompiledPayloads(self.compiler)
        self.toolbox = Toolbox(graph)
        self.responses = ResponsesClient(
            api_key=self.api_key or "unset",
            base_url=responses_url or responses_base(url),
            headers=auth_headers(self.headers),
        )
        self.guardrails = GuardrailChecker(graph, self.responses)
        #: Every guardrail's check interval, the smallest one first: 0 when the graph has none.
        self.guardrail_every = min((g.every_chars for g in graph.spec.guardrails.values()), default=0)

    @property
    def secrets(self) -> list[str]:
        """Values no output may show: the API key and credential header values."""
        return [self.api_key, *auth_headers(self.headers).values()]

    async def __aenter__(self) -> GraphRuntime:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.toolbox.aclose()
        await self.responses.aclose()
