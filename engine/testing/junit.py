"""JUnit XML for CI systems that show test results."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .runner import TestResult


def write_junit(path: Path, suites: dict[str, list[TestResult]]) -> None:
    root = ET.Element("testsuites")
    for graph, results in suites.items():
        failed = sum(not r.passed for r in results)
        suite = ET.SubElement(root, "testsuite", name=graph, tests=str(len(results)), failures=str(failed))
        suite.set("time", f"{sum(r.seconds for r in results):.3f}")
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=graph, name=result.name, time=f"{result.seconds:.3f}")
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=result.failures[0])
                failure.text = "\n".join(result.failures)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
