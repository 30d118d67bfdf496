"""Conversation tests: offline on the simulator, or live; graph coverage; JUnit output."""

from .collect import Suite, collect
from .coverage import Coverage
from .junit import write_junit
from .record import ToolRun, TurnRecord
from .runner import Failure, TestResult, run_test

__all__ = ["Coverage", "Failure", "Suite", "TestResult", "ToolRun", "TurnRecord", "collect", "run_test", "write_junit"]
