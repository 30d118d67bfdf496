"""The import rule (DESIGN.md §1), enforced on every module of the engine, by reading its imports.

Layers, earliest first; a module may import its own package and earlier layers, never later ones:

    errors, redact, logs, protocol (leaves: only `errors` among them may be imported by the others)
    -> spec -> graph -> compile -> tools -> script_checks -> validate -> runtime -> records -> io -> serve -> cli

`sim` and `testing` are side branches: they may import the core (spec .. io), `testing` may import
`sim`, and the core never imports either (nor serve or cli). `serve` and `cli` are the apps. Every
import counts: relative ones, those inside functions, under `if TYPE_CHECKING:`, and
`importlib.import_module("engine....")` with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import engine

ENGINE = Path(engine.__file__).parent
ROOT = ""  # the `engine` package itself: `import engine`, `from engine import load`

LEAVES = ("errors", "redact", "logs", "protocol")
ORDER = ("spec", "graph", "compile", "tools", "script_checks", "validate", "runtime", "records", "io", "serve", "cli")
CORE = frozenset({"spec", "graph", "compile", "tools", "script_checks", "validate", "runtime", "records", "io"})
SIDE = frozenset({"sim", "testing"})
RANK = {**dict.fromkeys(LEAVES, 0), **{name: rank for rank, name in enumerate(ORDER, 1)}}
#: Top-level modules that belong to a layer named otherwise (validation's helpers sit with it).
MEMBERS = {"script_checks": "validate"}


def allowed(importer: str, target: str) -> bool:
    """Whether a module of component `importer` may import component `target`."""
    if importer == target:
        return True
    if importer == "errors":
        return False  # the leaf of leaves
    if target == "errors":
        return True
    if importer in LEAVES:
        return False
    if importer == ROOT:  # the facade (`engine.load`, `engine.Session`) stands on the core only
        return target in CORE or target in LEAVES
    if importer in SIDE:
        return target in CORE or target in LEAVES or (importer, target) == ("testing", "sim")
    if target == ROOT:
        return importer in ("serve", "cli")
    if target in SIDE:
        return importer in ("serve", "cli")
    return target in RANK and RANK[target] <= RANK[importer]


def component(module: str) -> str:
    """The layer a dotted module name under `engine` belongs to (its first part below `engine`)."""
    parts = module.split(".")
    assert parts[0] == "engine", module
    return MEMBERS.get(parts[1], parts[1]) if len(parts) > 1 else ROOT


def _is_module(package_dir: Path, name: str) -> bool:
    return (package_dir / f"{name}.py").is_file() or (package_dir / name / "__init__.py").is_file()


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, imported engine module) for every import of the engine in `path`, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "engine":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "engine":
                continue
            base_dir = root.parent.joinpath(*base.split("."))
            for alias in node.names:
                # `from engine import spec` imports the module engine.spec; `from engine import load`, the root
                yield node.lineno, f"{base}.{alias.name}" if _is_module(base_dir, alias.name) else base
        elif isinstance(node, ast.Call) and _is_import_module(node.func):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("engine"):
                yield node.lineno, arg.value


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )


def violations(root: Path) -> list[str]:
    """Every import under the package at `root` that breaks the rule, as `file:line: ...`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        importer = component(module_name(path, root))
        shown = path.relative_to(root.parent)
        if importer not in RANK and importer not in SIDE and importer != ROOT:
            found.append(f"{shown}:1: '{importer}' has no place in the layer table of tests/test_layers.py")
            continue
        for line, target_module in imports(path, root):
            target = component(target_module)
            if not allowed(importer, target):
                found.append(f"{shown}:{line}: {importer or 'engine'} imports {target_module}")
    return found


def test_every_import_points_backwards_along_the_layers():
    found = violations(ENGINE)
    assert not found, "imports against the layer rule (DESIGN.md §1):\n" + "\n".join(found)


def test_errors_is_a_leaf_importing_nothing_of_the_engine():
    assert [m for _, m in imports(ENGINE / "errors.py", ENGINE)] == []


# --- the checker itself ---------------------------------------------------------------------------


@pytest.fixture
def fake_engine(tmp_path: Path) -> Path:
    root = tmp_path / "engine"
    files = {
        "__init__.py": "from .spec import Document\n",
        "errors.py": "",
        "spec/__init__.py": "from .models import Document\nfrom engine.errors import SpecError\n",
        "spec/models.py": "Document = object\n",
        "sim/__init__.py": "from ..spec import Document\n",
        "runtime/__init__.py": "",
        "runtime/session.py": (
            "from typing import TYPE_CHECKING\n"
            "from .. import errors\n"
            "if TYPE_CHECKING:\n"
            "    from engine.cli import main\n"
            "def later():\n"
            "    from ..sim import Simulator\n"
            "    import importlib\n"
            "    importlib.import_module('engine.testing.runner')\n"
        ),
        "tools/base.py": "from engine import load\n",
        "voice/__init__.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checker_finds_relative_nested_type_checking_and_dynamic_imports(fake_engine: Path):
    assert violations(fake_engine) == [
        "engine/runtime/session.py:4: runtime imports engine.cli",
        "engine/runtime/session.py:6: runtime imports engine.sim",
        "engine/runtime/session.py:8: runtime imports engine.testing.runner",
        "engine/tools/base.py:1: tools imports engine",
        "engine/voice/__init__.py:1: 'voice' has no place in the layer table of tests/test_layers.py",
    ]


def test_the_rule_table():
    assert allowed("runtime", "tools") and allowed("cli", "sim") and allowed("testing", "sim")
    assert allowed("sim", "runtime") and allowed("serve", "sim") and allowed("protocol", "errors")
    assert not allowed("tools", "runtime") and not allowed("spec", "graph") and not allowed("records", "serve")
    assert not allowed("sim", "testing") and not allowed("runtime", "sim") and not allowed("io", "testing")
    assert not allowed("errors", "redact") and not allowed("logs", "redact") and not allowed(ROOT, "cli")
