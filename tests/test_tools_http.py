"""The `http:` executor against a real aiohttp server on loopback."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from engine.spec import load_document
from engine.tools import Toolbox, ToolContext

GRAPH = """\
graph: http
start: main
context: {region: eu west}
agents:
  main: {instructions: x, tools: [get_order, create_ticket, remove, broken, plain, secret, nowhere]}
tools:
  get_order:
    parameters:
      type: object
      properties: {order_id: {type: string}, verbose: {type: boolean}, fields: {type: array, items: {type: string}}}
      required: [order_id]
    http:
      url: "{base}/orders/{{ args.order_id }}?region={{ region }}"
      headers:
        Authorization: {env: TEST_ORDERS_TOKEN, prefix: "Bearer "}
        X-Static: fixed
  create_ticket:
    parameters: {type: object, properties: {order_id: {type: string}, note: {type: string}}, required: [note]}
    http: {method: POST, url: "{base}/tickets/{{ args['order_id'] }}"}
  remove:
    parameters: {type: object, properties: {id: {type: integer}}, required: [id]}
    http: {method: DELETE, url: "{base}/items"}
  broken:
    http: {url: "{base}/fail"}
  plain:
    http: {url: "{base}/plain"}
  secret:
    http:
      url: "{base}/plain"
      headers: {X-Key: {env: TEST_UNSET_VARIABLE_XYZ}}
  nowhere:
    http: {url: "http://127.0.0.1:1/nothing"}
    timeout: 5s
"""


@pytest.fixture
async def server():
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append(
            {
                "method": request.method,
                "path": request.raw_path.split("?")[0],
                "query": {k: request.query.getall(k) for k in request.query},
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )
        return web.json_response({"status": "shipped", "echo": seen[-1]["path"]})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error: " + "x" * 1000)

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="just text")

    app = web.Application()
    app.router.add_get("/fail", fail)
    app.router.add_get("/plain", plain)
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.fixture
async def box(server, write_graph, monkeypatch):
    monkeypatch.setenv("TEST_ORDERS_TOKEN", "tok-123")
    monkeypatch.delenv("TEST_UNSET_VARIABLE_XYZ", raising=False)
    base, _ = server
    toolbox = Toolbox(load_document(write_graph(GRAPH.replace("{base}", base))))
    yield toolbox
    await toolbox.aclose()


def ctx() -> ToolContext:
    return ToolContext(context={"region": "eu west"}, agent="main")


async def test_get_sends_the_remaining_args_as_query_and_env_headers(box, server):
    _, seen = server
    args = {"order_id": "A/1 ?x", "verbose": True, "fields": ["a", "b"]}
    outcome = await box.execute("get_order", json.dumps(args), ctx())
    assert outcome.ok, outcome.output
    request = seen[-1]
    assert request["method"] == "GET"
    assert request["path"] == "/orders/A%2F1%20%3Fx"  # one path segment, whatever the model sends
    assert request["query"] == {"region": ["eu west"], "verbose": ["true"], "fields": ["a", "b"]}
    assert request["headers"]["Authorization"] == "Bearer tok-123"
    assert request["headers"]["X-Static"] == "fixed"
    assert json.loads(outcome.output) == {"status": "shipped", "echo": "/orders/A%2F1%20%3Fx"}


async def test_post_sends_a_json_body(box, server):
    _, seen = server
    outcome = await box.execute("create_ticket", '{"order_id": "A1", "note": "late"}', ctx())
    assert outcome.ok
    assert seen[-1]["method"] == "POST" and seen[-1]["path"] == "/tickets/A1"
    assert seen[-1]["body"] == {"note": "late"}  # order_id went into the URL


async def test_delete_sends_query_params(box, server):
    _, seen = server
    assert (await box.execute("remove", '{"id": 7}', ctx())).ok
    assert seen[-1]["method"] == "DELETE" and seen[-1]["query"] == {"id": ["7"]} and seen[-1]["body"] is None


async def test_text_responses_are_json_strings(box):
    outcome = await box.execute("plain", "{}", ctx())
    assert outcome.ok and json.loads(outcome.output) == "just text"


async def test_error_status_gives_the_status_and_a_short_excerpt(box, server):
    base, _ = server
    outcome = await box.execute("broken", "{}", ctx())
    assert not outcome.ok
    message = json.loads(outcome.output)["error"]
    assert message.startswith(f"The request GET {base}/fail failed with HTTP 500: internal error: xxx")
    assert len(message) < 500


async def test_missing_env_variable_is_named_never_valued(box, server, monkeypatch):
    _, seen = server
    count = len(seen)
    outcome = await box.execute("secret", "{}", ctx())
    assert not outcome.ok
    assert "environment variable 'TEST_UNSET_VARIABLE_XYZ'" in json.loads(outcome.output)["error"]
    assert len(seen) == count  # nothing was sent


async def test_connection_failure_is_an_error_outcome(box):
    outcome = await box.execute("nowhere", "{}", ctx())
    assert not outcome.ok
    assert "The request GET http://127.0.0.1:1/nothing failed: ConnectError" in json.loads(outcome.output)["error"]


async def test_a_given_client_is_used_and_left_open(server, write_graph, monkeypatch):
    import httpx

    monkeypatch.setenv("TEST_ORDERS_TOKEN", "t")
    base, seen = server
    async with httpx.AsyncClient(headers={"X-Shared": "yes"}) as client:
        toolbox = Toolbox(load_document(write_graph(GRAPH.replace("{base}", base))), http_client=client)
        assert (await toolbox.execute("remove", '{"id": 1}', ctx())).ok
        await toolbox.aclose()
        assert not client.is_closed
    assert seen[-1]["headers"]["X-Shared"] == "yes"
