"""`validate` never hangs and never runs out of memory on a template, whatever it computes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MINI, MINI_TOOLS

LOOPS = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}"


def _validate(tmp_path: Path, text: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp_path / "mini_tools.py").write_text(MINI_TOOLS)
    path = tmp_path / "graph.yaml"
    path.write_text(text)
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    return out, time.monotonic() - start


CASES = [
    ("{{ 'a' * 10**9 }}", "the repeated value would be 1,000,000,000 characters"),
    ("{{ range(10**9)|list }}", "range() of 1,000,000,000 items"),
    ("{{ 10 ** 10 ** 10 ** 10 ** 10 }}", "the power would have about"),
    (LOOPS, "the loop runs 1,000,000 times (nested loops multiply)"),
]


@pytest.mark.parametrize(
    ("template", "message", "where"),
    [
        (template, message, where)
        for where in ("instructions", "returns", "guard")
        for template, message in CASES
        if where != "guard" or template.startswith("{{")  # a guard is an expression
    ],
)
def test_huge_templates_are_located_errors_and_validate_finishes_quickly(
    tmp_path: Path, template: str, message: str, where: str
):
    if where == "instructions":
        text = MINI.replace("Help the caller of {{ context.company }}.", f'"{template}"')
        needle = f'"{template}"'
    elif where == "returns":
        text = MINI.replace('"You said {{ args.text }}"', f'"{template}"')
        needle = f'"{template}"'
    else:
        expression = template[3:-3]
        states = (
            "    states:\n      enforce: true\n      initial: one\n      steps:\n"
            f'        one: {{transitions: [{{to: two, when: ready, guard: "{expression}"}}]}}\n'
            "        two: {transitions: [{to: one, when: again}]}\n"
        )
        text = MINI.replace("    handoffs: [greeter]\n", "    handoffs: [greeter]\n" + states)
        needle = f'"{expression}"'
    out, elapsed = _validate(tmp_path, text)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    line = text[: text.index(needle)].count("\n") + 1
    assert f"graph.yaml:{line}:" in out.stdout and "E405" in out.stdout and message in out.stdout, out.stdout
    assert elapsed < 20, f"validate took {elapsed:.1f}s"


def test_a_huge_value_computed_from_the_context_is_a_render_error(tmp_path: Path):
    text = MINI.replace("  company: Acme\n", "  company: Acme\n  n: 1000000000\n").replace(
        "Help the caller of {{ context.company }}.", "\"{{ 'a' * n }}\""
    )
    out, elapsed = _validate(tmp_path, text)
    assert out.returncode == 1 and "E404" in out.stdout and "the repeated value would be" in out.stdout, out.stdout
    assert elapsed < 20
