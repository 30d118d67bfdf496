"""Resource limits of the template sandbox: no template may hang a process or exhaust its memory.

Jinja2's sandbox keeps templates away from Python's internals, but not from its resources:
`{{ 'a' * 10**9 }}` allocates a gigabyte, `{{ 10**10**10 }}` computes for hours (when the template
is compiled, as a constant), and three nested `range(1000)` loops run a billion times. Here every
value a template builds is checked *before* it is built (`*`, `**`, `%`, `+`, `~`, the padding
methods and filters), every loop draws from one budget of iterations per render, a render has a
deadline, and its output is cut off at `MAX_OUTPUT` characters by the caller. Crossing a limit
raises `TemplateLimitError`, a `SecurityError`, which rendering reports as a template error.

`check_limits` finds the same problems in a template's source, where they are written with
constants, so `validate` reports them before anything renders.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import Environment, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

#: Most characters one render may output (a realtime prompt is a few KiB).
MAX_OUTPUT = 1_000_000
#: Largest value a template may build: characters of a string, or items (nested ones counted) of a list.
MAX_VALUE = 1_000_000
#: Most loop iterations one render may take, all loops together.
MAX_ITERATIONS = 100_000
#: Largest integer a template may compute, in bits (about 3,000 decimal digits).
MAX_INT_BITS = 10_000
#: Longest a render may take, in seconds.
MAX_SECONDS = 2.0

_LOOP = "limited_loop"


class TemplateLimitError(SecurityError):
    """A template went beyond one of the sandbox's resource limits."""


class Budget:
    """The iteration budget and deadline of one render (a context manager; renders may nest)."""

    def __init__(self) -> None:
        self.iterations = MAX_ITERATIONS
        self.deadline = time.monotonic() + MAX_SECONDS
        self._token: contextvars.Token[Budget | None] | None = None

    def __enter__(self) -> Budget:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _current.reset(self._token)

    def spend(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise TemplateLimitError(f"the template's loops run more than {MAX_ITERATIONS:,} times")
        if self.iterations % 1024 == 0:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the template takes longer than {MAX_SECONDS:g} seconds to render")


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _budget() -> Budget:
    """The budget of the render under way; a render outside `Budget()` gets one of its own for each use."""
    return _current.get() or Budget()


# --- sizes -----------------------------------------------------------------------------------------


def _size(value: Any, limit: int = MAX_VALUE) -> int:
    """The size of a value with nested items counted (shared ones at every use), stopping past `limit`."""
    memo: dict[int, int] = {}

    def size(item: Any) -> int:
        if isinstance(item, str | bytes):
            return len(item)
        if not isinstance(item, list | tuple | dict | set | frozenset):
            return 1
        if id(item) in memo:
            return memo[id(item)]
        total = 1
        for child in item.items() if isinstance(item, dict) else item:
            total += size(child)
            if total > limit:
                break
        memo[id(item)] = total
        return total

    return size(value)


def _too_big(what: str, size: int) -> TemplateLimitError:
    return TemplateLimitError(f"{what} would be {size:,} characters or items long; templates may build {MAX_VALUE:,}")


def _check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
        raise TemplateLimitError(f"{what} {value:,} is too large (at most {MAX_VALUE:,})")


def _check_size(value: Any, what: str) -> Any:
    size = _size(value)
    if size > MAX_VALUE:
        raise _too_big(what, size)
    return value


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_NESTED_FIELD = re.compile(r"\{[^{}]*:[^{}]*\{")


def _check_printf(fmt: str, args: Any) -> None:
    """`'%0999999999d' % 1` allocates before it can be checked: check the widths in the format."""
    for match in _PRINTF.finditer(fmt):
        for width in match.groups():
            if width == "*":
                values = args if isinstance(args, tuple) else (args,)
                for value in values:
                    _check_int(value, "a '*' width of")
            elif width:
                _check_int(int(width), "a width of")


def _check_format(fmt: str, args: Iterable[Any]) -> None:
    """`'{:>999999999}'.format(1)` and `'{:{}}'.format(1, 10**9)`: widths in the format or its arguments."""
    for field in _FORMAT_FIELD.findall(fmt):
        spec = field.partition(":")[2]
        for width in re.findall(r"\d+", spec):
            _check_int(int(width), "a width of")
    if _NESTED_FIELD.search(fmt):  # a width taken from the arguments; other arguments are values to format
        for value in args:
            _check_int(int(value) if isinstance(value, str) and value.isdecimal() else value, "a format argument of")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = len(text) + 1 if old == "" else text.count(old)
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        size = len(text) + hits * (len(new) - len(old))
        if size > MAX_VALUE:
            raise _too_big("the replaced text", size)


def _checked_binop(operator: str, left: Any, right: Any) -> Any:
    """Apply a binary operator after checking that its result stays within the limits."""
    if operator == "*":
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(times, int) and isinstance(seq, str | bytes | list | tuple):
            size = _size(seq) * max(times, 0)
            if size > MAX_VALUE:
                raise _too_big("the repeated value", size)
        elif isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > MAX_INT_BITS:
                raise TemplateLimitError(f"the product would have about {bits:,} bits (at most {MAX_INT_BITS:,})")
        return left * right
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = (abs(left).bit_length() - 1) * right
            if bits > MAX_INT_BITS:
                raise TemplateLimitError(f"the power would have about {bits:,} bits (at most {MAX_INT_BITS:,})")
        return left**right
    if operator == "%":
        if isinstance(left, str):
            _check_printf(left, right)
            return _check_size(left % right, "the formatted text")
        return left % right
    if operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            size = _size(left) + _size(right)
            if size > MAX_VALUE:
                raise _too_big("the joined value", size)
        return left + right
    raise AssertionError(operator)  # pragma: no cover - only the operators in `intercepted_binops`


# Calls and filters whose integer arguments say how much they allocate.
_PASSED = (Environment, nodes.EvalContext, Context)  # what pass_environment and friends put first
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_SIZED_FILTERS = frozenset({"center", "indent", "batch", "slice", "wordwrap", "truncate"})


def _limited_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps `jinja_pass_arg` (pass_eval_context and friends)
    def limited(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in (*args, *kwargs.values()) if not isinstance(a, _PASSED)]
        if name == "format" and values and isinstance(values[0], str):
            _check_printf(values[0], tuple(values[1:]))
        elif name == "replace" and len(values) >= 3:
            _check_replace(*values[:4])
        else:
            for value in values[1:]:
                _check_int(value, f"'{name}' with")
                if name == "indent" and isinstance(value, str):
                    _check_size(value * 2, "the indentation")
        return _check_size(fn(*args, **kwargs), f"the result of '{name}'")

    return limited


class _LimitedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `a ~ b` joins strings without an operator the sandbox can intercept: check what it built.
        self.write("environment.limited_value(")
        super().visit_Concat(node, frame)
        self.write(")")


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with the resource limits of this module."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _LimitedCodeGenerator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in (*_SIZED_FILTERS, "format", "replace"):
            self.filters[name] = _limited_filter(name, self.filters[name])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return _checked_binop(operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            name = getattr(target, "__name__", "")
            if name in _PADDING_METHODS:
                for value in (*args, *kwargs.values()):
                    _check_int(value, f"'{name}' with")
            elif name in ("format", "format_map"):
                _check_format(owner, (*args, *kwargs.values(), *(v for a in args if isinstance(a, dict) for v in a)))
            elif name == "replace":
                _check_replace(owner, *args, *kwargs.values())
        _budget().check_time()
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result, "the call's result") if isinstance(result, str | list | tuple) else result

    def limited_loop(self, iterable: Any) -> Iterator[Any]:
        """What a `{% for %}` iterates: the same items, each drawn from the render's budget."""
        budget = _budget()
        for item in iterable:
            budget.spend()
            yield item

    def limited_value(self, value: Any) -> Any:
        return _check_size(value, "the joined text")

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        if any(source.find_all(nodes.For)):  # copied only when rewritten (a copy costs more than the rest)
            source = copy.deepcopy(source)  # the caller's tree stays as written (the static checks walk it)
            for loop in source.find_all(nodes.For):
                call = nodes.Call(nodes.EnvironmentAttribute(_LOOP), [loop.iter], [], None, None, lineno=loop.lineno)
                loop.iter = call
        return super()._generate(source, name, filename, defer_init)


# --- static checks ---------------------------------------------------------------------------------


class _Unknown(Exception):
    """The value of an expression is not known before rendering."""


def _static(node: nodes.Node) -> Any:
    """The value of a constant expression, computed within the limits; `_Unknown` when it is not constant."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple):
        return [_static(item) for item in node.items]
    if isinstance(node, nodes.Neg):
        return -_static(node.node)
    if isinstance(node, nodes.Pos):
        return +_static(node.node)
    if isinstance(node, nodes.Mul | nodes.Pow | nodes.Mod | nodes.Add):
        return _checked_binop(node.operator, _static(node.left), _static(node.right))
    if isinstance(node, nodes.Sub):
        return _static(node.left) - _static(node.right)
    raise _Unknown


def _maybe(node: nodes.Node) -> Any:
    """`_static`, or None when the value is not known before rendering (limit errors propagate)."""
    try:
        return _static(node)
    except (_Unknown, TypeError, ValueError, ArithmeticError):
        return None


def _loop_size(node: nodes.Node) -> int | None:
    """How many items a loop's iterable has, when it is written with constants (`range(1000)`, `[1, 2]`)."""
    while isinstance(node, nodes.Filter) and node.name in ("list", "reverse", "sort", "unique") and node.node:
        node = node.node
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
        args = [_maybe(a) for a in node.args]
        if args and all(isinstance(a, int) and not isinstance(a, bool) for a in args) and len(args) <= 3:
            try:
                return len(range(*args))
            except (ValueError, OverflowError):
                return None if 0 in args[2:] else MAX_VALUE * MAX_VALUE
        return None
    value = _maybe(node)
    return len(value) if isinstance(value, str | list) else None


def check_limits(ast: nodes.Template) -> list[tuple[int, str]]:
    """Limits a template crosses with constants alone: (line, message) for each, first one per line."""
    found: dict[int, str] = {}

    def report(node: nodes.Node, message: str) -> None:
        found.setdefault(node.lineno, message)

    for node in ast.find_all((nodes.BinExpr, nodes.Call, nodes.Filter)):
        try:
            if isinstance(node, nodes.BinExpr):
                _maybe(node)
            elif isinstance(node, nodes.Call):
                _static_call(node)
            else:
                _static_filter(node)
        except TemplateLimitError as exc:
            report(node, str(exc))

    def loops(node: nodes.Node, runs: int) -> None:
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.For):
                size = _loop_size(child.iter)
                total = runs * (size if size is not None else 1)
                if size is not None and total > MAX_ITERATIONS:
                    nested = " (nested loops multiply)" if runs > 1 else ""
                    report(child, f"the loop runs {total:,} times{nested}; a render may take {MAX_ITERATIONS:,}")
                    continue
                loops(child, total)
            else:
                loops(child, runs)

    loops(ast, 1)
    return sorted(found.items())


def _static_call(node: nodes.Call) -> None:
    args = [_maybe(a) for a in (*node.args, *(k.value for k in node.kwargs))]
    callee = node.node
    if isinstance(callee, nodes.Name) and callee.name == "range":
        ints = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
        if len(ints) == len(args) and 1 <= len(args) <= 3 and (len(args) < 3 or args[2] != 0):
            try:
                size = len(range(*ints))
            except OverflowError:
                size = MAX_VALUE * MAX_VALUE
            if size > MAX_RANGE:
                raise TemplateLimitError(f"range() of {size:,} items; templates may make {MAX_RANGE:,}")
    elif isinstance(callee, nodes.Getattr) and callee.attr in _PADDING_METHODS:
        for value in args:
            _check_int(value, f"'{callee.attr}' with")
    elif isinstance(callee, nodes.Getattr) and callee.attr == "format":
        owner = _maybe(callee.node)
        if isinstance(owner, str):
            _check_format(owner, args)


def _static_filter(node: nodes.Filter) -> None:
    args = [_maybe(a) for a in (*node.args, *(k.value for k in node.kwargs))]
    if node.name in _SIZED_FILTERS:
        for value in args:
            _check_int(value, f"'{node.name}' with")
    elif node.name == "format" and node.node is not None and isinstance(fmt := _maybe(node.node), str):
        _check_printf(fmt, tuple(args))
