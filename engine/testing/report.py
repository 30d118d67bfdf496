"""Reading a test result: per failing turn, what was expected against what happened (live: every turn)."""

from __future__ import annotations

from .record import TurnRecord, show
from .runner import TestResult


def status(result: TestResult) -> str:
    return "ERROR" if result.errors else "PASS" if result.passed else "FAIL"


def describe(result: TestResult, indent: str = "    ") -> list[str]:
    """The lines below a test's PASS/FAIL line: errors, then each failing turn (live: each turn)."""
    lines = [f"{indent}error: {error}" for error in result.errors]
    lines += [f"{indent}{failure.message}" for failure in result.failures if failure.turn is None]
    for record in result.turns:
        failed = result.failed_turn(record.number)
        if failed:
            lines.append(f"{indent}turn {record.number}, {_opening(record)}:")
            lines += [f"{indent}  {f.message}" for f in result.failures if f.turn == record.number]
            lines.append(f"{indent}  what happened: {record.story()}")
        elif result.live:
            lines.append(f"{indent}turn {record.number} ok: {record.story()}")
    return lines


def _opening(record: TurnRecord) -> str:
    return f"user {show(record.user, 70)}" if record.user is not None else "the model speaks first"
