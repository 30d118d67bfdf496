"""PyYAML's syntax errors in plain sentences, located where the author has to look.

PyYAML reports where its parser gave up, in its own grammar's words ("while parsing a flow
sequence ... did not find expected ',' or ']'"). An unclosed bracket or quote is the author's
mistake where it *opened*, so that is where the finding points, with where the parser gave up in
the message; tabs are called tabs; the rest is rewritten into sentences an author can act on.
"""

from __future__ import annotations

import re

import yaml

_CLOSERS = {"[": "]", "{": "}"}


def explain(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, tuple[int, int] | None]:
    """The message of a syntax error and the 0-based (line, column) it belongs at (None: PyYAML's mark)."""
    problem, context = exc.problem or "", exc.context or ""
    at = _pos(exc.problem_mark) or _pos(exc.context_mark)
    opened = _pos(exc.context_mark)
    lines = text.splitlines()
    line_text = lines[at[0]] if at is not None and at[0] < len(lines) else ""
    char = line_text[at[1]] if at is not None and at[1] < len(line_text) else ""
    gave_up = f"line {at[0] + 1}, column {at[1] + 1}" if at is not None else "the end of the file"
    if at is not None and at[0] >= len(lines):
        gave_up = "the end of the file"

    indented = _tab_line(lines, at, opened)
    if indented is not None:
        return f"line {indented + 1} is indented with a tab: YAML indents with spaces only", (indented, 0)
    if "cannot start any token" in problem and char == "\t":
        return "a tab character here: YAML indents with spaces only", None

    if context.startswith("while parsing a flow"):
        sign = _char(lines, opened)
        bracket = ((opened, sign) if opened is not None and sign in _CLOSERS else None) or _unclosed_bracket(text, at)
        if bracket is not None:
            (line, col), sign = bracket
            expected = _expected(problem)
            message = f"this '{sign}' is never closed with '{_CLOSERS[sign]}' (the parser gave up at {gave_up}"
            return message + (f", expecting {expected})" if expected else ")"), (line, col)
    if "quoted scalar" in context:
        quote = _char(lines, opened) or '"'
        if "end of stream" in problem or "end of document" in problem:
            return (
                f"this quoted text ({quote}...) is never closed: the file ends without a closing {quote}",
                opened,
            )
        if "escape" in problem:
            return (
                "an unknown escape (a backslash) in double-quoted text: write \\\\ for a backslash, "
                "or use single quotes",
                None,
            )
    if "mapping values are not allowed" in problem:
        return (
            "a ': ' here would start a mapping inside a value: quote the value if the colon belongs to it "
            '("a: b"), or indent this line as a key of its own',
            None,
        )
    if "did not find expected key" in problem or "did not find expected '-' indicator" in problem:
        what = "mapping" if "mapping" in context else "list"
        start = f"line {opened[0] + 1}" if opened is not None else "above"
        column = opened[1] + 1 if opened is not None else 0
        if char in ("]", "}"):
            return f"a '{char}' that closes nothing: no '{'[' if char == ']' else '{'}' is open here", None
        if char == "-" and what == "mapping":
            return (
                f"a list item ('-') that does not line up with the mapping that starts at {start}, column {column}: "
                "indent it under the key it belongs to",
                None,
            )
        return (
            f"this line does not line up with the {what} that starts at {start} (its "
            f"{'keys' if what == 'mapping' else 'items'} start at column {column}): fix its indentation",
            None,
        )
    alias = re.search(r"found undefined alias '([^']*)'", problem)
    if alias:
        name = alias.group(1)
        return f"'*{name}' refers to an anchor '&{name}' that is not defined above it", None
    if "could not find expected ':'" in problem:
        return "a key without ':' (every line of a mapping is `key: value`)", None
    if "end of stream" in problem or "end of document" in problem:
        return "the file ends in the middle of a value", None
    where = ""
    if exc.context_mark is not None and exc.problem_mark is not None and opened != at and opened is not None:
        where = f" (in what starts at line {opened[0] + 1}, column {opened[1] + 1})"
    plain = problem[:1].upper() + problem[1:] if problem else "Invalid YAML"
    return plain.replace("did not find expected", "expected") + where, None


def _pos(mark: yaml.Mark | None) -> tuple[int, int] | None:
    return (mark.line, mark.column) if mark is not None else None


def _char(lines: list[str], pos: tuple[int, int] | None) -> str:
    if pos is None or pos[0] >= len(lines) or pos[1] >= len(lines[pos[0]]):
        return ""
    return lines[pos[0]][pos[1]]


def _expected(problem: str) -> str:
    match = re.search(r"did not find expected (.+)$", problem)
    return match.group(1) if match else ""


def _tab_line(lines: list[str], *positions: tuple[int, int] | None) -> int | None:
    """The line (0-based) at or just before the error whose indentation has a tab."""
    for pos in positions:
        if pos is None:
            continue
        for line in (pos[0], pos[0] - 1):
            if 0 <= line < len(lines) and "\t" in lines[line][: len(lines[line]) - len(lines[line].lstrip())]:
                return line
    return None


def _unclosed_bracket(text: str, stop: tuple[int, int] | None) -> tuple[tuple[int, int], str] | None:
    """The last '[' or '{' still open before `stop` (quotes and comments skipped), with its position."""
    stack: list[tuple[tuple[int, int], str]] = []
    lines = text.splitlines()
    end_line = stop[0] if stop is not None else len(lines)
    for n, line in enumerate(lines[: end_line + 1]):
        limit = stop[1] if stop is not None and n == stop[0] else len(line)
        quote = ""
        for i, ch in enumerate(line[:limit]):
            if quote:
                if ch == quote:
                    quote = ""
                continue
            if ch in "'\"" and (i == 0 or line[i - 1] in " [{,:"):
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                break
            elif ch in _CLOSERS:
                stack.append(((n, i), ch))
            elif ch in "]}" and stack:
                stack.pop()
    return stack[-1] if stack else None
