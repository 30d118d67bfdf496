"""The `http:` executor: one request per call, URL rendered from a template, secrets from the environment.

Values inserted in the URL are percent-encoded (all of them, `/` included), so a model-chosen
argument can never change the path or add query parameters. Arguments the URL template names
(`args.x`, `args['x']`) are not sent again: the others go in the query string (GET, DELETE) or
the JSON body (POST, PUT, PATCH).

Redirects are followed here, not by httpx (which strips only `Authorization`): a redirect to
another origin (scheme, host or port) drops every secret header first, those whose value comes
from the environment and those named like a credential (`is_secret_header`). Once dropped they
stay dropped, even if a later redirect comes back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from engine.compile.templates import render
from engine.redact import Redactor, is_secret_header
from engine.spec.models import EnvValue, HttpCall

from .base import ToolContext, ToolError, template_variables

if TYPE_CHECKING:
    import httpx

_URL_ARGS = re.compile(r"\bargs\s*(?:\.\s*(\w+)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_EXCERPT = 300


def shared_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` fit to serve many sessions: it keeps no cookies (a cookie one session's
    call got would go along with every other session's calls). `options` go to the client."""
    from http.cookiejar import CookieJar, DefaultCookiePolicy

    import httpx

    return httpx.AsyncClient(cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])), **options)


def resolve_headers(
    headers: Mapping[str, str | EnvValue], *, tool: str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Header values, `{env: NAME, prefix: ...}` ones read from the environment (never shown in errors)."""
    environ = os.environ if environ is None else environ
    out = {}
    for key, value in headers.items():
        if isinstance(value, EnvValue):
            if value.env not in environ:
                raise ToolError(
                    f"Tool '{tool}' is not configured: environment variable '{value.env}' (header '{key}') is not set."
                )
            out[key] = value.prefix + environ[value.env]
        else:
            out[key] = value
    return out


async def run_http(
    name: str,
    call: HttpCall,
    args: dict[str, Any],
    ctx: ToolContext,
    client: httpx.AsyncClient,
    *,
    timeout: float,
    graph: str = "",
) -> Any:
    import httpx

    headers = resolve_headers(call.headers, tool=name)
    variables = template_variables(_quoted(args), ToolContext(_quoted(ctx.context), agent=ctx.agent), graph)
    url = render(call.url, variables, name=f"tools.{name}.http.url").strip()
    in_url = {a or b for a, b in _URL_ARGS.findall(call.url)}
    rest = {k: v for k, v in args.items() if k not in in_url}

    request: dict[str, Any] = {"headers": headers, "timeout": timeout}
    if call.method in ("GET", "DELETE"):
        # httpx replaces a URL's own query with `params`: carry the template's query over first.
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        for key, value in rest.items():
            values = value if isinstance(value, list) else [value]
            params += [(key, _param(v)) for v in values if v is not None]
        url = urlunsplit((*parts[:3], "", parts.fragment))
        request["params"] = params
    else:
        request["json"] = rest
    where = f"{call.method} {_without_query(url)}"
    secret = {k.lower() for k, v in call.headers.items() if isinstance(v, EnvValue)}
    scrub = Redactor(v for k, v in headers.items() if k.lower() in secret or is_secret_header(k))
    try:
        response = await client.request(call.method, url, follow_redirects=False, **request)
        for _ in range(client.max_redirects):
            if response.next_request is None:
                break
            response = await client.send(_redirect(response, secret), follow_redirects=False)
        else:
            if response.next_request is not None:
                raise ToolError(f"The request {where} was redirected more than {client.max_redirects} times.")
    except httpx.HTTPError as exc:
        detail = scrub(f"{type(exc).__name__}: {exc or 'no detail'}")
        raise ToolError(f"The request {where} failed: {detail}") from None

    body = _body(response)
    if response.status_code >= 400:
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        text = scrub(text)  # before cutting, so no half of a secret is left at the cut
        excerpt = text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")
        raise ToolError(f"The request {where} failed with HTTP {response.status_code}: {excerpt}")
    return body


def _redirect(response: httpx.Response, secret: set[str]) -> httpx.Request:
    """The request a redirect asks for, without secret headers when it goes to another origin."""
    request = response.next_request
    assert request is not None
    if _origin(request.url) != _origin(response.request.url):
        for name in list(request.headers):
            if name.lower() in secret or is_secret_header(name):
                del request.headers[name]
    return request


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


def _quoted(value: Any) -> Any:
    """Every string leaf percent-encoded for a URL."""
    if isinstance(value, str):
        return quote(value, safe="")
    if isinstance(value, dict):
        return {k: _quoted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_quoted(v) for v in value]
    return value


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _body(response: httpx.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
