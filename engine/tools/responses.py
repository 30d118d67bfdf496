"""A thin client for the Responses API (escalations, guardrail classifiers), safe to log.

`openai` is imported on first use so that validating a graph never pays for it. Errors are
re-raised as `ResponsesError` with the API key (and anything shaped like one) scrubbed.
"""

from __future__ import annotations

import re
from typing import Any

from ..redact import Redactor, auth_headers

_KEY_SHAPE = re.compile(r"\bsk-[A-Za-z0-9_*\-]{4,}")


class ResponsesError(Exception):
    """A Responses API call failed; the message never holds the API key."""


class ResponsesClient:
    def __init__(self, api_key: str, base_url: str | None = None, headers: dict[str, str] | None = None) -> None:
        self._api_key = api_key
        self.base_url = base_url
        self._headers = dict(headers or {})
        # Azure authenticates with an `api-key` header: no bearer token goes along (least of all an OpenAI key).
        self._omit_bearer = any(k.lower() == "api-key" for k in self._headers)
        self._redact = Redactor([api_key, *auth_headers(self._headers).values()], "***")
        self._client: Any = None

    def __repr__(self) -> str:
        return f"ResponsesClient(base_url={self.base_url!r})"

    @property
    def openai(self) -> Any:
        """The `openai.AsyncOpenAI` client (made on first use), for the other endpoints of the same server."""
        return self._openai()

    def _openai(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url, default_headers=self._headers or None
            )
        return self._client

    async def create(self, **kwargs: Any) -> Any:
        """`responses.create(**kwargs)`; returns the `openai.types.responses.Response`."""
        import openai

        if self._omit_bearer:
            kwargs["extra_headers"] = {**kwargs.get("extra_headers", {}), "Authorization": openai.Omit()}
        try:
            return await self._openai().responses.create(**kwargs)
        except openai.OpenAIError as exc:
            raise ResponsesError(self.scrub(f"{type(exc).__name__}: {exc}")) from None

    async def decide(self, **kwargs: Any) -> Any:
        """`decisions.create(**kwargs)` (the same server and credentials); returns the `openai.types.Decision`."""
        import openai

        if self._omit_bearer:
            kwargs["extra_headers"] = {**kwargs.get("extra_headers", {}), "Authorization": openai.Omit()}
        try:
            return await self._openai().decisions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise ResponsesError(self.scrub(f"{type(exc).__name__}: {exc}")) from None

    def scrub(self, text: str) -> str:
        """`text` without the API key or secret-looking header values."""
        # Short placeholders ("unset") are not secrets: the redactor leaves them.
        return _KEY_SHAPE.sub("sk-***", self._redact(text))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
