"""Webhook deliveries signed per the Standard Webhooks scheme (what OpenAI sends), written from the
scheme's text, apart from the server code that checks them (the openai package's helpers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def secret_for(key: bytes) -> str:
    """The `whsec_...` secret (`OPENAI_WEBHOOK_SECRET`) whose signing key is `key`."""
    return "whsec_" + base64.b64encode(key).decode()


def signed(body: bytes, delivery: str, key: bytes, *, at: int | None = None) -> dict[str, str]:
    """The headers of delivery `delivery` of `body`, signed with `key` at `at` (default: now)."""
    timestamp = str(at if at is not None else int(time.time()))
    mac = hmac.new(key, f"{delivery}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": delivery,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }
