"""Python callables named `module:function` in a graph file, and the `run:` tool executor.

`module` is resolved in the graph file's folder: `retail_tools` is `retail_tools.py` or the package
`retail_tools/`; `pkg.mod` is `pkg/mod.py` (or `pkg/mod/`); `tools/retail.py` is that file.

Loading: the graph folder becomes a private package named `_engine_graph_<hash of the folder>` and
the module is loaded as a submodule of it, so it never collides with an installed module of the
same name and relative imports (`from .helpers import x`) work. While the module executes, the graph
folder is also put first on `sys.path` (and removed right after), so plain sibling imports
(`import helpers`) work too; those siblings are then ordinary entries of `sys.modules`. A module is
loaded once per process (until its file changes), so tools of one module share its state.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.spec import did_you_mean

from .base import ToolContext

if TYPE_CHECKING:
    from .threads import ToolThreads  # imports asyncio, which `engine validate` does without

#: The keyword-only parameter through which a callable receives the live session context.
CONTEXT_PARAMETER = "context"

_lock = threading.RLock()
_loaded: dict[Path, tuple[int, types.ModuleType]] = {}


class CallableError(Exception):
    """A `module:function` reference cannot be resolved; the message says why and where."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def resolve_callable(base_dir: Path, target: str) -> Callable[..., Any]:
    """The callable `target` (`module:function`) names, with its module resolved in `base_dir`."""
    module_ref, sep, attr = target.partition(":")
    if not sep or not module_ref.strip() or not attr.strip():
        raise CallableError(f"'{target}' is not a python callable reference: write 'module:function'")
    base_dir = Path(base_dir).resolve()
    path, dotted = _module_file(base_dir, module_ref.strip())
    module = _load(base_dir, path, dotted)
    obj: Any = module
    for part in attr.strip().split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise CallableError(f"{_display(path)} has no function '{attr}'{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CallableError(f"'{target}' is not callable (it is a {type(obj).__name__})")
    return obj


def check_signature(fn: Callable[..., Any], parameters_schema: dict[str, Any]) -> list[str]:
    """Why calling `fn(**args, [context=...])` with arguments valid for the schema could fail."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []  # builtins without a signature: nothing to check
    props = parameters_schema.get("properties") or {}
    required = set(parameters_schema.get("required") or [])
    params = sig.parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    by_keyword = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    problems = []
    for name in props:
        if name not in by_keyword and not var_kw:
            if name in required:
                problems.append(f"the schema requires '{name}' but the function does not accept it")
            else:
                problems.append(f"the schema allows '{name}' but the function does not accept it")
    for name, p in params.items():
        if p.kind is p.POSITIONAL_ONLY and p.default is p.empty:
            problems.append(f"parameter '{name}' is positional-only; arguments are passed by keyword")
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or name in props:
            if name in props and name not in required and p.default is p.empty:
                problems.append(f"parameter '{name}' has no default but the schema does not require it")
            continue
        if name == CONTEXT_PARAMETER:
            if p.kind is not p.KEYWORD_ONLY:
                problems.append("parameter 'context' receives the session context only when keyword-only: `*, context`")
            continue
        if p.default is p.empty:
            problems.append(f"parameter '{name}' has no default and is not a property of the schema")
    return problems


def takes_context(fn: Callable[..., Any], parameters_schema: dict[str, Any] | None = None) -> bool:
    """Whether `fn` has the keyword-only `context` parameter (and `context` is not a tool argument)."""
    try:
        p = inspect.signature(fn).parameters.get(CONTEXT_PARAMETER)
    except (TypeError, ValueError):
        return False
    in_schema = CONTEXT_PARAMETER in ((parameters_schema or {}).get("properties") or {})
    return p is not None and p.kind is p.KEYWORD_ONLY and not in_schema


async def call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call `fn`: coroutine functions are awaited, others run in a thread so the event loop never blocks."""
    return await _invoke(fn, args, kwargs, None, None)


async def run_python(
    fn: Callable[..., Any],
    args: dict[str, Any],
    ctx: ToolContext,
    *,
    with_context: bool,
    threads: ToolThreads | None = None,
    timer: StepTimer | None = None,
) -> Any:
    """The `run:` executor: the callable's return value (serialized by the toolbox).

    Sync callables run on `threads` (default: the loop's default executor); the steps of async ones
    are timed by `timer`, which so learns whether the tool blocked the event loop.
    """
    kwargs = {**args, CONTEXT_PARAMETER: ctx.context} if with_context else dict(args)
    return await _invoke(fn, (), kwargs, threads, timer)


class StepTimer:
    """Times each step of a coroutine, the stretch it holds the event loop without yielding.

    A step of more than a few milliseconds means blocking work (`time.sleep`, a sync socket) inside
    `async def`: while it runs, nothing else on the loop does, timeouts included.
    """

    def __init__(self) -> None:
        self.longest = 0.0

    def wrap(self, coroutine: Any) -> Any:
        """An awaitable running `coroutine` step by step, timing each step."""
        return _timed(coroutine, self)


@types.coroutine
def _timed(coroutine: Any, timer: StepTimer) -> Any:
    send, throw = coroutine.send, coroutine.throw
    message: Any = None
    error: BaseException | None = None
    while True:
        start = time.perf_counter()
        try:
            signal = send(message) if error is None else throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            timer.longest = max(timer.longest, time.perf_counter() - start)
        try:
            message, error = (yield signal), None
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:  # a cancellation (or anything thrown in) goes on to the tool
            message, error = None, exc


async def _invoke(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    threads: ToolThreads | None,
    timer: StepTimer | None,
) -> Any:
    method = type(fn).__call__ if not inspect.isroutine(fn) else None  # objects with an async __call__
    if inspect.iscoroutinefunction(fn) or (method is not None and inspect.iscoroutinefunction(method)):
        result = fn(*args, **kwargs)
    elif threads is not None:
        result = await threads.run(fn, *args, **kwargs)
    else:
        import asyncio  # here: `engine validate` resolves callables and must not import asyncio

        result = await asyncio.to_thread(fn, *args, **kwargs)
    if inspect.iscoroutine(result) and timer is not None:
        result = await timer.wrap(result)
    elif inspect.isawaitable(result):
        result = await result
    return result


# --- loading -----------------------------------------------------------------------------------------


def _module_file(base_dir: Path, ref: str) -> tuple[Path, str]:
    """The file of module `ref` and its dotted name relative to `base_dir`."""
    if ref.endswith(".py") or "/" in ref:
        rel = Path(ref)
        dotted = ".".join(rel.with_suffix("").parts)
        candidates = [base_dir / rel]
    else:
        rel = Path(*ref.split("."))
        dotted = ref
        candidates = [base_dir / rel.with_suffix(".py"), base_dir / rel / "__init__.py"]
    for candidate in candidates:
        if candidate.is_file():
            if not candidate.resolve().is_relative_to(base_dir):
                raise CallableError(f"module '{ref}' is outside the graph's folder {_display(base_dir)}")
            return candidate.resolve(), dotted
    tried = " or ".join(_display(c) for c in candidates)
    raise CallableError(f"module '{ref}' not found: no {tried}")


def _package_name(base_dir: Path) -> str:
    return "_engine_graph_" + hashlib.sha1(str(base_dir).encode()).hexdigest()[:12]


def _load(base_dir: Path, path: Path, dotted: str) -> types.ModuleType:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise CallableError(f"cannot read {_display(path)}: {exc}") from None
    with _lock:
        cached = _loaded.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        package = _ensure_package(base_dir)
        name = f"{package}.{dotted}"
        parents = dotted.split(".")[:-1]
        for i in range(len(parents)):  # intermediate folders become namespace-like packages
            _ensure_package(base_dir.joinpath(*parents[: i + 1]), f"{package}.{'.'.join(parents[: i + 1])}")
        is_package = path.name == "__init__.py"
        spec = importlib.util.spec_from_file_location(
            name, path, submodule_search_locations=[str(path.parent)] if is_package else None
        )
        if spec is None or spec.loader is None:
            raise CallableError(f"cannot load {_display(path)} as a python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses, pickle and relative imports look the module up here
        sys.path.insert(0, str(base_dir))
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            # The user's Ctrl-C or our own cancellation propagate; a module's sys.exit() is its bug. (asyncio
            # is looked up, not imported: `engine validate` resolves callables without an event loop.)
            aio = sys.modules.get("asyncio")
            if isinstance(exc, KeyboardInterrupt) or (aio is not None and isinstance(exc, aio.CancelledError)):
                raise
            raise CallableError(f"cannot import {_display(path)}: {type(exc).__name__}: {exc}") from None
        finally:
            _remove_path(str(base_dir))
        _loaded[path] = (mtime, module)
        return module


def _ensure_package(folder: Path, name: str | None = None) -> str:
    name = name or _package_name(folder)
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        package.__package__ = name
        sys.modules[name] = package
    return name


def _remove_path(entry: str) -> None:
    with contextlib.suppress(ValueError):
        sys.path.remove(entry)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
