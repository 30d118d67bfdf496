"""OpenAI SIP webhooks into an offline `engine serve`: signed per the standard-webhooks scheme, here."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from conftest import BUNDLED, GRAPHS, ROOT
from serving import engine_serve
from webhooks import secret_for
from webhooks import signed as signed_with

from engine.protocol.openai_check import session_problems
from engine.serve.sip import accept_fields, sip_context
from engine.validate import load_graph

SECRET_KEY = b"engine-serve-test-webhook-secret"
SECRET = secret_for(SECRET_KEY)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("db") / "calls.db")


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    args = (GRAPHS / "simple_handoff.yaml", "--max-calls", "1", "--drain-seconds", "1")
    with engine_serve(*args, db=db, env={"OPENAI_WEBHOOK_SECRET": SECRET}, clean_exit=True) as served:
        yield served.url


def _incoming(call_id: str) -> bytes:
    headers = [{"name": "From", "value": "sip:+14155550142@example.com"}, {"name": "X-Account", "value": "A-77"}]
    event = {
        "id": f"evt_{call_id}",
        "object": "event",
        "created_at": int(time.time()),
        "type": "realtime.call.incoming",
        "data": {"call_id": call_id, "sip_headers": headers},
    }
    return json.dumps(event).encode()


def _signed(body: bytes, delivery: str, *, at: int | None = None, key: bytes = SECRET_KEY) -> dict[str, str]:
    return signed_with(body, delivery, key, at=at)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _calls(base: str) -> int:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        return json.loads(response.read())["calls"]


def test_unsigned_stale_or_tampered_deliveries_are_refused(base: str) -> None:
    url = f"{base}/openai/webhook"
    body = _incoming("rtc_refused")
    assert _post(url, body, {})[0] == 400
    assert _post(url, body, _signed(body, "wh_1", key=b"some-other-secret"))[0] == 400
    assert _post(url, body, _signed(body, "wh_2", at=int(time.time()) - 3600))[0] == 400
    assert _post(url, body.replace(b"rtc_refused", b"rtc_tampered"), _signed(body, "wh_3"))[0] == 400
    assert _calls(base) == 0


def test_a_signed_call_is_taken_once_and_the_next_is_busy(base: str) -> None:
    url = f"{base}/openai/webhook"
    body = _incoming("rtc_one")
    headers = _signed(body, "wh_one")
    status, answer = _post(url, body, headers)
    assert (status, answer["status"], answer["call_id"]) == (200, "accepted", "rtc_one")
    deadline = time.monotonic() + 5
    while _calls(base) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _calls(base) == 1
    assert _post(url, body, headers)[1]["status"] == "duplicate"  # the same delivery, retried
    other = _incoming("rtc_two")
    status, answer = _post(url, other, _signed(other, "wh_two"))
    assert status == 200 and answer["status"] == "rejected" and "capacity" in answer["reason"]
    time.sleep(0.5)
    assert _calls(base) == 1  # the first call is still on


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_the_accept_body_is_a_valid_realtime_session_with_every_compiled_field(path) -> None:
    doc = load_graph(path)
    fields = accept_fields(doc, {}, "rtc_x")
    assert fields["type"] == "realtime" and fields["instructions"]
    assert session_problems(fields) == []  # the openai package's own types, strictly


def test_sip_headers_land_in_the_context() -> None:
    class Header:
        def __init__(self, name: str, value: str) -> None:
            self.name, self.value = name, value

    context = sip_context([Header("From", "sip:+1415@x"), Header("To", "sip:+1800@y"), Header("X-Account", "A-77")])
    assert context["caller"] == "sip:+1415@x" and context["called"] == "sip:+1800@y"
    assert context["sip_headers"]["X-Account"] == "A-77"


def test_the_sip_call_is_in_the_call_store(base: str, db: str) -> None:
    """(Runs after the call above.) Recorded as it happens, from `sip`, with the SIP caller."""
    done = subprocess.run(
        [sys.executable, "-m", "engine.records", "list", "--db", db, "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    sip = [c for c in json.loads(done.stdout) if c["frontend"] == "sip"]
    assert [c["caller"] for c in sip] == ["sip:+14155550142@example.com"]
