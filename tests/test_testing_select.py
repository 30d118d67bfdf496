"""`engine test -k`: a phrase selects by substring; `and`, `or`, `not` and parentheses combine phrases."""

from __future__ import annotations

import pytest

from engine.testing.select import name_matcher

NAMES = [
    "guard refuses returns until the caller is verified",
    "caller asks for a person at the greeting, then comes back",
    "caller asks for a person while verifying",
    "moderation stops an off-brand reply",
]


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        (None, [0, 1, 2, 3]),
        ("", [0, 1, 2, 3]),
        ("PERSON", [1, 2]),
        ("a person while", [2]),  # a phrase with spaces is one substring
        ("person and not greeting", [2]),
        ("moderation or guard", [0, 3]),
        ("not (person or guard)", [3]),
        ("verif and (person or returns)", [0, 2]),
        ("nothing like it", []),
    ],
)
def test_expressions_select_by_name(expression: str | None, selected: list[int]):
    matches = name_matcher(expression)
    assert [i for i, name in enumerate(NAMES) if matches(name)] == selected


@pytest.mark.parametrize("expression", ["person and", "(person", "or person", "person )", "not"])
def test_malformed_expressions_are_refused(expression: str):
    with pytest.raises(ValueError, match="-k"):
        name_matcher(expression)
