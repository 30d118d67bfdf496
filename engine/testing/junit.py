"""JUnit XML for CI systems that show test results."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .report import describe
from .runner import TestResult


def write_junit(path: Path, suites: dict[str, list[TestResult]], broken: dict[str, str] | None = None) -> None:
    """One testsuite per file; a file that could not be loaded is a testsuite with one error."""
    root = ET.Element("testsuites", name="engine test")
    for name, results in suites.items():
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(results)))
        suite.set("failures", str(sum(not r.passed and not r.errors for r in results)))
        suite.set("errors", str(sum(bool(r.errors) for r in results)))
        suite.set("time", f"{sum(r.seconds for r in results):.3f}")
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=name, name=result.name, time=f"{result.seconds:.3f}")
            if result.passed:
                continue
            first = result.errors[0] if result.errors else str(result.failures[0])
            outcome = ET.SubElement(case, "error" if result.errors else "failure", message=first)
            outcome.text = "\n".join(describe(result, indent=""))
    for name, message in (broken or {}).items():
        suite = ET.SubElement(root, "testsuite", name=name, tests="1", failures="0", errors="1", time="0.000")
        case = ET.SubElement(suite, "testcase", classname=name, name="load", time="0.000")
        ET.SubElement(case, "error", message=message.splitlines()[0] if message else "").text = message
    counts = {k: sum(int(s.get(k, "0")) for s in root) for k in ("tests", "failures", "errors")}
    for key, count in counts.items():
        root.set(key, str(count))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
