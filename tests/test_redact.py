"""Secrets out of text: by value (the redactor, a graph's secret values) and by header name."""

from __future__ import annotations

import json
import logging

import pytest

from engine.redact import Redactor, is_secret_header
from engine.spec import load_document
from engine.tools import Toolbox, ToolContext, secret_values

GRAPH = """\
graph: secrets
start: main
agents:
  main: {instructions: x}
tools:
  docs:
    mcp:
      label: docs
      url: https://mcp.example.com
      headers:
        Authorization: {env: TEST_S_MCP_TOKEN, prefix: "Bearer "}
        X-Region: eu
  orders:
    http:
      url: https://orders.example.com/x
      headers:
        X-Api-Key: {env: TEST_S_ORDERS_KEY}
        X-Auth-Token: literal-token-value
        Authorization: "Basic bGl0ZXJhbC1iYXNpYw=="
        X-Trace: not-a-secret-at-all
        X-Missing: {env: TEST_S_NOT_SET}
  leak:
    run: "funcs:leak"
  crash:
    run: "funcs:crash"
"""

FUNCS = """\
import os


def leak():
    return {"token": os.environ["TEST_S_MCP_TOKEN"], "note": "ok"}


def crash():
    raise RuntimeError("could not log in with " + os.environ["TEST_S_ORDERS_KEY"])
"""

ENV = {"TEST_S_MCP_TOKEN": "mcp-secret-0123456789", "TEST_S_ORDERS_KEY": "orders-key-0123456789"}


@pytest.fixture
def path(write_graph, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TEST_S_NOT_SET", raising=False)
    return write_graph(GRAPH, **{"funcs.py": FUNCS})


def test_secret_values_are_every_env_header_and_every_credential_named_one(path):
    values = secret_values(load_document(path))
    assert set(values) == {
        "mcp-secret-0123456789",
        "Bearer mcp-secret-0123456789",
        "orders-key-0123456789",
        "literal-token-value",
        "Basic bGl0ZXJhbC1iYXNpYw==",
        "bGl0ZXJhbC1iYXNpYw==",
    }
    assert "eu" not in values and "not-a-secret-at-all" not in values


def test_secret_values_read_the_environment_given(path):
    values = secret_values(load_document(path), environ={"TEST_S_MCP_TOKEN": "another-0123456789"})
    assert "another-0123456789" in values and "mcp-secret-0123456789" not in values


async def test_the_toolbox_scrubs_secrets_from_outputs_errors_and_logs(path, caplog):
    box = Toolbox(load_document(path))
    outcome = await box.execute("leak", "{}", ToolContext(context={}))
    assert json.loads(outcome.output) == {"token": "<redacted>", "note": "ok"}
    with caplog.at_level(logging.DEBUG, logger="engine.tools"):
        outcome = await box.execute("crash", "{}", ToolContext(context={}))
    assert json.loads(outcome.output)["error"] == "Tool 'crash' failed: RuntimeError: could not log in with <redacted>"
    assert "orders-key" not in (outcome.error or "")
    assert "tool crash raised RuntimeError: could not log in with <redacted>" in caplog.text
    assert 'raise RuntimeError("could not log in with "' in caplog.text  # the traceback is there, scrubbed
    assert "orders-key" not in caplog.text
    await box.aclose()


def test_the_longest_secret_goes_first_and_whole():
    redact = Redactor(["abcdefgh12", "Bearer abcdefgh12"], "***")
    assert redact("auth: Bearer abcdefgh12, key abcdefgh12") == "auth: ***, key ***"


def test_secrets_can_be_added_later_and_short_ones_are_ignored():
    redact = Redactor(["first-secret-1"])
    redact.add(["second-secret-2", "short", "", None])  # type: ignore[list-item]
    assert redact.secrets == ("second-secret-2", "first-secret-1")
    assert redact("first-secret-1 second-secret-2 short") == "<redacted> <redacted> short"


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "api-key",
        "X-Api-Key",
        "Cookie",
        "Proxy-Authorization",
        "X-Auth-Token",
        "X-Goog-Api-Key",
        "X-Amz-Security-Token",
        "X-Session",
        "X_Secret",
    ],
)
def test_credential_header_names(name):
    assert is_secret_header(name) and is_secret_header(name.upper())


@pytest.mark.parametrize(
    "name", ["Content-Type", "Accept", "X-Region", "User-Agent", "X-Request-Id", "X-Author", "X-Keyboard-Layout"]
)
def test_ordinary_header_names(name):
    assert not is_secret_header(name)
