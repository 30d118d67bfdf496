"""The `http:` executor against a real aiohttp server on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

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


# --- redirects, cookies and secrets -----------------------------------------------------------------

REDIRECT_GRAPH = """\
graph: redirects
start: main
agents:
  main: {instructions: x}
tools:
  cross:
    http: {url: "{a}/to-other", headers: &secrets {
      Authorization: {env: TEST_R_TOKEN, prefix: "Bearer "},
      X-Api-Key: {env: TEST_R_KEY},
      X-Tenant: {env: TEST_R_TENANT},
      api-key: literal-azure-key,
      Cookie: "sid=literal-cookie",
      X-Static: fixed}}
  same:
    http: {url: "{a}/to-self", headers: *secrets}
  back:
    http: {url: "{a}/to-other-and-back", headers: *secrets}
  loop:
    http: {url: "{a}/loop"}
  set_cookie:
    http: {url: "{a}/set-cookie"}
  echo_denied:
    http: {url: "{a}/denied", headers: *secrets}
"""


async def _site(app: web.Application):
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def origins():
    """Two servers on loopback, two origins (the ports differ): `a` redirects, both record what they get."""
    seen: dict[str, list[dict]] = {"a": [], "b": []}

    def landing(name: str):
        async def handler(request: web.Request) -> web.Response:
            seen[name].append(dict(request.headers))
            return web.json_response({"landed": name})

        return handler

    def redirect(to: Callable[[], str], status: type[web.HTTPException] = web.HTTPFound):
        async def handler(request: web.Request) -> web.Response:
            raise status(to())

        return handler

    async def denied(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"bad key {request.headers.get('X-Api-Key')}")

    b = web.Application()
    b.router.add_get("/landing", landing("b"))
    b.router.add_get("/back", redirect(lambda: f"{urls['a']}/landing"))
    b_runner, b_url = await _site(b)
    urls = {"b": b_url}

    a = web.Application()
    a.router.add_get("/landing", landing("a"))
    a.router.add_get("/to-other", redirect(lambda: f"{b_url}/landing"))
    a.router.add_get("/to-self", redirect(lambda: "/landing", web.HTTPTemporaryRedirect))
    a.router.add_get("/to-other-and-back", redirect(lambda: f"{b_url}/back"))
    a.router.add_get("/loop", redirect(lambda: "/loop"))
    a.router.add_get("/denied", denied)

    async def set_cookie(request: web.Request) -> web.Response:
        seen["a"].append(dict(request.headers))
        response = web.json_response({"set": True})
        response.set_cookie("sid", "from-the-server")
        return response

    a.router.add_get("/set-cookie", set_cookie)
    a_runner, a_url = await _site(a)
    urls["a"] = a_url
    yield a_url, seen
    await a_runner.cleanup()
    await b_runner.cleanup()


SECRETS = {"TEST_R_TOKEN": "token-0123456789", "TEST_R_KEY": "key-0123456789", "TEST_R_TENANT": "tenant-0123456789"}


@pytest.fixture
async def rbox(origins, write_graph, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    a, _ = origins
    toolbox = Toolbox(load_document(write_graph(REDIRECT_GRAPH.replace("{a}", a))))
    yield toolbox
    await toolbox.aclose()


async def test_a_redirect_to_another_origin_drops_every_secret_header(rbox, origins):
    _, seen = origins
    outcome = await rbox.execute("cross", "{}", ctx())
    assert json.loads(outcome.output) == {"landed": "b"}
    (headers,) = seen["b"]
    assert headers["X-Static"] == "fixed"
    for name in ("Authorization", "X-Api-Key", "X-Tenant", "api-key", "Cookie"):
        assert name not in headers, name
    assert not any(value in str(headers) for value in SECRETS.values())


async def test_a_redirect_within_the_origin_keeps_them(rbox, origins):
    _, seen = origins
    outcome = await rbox.execute("same", "{}", ctx())
    assert json.loads(outcome.output) == {"landed": "a"}
    (headers,) = seen["a"]
    assert headers["Authorization"] == "Bearer token-0123456789"
    assert headers["X-Api-Key"] == "key-0123456789" and headers["X-Tenant"] == "tenant-0123456789"
    assert headers["api-key"] == "literal-azure-key"
    assert "Cookie" not in headers  # httpx rebuilds a redirect's Cookie header from its (empty) jar, always


async def test_secret_headers_dropped_once_stay_dropped_when_a_redirect_comes_back(rbox, origins):
    _, seen = origins
    outcome = await rbox.execute("back", "{}", ctx())
    assert json.loads(outcome.output) == {"landed": "a"}
    (headers,) = seen["a"]
    assert "X-Api-Key" not in headers and "Authorization" not in headers and headers["X-Static"] == "fixed"


async def test_endless_redirects_are_an_error_outcome(rbox, origins):
    a, _ = origins
    outcome = await rbox.execute("loop", "{}", ctx())
    assert json.loads(outcome.output)["error"] == f"The request GET {a}/loop was redirected more than 20 times."


async def test_a_cookie_one_call_gets_is_not_sent_with_the_next(rbox, origins):
    _, seen = origins
    await rbox.execute("set_cookie", "{}", ctx())
    await rbox.execute("set_cookie", "{}", ctx())  # another session's call, on the same shared toolbox
    assert [h.get("Cookie") for h in seen["a"]] == [None, None]


async def test_a_secret_a_server_echoes_is_scrubbed_from_the_output(rbox):
    outcome = await rbox.execute("echo_denied", "{}", ctx())
    message = json.loads(outcome.output)["error"]
    assert message.endswith("failed with HTTP 401: bad key <redacted>")
    assert "key-0123456789" not in outcome.output + (outcome.error or "")
