"""Keeping credentials out of what the engine writes: events files, error messages, logs, tool outputs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: Headers that carry a credential (OpenAI's bearer token, Azure's `api-key`), compared lowercased.
AUTH_HEADERS = frozenset({"authorization", "api-key"})
#: Headers never sent to another origin on a redirect, nor shown: credentials by name, compared lowercased.
SECRET_HEADERS = AUTH_HEADERS | {"proxy-authorization", "x-api-key", "cookie", "set-cookie"}
# Names with a word that says "credential", in any vendor's spelling: X-Auth-Token, X-Goog-Api-Key,
# X-Amz-Security-Token, X-Session, ... (whole words: X-Author is not one).
_SECRET_NAME = re.compile(
    r"(?:^|[-_])(?:auth|authorization|token|secret|password|passwd|key|apikey|session|cookie|signature|credentials?)"
    r"(?:$|[-_])",
    re.IGNORECASE,
)
#: Shorter secrets are not replaced inside text: with a key of "k", every letter k would go.
MIN_SECRET_LENGTH = 8


def auth_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The credential-carrying headers among `headers`."""
    return {name: value for name, value in headers.items() if name.lower() in AUTH_HEADERS}


def is_secret_header(name: str) -> bool:
    """Whether a header's name marks its value as a credential (`Authorization`, `X-Api-Key`, cookies, ...)."""
    return name.lower() in SECRET_HEADERS or _SECRET_NAME.search(name) is not None


class Redactor:
    """Replaces each secret in a text; longest first, so an `Authorization` value, which contains
    the bare key, goes whole. More secrets can be registered later with `add`."""

    def __init__(self, secrets: Iterable[str] = (), mark: str = "<redacted>") -> None:
        self._secrets: list[str] = []
        self._mark = mark
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secrets; values shorter than `MIN_SECRET_LENGTH` (or not strings) are ignored."""
        known = set(self._secrets)
        known.update(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH)
        self._secrets = sorted(known, key=len, reverse=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, self._mark)
        return text
