"""The Jinja2 side of `templates`: the sandboxed environments, rendering and the static checks.

Imported on the first template with markup (`templates` renders and checks plain text itself), so
a graph without templates never loads Jinja2.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import TemplateRenderError
from engine.spec import did_you_mean

from .limits import MAX_OUTPUT, Budget, LimitedSandbox, TemplateLimitError, check_limits
from .templates import CHECKED_MAPPINGS, TemplateProblem

_ENV = LimitedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
# Guards may test keys that tools set later; a lenient twin lets a missing key read as false.
_LENIENT_ENV = LimitedSandbox(undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=True)

_TOO_DEEP = "the template nests too deeply to check (brackets, blocks or expressions within each other)"

# Uses of a possibly-undefined value that are safe under StrictUndefined.
_SAFE_FILTERS = frozenset({"default", "d"})
_SAFE_TESTS = frozenset({"defined", "undefined"})


# --- rendering ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _template(source: str, name: str) -> Any:
    # Compiling with the name makes runtime errors point at `name:line`; cached because tool
    # templates render on every call.
    code = _ENV.compile(source, name=name, filename=name)
    return _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)


def render(source: str, variables: Mapping[str, Any], *, name: str) -> str:
    """Render a template in the sandbox; raise `TemplateRenderError` on any template error."""
    try:
        with Budget():
            return _bounded(_template(source, name).generate(variables))
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(name, exc.lineno, exc.message or str(exc)) from None
    except TemplateError as exc:
        raise TemplateRenderError(name, _error_line(exc, name), str(exc)) from None
    except Exception as exc:  # the template's own expressions: 1/0, 'a' + 1, ...
        raise TemplateRenderError(name, _error_line(exc, name), f"{type(exc).__name__}: {exc}") from None


def _bounded(chunks: Iterator[str]) -> str:
    """The rendered text, refused as soon as it grows beyond `MAX_OUTPUT` characters."""
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TemplateLimitError(f"the template renders more than {MAX_OUTPUT:,} characters")
        out.append(chunk)
    return "".join(out)


def render_expression(expr: str, variables: Mapping[str, Any], *, strict: bool = True) -> Any:
    """Evaluate a Jinja2 expression (a guard) in the sandbox.

    With `strict=False`, a missing name or key (at any depth) is falsy and an undefined result is None.
    """
    env = _ENV if strict else _LENIENT_ENV
    try:
        with Budget():
            value = _expression(env, expr)(**variables)
        if isinstance(value, Undefined):
            if strict:
                value._fail_with_undefined_error()
            return None
        return value
    except TemplateError as exc:
        raise TemplateRenderError("expression", None, f"{exc} in {expr!r}") from None
    except Exception as exc:
        raise TemplateRenderError("expression", None, f"{type(exc).__name__}: {exc} in {expr!r}") from None


@functools.lru_cache(maxsize=512)
def _expression(env: ImmutableSandboxedEnvironment, expr: str) -> Any:
    return env.compile_expression(expr, undefined_to_none=False)


def _error_line(exc: BaseException, name: str) -> int | None:
    """The template line of a runtime error: Jinja rewrites traceback frames to the template's lines."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# --- checking --------------------------------------------------------------------------------------


def check_template(
    source: str, known: Mapping[str, Any], *, checked: tuple[str, ...] = CHECKED_MAPPINGS
) -> list[TemplateProblem]:
    """`templates.check_template` for a template with markup (the facade there says what it finds)."""
    try:
        ast = _ENV.parse(source)
        _ENV.compile(ast)  # unknown filters and tests are only found when compiling
        return _undefined(ast, known, checked)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 1, exc.message or str(exc), "E401")]
    except (RecursionError, SyntaxError):  # SyntaxError: Python refuses the code (20 nested blocks and more)
        return [TemplateProblem(1, _TOO_DEEP, "E401")]


def check_expression(
    expr: str, known: Mapping[str, Any], *, checked: tuple[str, ...] = CHECKED_MAPPINGS
) -> list[TemplateProblem]:
    """Syntax errors (E401), undefined variables (E402) and refused attributes (E403) of an expression (a guard)."""
    try:
        parser = Parser(_ENV, expr, state="variable")
        body = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", token.lineno)
        ast = nodes.Template([nodes.Output([body], lineno=1)], lineno=1)
        ast.set_environment(_ENV)
        _ENV.compile(ast)
        return _undefined(ast, known, checked)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 1, exc.message or str(exc), "E401")]
    except (RecursionError, SyntaxError):  # SyntaxError: Python refuses the code (20 nested blocks and more)
        return [TemplateProblem(1, _TOO_DEEP, "E401")]


