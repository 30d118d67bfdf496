"""`-k EXPR`: which tests run, by name.

A plain phrase selects the tests whose name contains it (case-insensitive). As with pytest,
phrases combine with `and`, `or`, `not` and parentheses: `-k "person and not greeting"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Predicate = Callable[[str], bool]
_OPERATORS = {"and", "or", "not", "(", ")"}


def name_matcher(expression: str | None) -> Predicate:
    """A predicate over test names; raise `ValueError` for a malformed expression."""
    if not expression or not expression.strip():
        return lambda name: True
    tokens = _tokens(expression)
    predicate, rest = _or(tokens)
    if rest:
        raise ValueError(f"-k {expression!r}: unexpected {rest[0]!r}")
    return predicate


def _tokens(expression: str) -> list[str]:
    """Operators, and phrases: runs of other words joined by single spaces."""
    tokens: list[str] = []
    phrase: list[str] = []
    for word in re.findall(r"\(|\)|[^\s()]+", expression):
        if word in _OPERATORS:
            if phrase:
                tokens.append(" ".join(phrase))
                phrase = []
            tokens.append(word)
        else:
            phrase.append(word)
    if phrase:
        tokens.append(" ".join(phrase))
    return tokens


def _or(tokens: list[str]) -> tuple[Predicate, list[str]]:
    left, tokens = _and(tokens)
    while tokens[:1] == ["or"]:
        right, tokens = _and(tokens[1:])
        left = _either(left, right)
    return left, tokens


def _and(tokens: list[str]) -> tuple[Predicate, list[str]]:
    left, tokens = _not(tokens)
    while tokens[:1] == ["and"]:
        right, tokens = _not(tokens[1:])
        left = _both(left, right)
    return left, tokens


def _not(tokens: list[str]) -> tuple[Predicate, list[str]]:
    if not tokens:
        raise ValueError("-k: the expression ends too early")
    head, rest = tokens[0], tokens[1:]
    if head == "not":
        inner, rest = _not(rest)
        return (lambda name: not inner(name)), rest
    if head == "(":
        inner, rest = _or(rest)
        if rest[:1] != [")"]:
            raise ValueError("-k: a '(' is not closed")
        return inner, rest[1:]
    if head in _OPERATORS:
        raise ValueError(f"-k: unexpected {head!r}")
    phrase = head.casefold()
    return (lambda name: phrase in name.casefold()), rest


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda name: left(name) or right(name)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda name: left(name) and right(name)
