"""Each public package says what it exports (`__all__`), exports what it says, and nothing else.

As httpx does: a package's namespace holds exactly its `__all__` (plus private names and its own
submodules), so a helper imported for internal use never becomes API by accident.
"""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import engine
import engine.errors as errors

#: Packages whose namespace is their API; those not built yet are skipped until they exist.
PACKAGES = [
    "engine",
    "engine.spec",
    "engine.graph",
    "engine.compile",
    "engine.tools",
    "engine.runtime",
    "engine.sim",
    "engine.testing",
    "engine.records",
    "engine.io",
    "engine.serve",
    "engine.protocol",
]
#: Dunder names a package may export.
EXPORTED_DUNDERS = {"__version__"}


def _package(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            pytest.skip(f"{name} does not exist yet")
        raise


@pytest.mark.parametrize("name", [*PACKAGES, "engine.errors", "engine.cli"])
def test_every_exported_name_exists_and_is_public(name: str):
    package = _package(name)
    exported = getattr(package, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ lists a name twice"
    assert [n for n in exported if n.startswith("_") and n not in EXPORTED_DUNDERS] == []
    missing = [n for n in exported if not hasattr(package, n)]  # lazily provided names included
    assert missing == [], f"{name}.__all__ names what it does not have"


@pytest.mark.parametrize("name", PACKAGES)
def test_nothing_unlisted_is_public(name: str):
    package = _package(name)
    unlisted = [
        n
        for n, value in vars(package).items()
        if not n.startswith("_")
        and n not in package.__all__
        and not (isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{n}")  # its own submodules
    ]
    assert unlisted == [], f"{name} exposes names missing from __all__ (list them, or import them privately)"


def test_errors_exports_exactly_its_exceptions_under_one_root():
    defined = {n for n, v in vars(errors).items() if inspect.isclass(v) and issubclass(v, BaseException)}
    assert set(errors.__all__) == defined
    assert all(issubclass(getattr(errors, n), errors.EngineError) for n in errors.__all__)
    assert set(errors.__all__) <= set(engine.__all__)  # the root exports every error, as httpx does
    assert engine.SessionClosed is errors.SessionClosed


def test_each_error_is_the_same_class_where_it_was_defined_before():
    import engine.compile
    import engine.runtime
    import engine.spec
    import engine.tools

    assert engine.spec.SpecError is errors.SpecError
    assert engine.compile.CompileError is errors.CompileError
    assert engine.compile.TemplateRenderError is errors.TemplateRenderError
    assert engine.tools.ToolError is errors.ToolError
    assert engine.runtime.TransportClosed is errors.TransportClosed
    assert engine.runtime.ConnectFailed is errors.ConnectFailed


def test_the_hierarchy():
    assert issubclass(errors.TemplateRenderError, errors.CompileError)
    assert issubclass(errors.CompileError, ValueError)  # code catching ValueError before the hierarchy still works
    for closed in (errors.SessionClosed, errors.ConnectionLost, errors.ConnectFailed):
        assert issubclass(closed, ConnectionError)  # so do `except ConnectionError` blocks
    assert not issubclass(errors.SessionClosed, errors.ConnectionLost)
    assert not issubclass(errors.ConnectionLost, errors.SessionClosed)
    lost = errors.ConnectionLost("reconnecting failed 5 times")
    assert lost.reason == "reconnecting failed 5 times" and "lost" in str(lost)


def test_the_version_is_the_installed_one():
    from importlib.metadata import version

    assert engine.__version__ == version("realtime-agent-engine")