def _undefined(ast: nodes.Template, known: Mapping[str, Any], checked: tuple[str, ...]) -> list[TemplateProblem]:
    unsafe = [TemplateProblem(node.lineno, message, "E403") for node, message in _unsafe(ast)]
    limits = [TemplateProblem(line, message, "E405") for line, message in check_limits(ast)]
    return sorted([*unsafe, *limits, *_unknown_names(ast, known, checked)], key=lambda p: p.line)


def _refused_attr(node: nodes.Node) -> str | None:
    """The attribute a `x.attr` or `x['attr']` node reads when the sandbox refuses it (it starts with `_`)."""
    if isinstance(node, nodes.Getattr):
        attr = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        attr = node.arg.value
    else:
        return None
    return attr if isinstance(attr, str) and attr.startswith("_") else None


def _unsafe(ast: nodes.Template) -> Iterator[tuple[nodes.Node, str]]:
    """Attribute uses the sandbox refuses, one per chain: `''.__class__.__mro__` reports `__class__`."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = _refused_attr(node)
        inner = node.node  # type: ignore[attr-defined]
        if (
            attr is None
            or _refused_attr(inner)
            or any(map(_refused_attr, inner.find_all((nodes.Getattr, nodes.Getitem))))
        ):
            continue
        yield node, f"'{attr}' is not allowed: templates are sandboxed and cannot reach attributes starting with '_'"


def _unknown_names(ast: nodes.Template, known: Mapping[str, Any], checked: tuple[str, ...]) -> list[TemplateProblem]:
    undeclared = meta.find_undeclared_variables(ast)
    found: dict[str, tuple[int, str]] = {}  # first use of each unknown name -> (line, message)
    guarded: set[str] = set()
    for node, safe in _walk(ast, False):
        name, hint = _unknown(node, undeclared, known, checked)
        if name is None:
            continue
        if safe:
            # An author who tests a name (`x is defined`, `x | default`) knows it may be missing,
            # so its other uses (inside the `if`) are fine too.
            guarded.add(name)
        elif name not in found:
            found[name] = (node.lineno, f"undefined variable '{name}'{hint}")
    return [TemplateProblem(line, msg, "E402") for name, (line, msg) in found.items() if name not in guarded]


def _unknown(
    node: nodes.Node, undeclared: set[str], known: Mapping[str, Any], checked: tuple[str, ...]
) -> tuple[str | None, str]:
    """The unknown name a node reads (`x`, or `context.x` for a checked mapping) and a did-you-mean."""
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name in undeclared and node.name not in known:
            return node.name, did_you_mean(node.name, known)
        return None, ""
    key = _member(node, checked)
    if key is None or key.startswith("_"):  # `_x` is refused by the sandbox (E403), not undefined
        return None, ""
    base = node.node.name  # type: ignore[attr-defined]
    value = known.get(base)
    if base not in undeclared or not isinstance(value, Mapping) or key in value or hasattr(dict, key):
        return None, ""
    return f"{base}.{key}", did_you_mean(key, [str(k) for k in value])


def _member(node: nodes.Node, checked: tuple[str, ...]) -> str | None:
    """`key` when the node is `context.key` or `context['key']` (for a checked mapping name)."""
    if not isinstance(node, nodes.Getattr | nodes.Getitem):
        return None
    base = node.node
    if not isinstance(base, nodes.Name) or base.name not in checked:
        return None
    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = node.arg
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def _walk(node: nodes.Node, guarded: bool) -> Iterator[tuple[nodes.Node, bool]]:
    """Every node with whether it sits where an undefined value is allowed (`x is defined`, `x|default`)."""
    yield node, guarded
    safe = (isinstance(node, nodes.Filter) and node.name in _SAFE_FILTERS) or (
        isinstance(node, nodes.Test) and node.name in _SAFE_TESTS
    )
    for child in node.iter_child_nodes():
        # Only the tested value itself is safe, not the filter's arguments.
        yield from _walk(child, guarded or (safe and child is node.node))  # type: ignore[attr-defined]
