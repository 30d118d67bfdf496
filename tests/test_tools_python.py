"""Resolving `module:function` beside a graph file, and checking a callable against its tool's schema."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.tools import CallableError, check_signature, resolve_callable


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


# --- resolve_callable -----------------------------------------------------------------------------


def test_a_module_file_beside_the_graph(tmp_path):
    write(tmp_path, {"tools.py": "def hello(name):\n    return f'hi {name}'\n"})
    assert resolve_callable(tmp_path, "tools:hello")("Ada") == "hi Ada"


def test_the_module_never_collides_with_an_installed_one(tmp_path):
    # `json` is a standard module; the graph's own json.py wins for the graph and leaves the real one alone.
    write(tmp_path, {"json.py": "def dumps(value):\n    return 'mine'\n"})
    assert resolve_callable(tmp_path, "json:dumps")(1) == "mine"
    assert sys.modules["json"].dumps(1) == "1"
    assert str(tmp_path) not in sys.path


def test_dotted_paths_packages_and_file_paths(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "def top():\n    return 'package'\n",
            "pkg/sub.py": "def deep():\n    return 'dotted'\n",
            "lib/extra.py": "def by_path():\n    return 'path'\n",
        },
    )
    assert resolve_callable(tmp_path, "pkg:top")() == "package"
    assert resolve_callable(tmp_path, "pkg.sub:deep")() == "dotted"
    assert resolve_callable(tmp_path, "lib/extra.py:by_path")() == "path"


def test_sibling_imports_absolute_and_relative(tmp_path):
    write(
        tmp_path,
        {
            "helpers_abs.py": "PREFIX = 'abs'\n",
            "helpers_rel.py": "PREFIX = 'rel'\n",
            "main_tools.py": (
                "import helpers_abs\n"
                "from . import helpers_rel\n"
                "def both():\n    return helpers_abs.PREFIX + '+' + helpers_rel.PREFIX\n"
            ),
        },
    )
    assert resolve_callable(tmp_path, "main_tools:both")() == "abs+rel"
    assert str(tmp_path) not in sys.path


def test_a_module_is_loaded_once_and_reloaded_when_it_changes(tmp_path):
    write(tmp_path, {"state.py": "CALLS = []\ndef hit():\n    CALLS.append(1)\n    return len(CALLS)\n"})
    first, second = resolve_callable(tmp_path, "state:hit"), resolve_callable(tmp_path, "state:hit")
    assert first() == 1 and second() == 2
    path = tmp_path / "state.py"
    path.write_text("def hit():\n    return 'new'\n")
    import os

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert resolve_callable(tmp_path, "state:hit")() == "new"


@pytest.mark.parametrize("target", ["tools", "tools:", ":fn", "tools.py"])
def test_malformed_reference(tmp_path, target):
    with pytest.raises(CallableError, match="write 'module:function'"):
        resolve_callable(tmp_path, target)


def test_missing_module(tmp_path):
    with pytest.raises(CallableError, match=r"module 'nowhere' not found: no .*nowhere\.py or .*nowhere/__init__\.py"):
        resolve_callable(tmp_path, "nowhere:fn")


def test_syntax_error_names_the_exception(tmp_path):
    write(tmp_path, {"broken.py": "def f(:\n    pass\n"})
    with pytest.raises(CallableError, match=r"cannot import .*broken\.py: SyntaxError"):
        resolve_callable(tmp_path, "broken:f")
    assert not any(name.endswith(".broken") for name in sys.modules)


def test_import_error_inside_the_module(tmp_path):
    write(tmp_path, {"needs.py": "import not_a_real_module_xyz\ndef f():\n    pass\n"})
    with pytest.raises(CallableError, match="ModuleNotFoundError: No module named 'not_a_real_module_xyz'"):
        resolve_callable(tmp_path, "needs:f")


def test_missing_function_suggests_a_name(tmp_path):
    write(tmp_path, {"tools.py": "def lookup_order():\n    pass\n"})
    with pytest.raises(CallableError, match=r"has no function 'lookup_ordr' \(did you mean 'lookup_order'\?\)"):
        resolve_callable(tmp_path, "tools:lookup_ordr")


def test_not_callable(tmp_path):
    write(tmp_path, {"tools.py": "LIMIT = 3\n"})
    with pytest.raises(CallableError, match="'tools:LIMIT' is not callable \\(it is a int\\)"):
        resolve_callable(tmp_path, "tools:LIMIT")


def test_module_outside_the_graph_folder(tmp_path):
    inner = tmp_path / "graph"
    inner.mkdir()
    write(tmp_path, {"outside.py": "def f():\n    pass\n"})
    with pytest.raises(CallableError, match="outside the graph's folder"):
        resolve_callable(inner, "../outside.py:f")


# --- check_signature ------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["order_id"],
}


def test_a_matching_signature_has_no_problems():
    def ok(order_id, reason="unknown", *, context):
        pass

    assert check_signature(ok, SCHEMA) == []


def test_required_property_the_function_does_not_accept():
    def f(reason=""):
        pass

    assert check_signature(f, SCHEMA) == ["the schema requires 'order_id' but the function does not accept it"]


def test_optional_property_the_function_does_not_accept():
    def f(order_id):
        pass

    assert check_signature(f, SCHEMA) == ["the schema allows 'reason' but the function does not accept it"]


def test_kwargs_accept_every_property():
    def f(**kwargs):
        pass

    assert check_signature(f, SCHEMA) == []


def test_parameter_without_default_outside_the_schema():
    def f(order_id, reason="", store=None, *, customer):
        pass

    assert check_signature(f, SCHEMA) == ["parameter 'customer' has no default and is not a property of the schema"]


def test_parameter_without_default_for_an_optional_property():
    def f(order_id, reason):
        pass

    assert check_signature(f, SCHEMA) == ["parameter 'reason' has no default but the schema does not require it"]


def test_context_must_be_keyword_only():
    def f(order_id, context, reason=""):
        pass

    problems = check_signature(f, SCHEMA)
    assert problems == ["parameter 'context' receives the session context only when keyword-only: `*, context`"]


def test_context_as_a_schema_property_is_an_ordinary_argument():
    schema = {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}

    def f(context):
        pass

    assert check_signature(f, schema) == []


def test_positional_only_parameters_cannot_be_passed():
    def f(order_id, /, reason=""):
        pass

    problems = check_signature(f, SCHEMA)
    assert "parameter 'order_id' is positional-only; arguments are passed by keyword" in problems
    assert "the schema requires 'order_id' but the function does not accept it" in problems


def test_empty_schema_and_no_parameters():
    def f():
        pass

    assert check_signature(f, {"type": "object", "properties": {}}) == []
