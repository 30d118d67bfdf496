"""Conversation tests: offline on the simulator, or live; graph coverage; JUnit output."""

from .collect import Suite, collect
from .coverage import Coverage
from .junit import write_junit
from .runner import TestResult, TurnRecord, run_test

__all__ = ["Coverage", "Suite", "TestResult", "TurnRecord", "collect", "run_test", "write_junit"]
