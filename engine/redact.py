"""Keeping credentials out of what the engine writes: events files, error messages, logs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Headers that carry a credential (OpenAI's bearer token, Azure's `api-key`), compared lowercased.
AUTH_HEADERS = frozenset({"authorization", "api-key"})
#: Shorter secrets are not replaced inside text: with a key of "k", every letter k would go.
MIN_SECRET_LENGTH = 8


def auth_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The credential-carrying headers among `headers`."""
    return {name: value for name, value in headers.items() if name.lower() in AUTH_HEADERS}


class Redactor:
    """Replaces each secret in a text; longest first, so an `Authorization` value, which contains
    the bare key, goes whole."""

    def __init__(self, secrets: Iterable[str], mark: str = "<redacted>") -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._mark = mark

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, self._mark)
        return text
