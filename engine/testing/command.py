"""`engine test`: collect, run, report, and decide the exit code (0 all passed, 1 not, 2 usage)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from ..spec import SpecError
from ..validate import is_tests_file, tests_file_graph
from . import collect, write_junit
from .coverage import Coverage, percent_text
from .live import run_test_on
from .report import describe, status
from .runner import TestResult
from .select import Predicate, name_matcher

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def test_command(args: argparse.Namespace) -> int:
    if args.url and not args.live:
        print("engine: --url needs --live (offline, every test starts its own simulator)", file=sys.stderr)
        return EXIT_USAGE
    if args.live and not (os.environ.get("OPENAI_API_KEY") or args.url):
        print("engine: --live needs OPENAI_API_KEY (or --url to a Realtime-compatible server)", file=sys.stderr)
        return EXIT_USAGE
    try:
        selected = name_matcher(args.keyword)
    except ValueError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_run_all(args, selected))


async def _run_all(args: argparse.Namespace, selected: Predicate) -> int:
    results: dict[str, list[TestResult]] = {}
    broken: dict[str, str] = {}
    coverages: list[Coverage] = []
    headers = dict(args.header)
    for path in _unique(args.files):
        try:
            suite = collect(path)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            broken[str(path)] = str(exc)
            continue
        coverage = Coverage.of(suite.graph)
        tests = [(test, written_in) for test, written_in in suite.tests if selected(test.name)]
        graph_results = results.setdefault(str(path), [])
        on = " on GPT-Live" if (getattr(args, "api", None) or suite.graph.spec.api) == "live" else ""
        print(f"{path}: {len(tests)} test{'s' * (len(tests) != 1)}{on}{' (live)' if args.live else ''}", flush=True)
        for test, written_in in tests:
            api = getattr(args, "api", None) or suite.graph.spec.api
            options = {"live": args.live, "url": args.url, "headers": headers, "written_in": written_in}
            result = await run_test_on(api, suite.graph, test, **options)
            graph_results.append(result)
            coverage.record_run(test, result.turns)
            print(f"  {status(result)} {test.name} ({result.seconds:.2f}s)")
            for line in describe(result, indent="      "):
                print(line)
            sys.stdout.flush()
        coverages.append(coverage)
    ran = [r for rs in results.values() for r in rs]
    print(_summary(ran, broken))
    unwritten = False
    if args.junit:
        try:
            write_junit(args.junit, results, broken)
        except OSError as exc:
            print(f"engine: cannot write {args.junit}: {exc.strerror or exc}", file=sys.stderr)
            unwritten = True
    low = False
    if args.coverage or args.min_coverage is not None:
        for coverage in coverages:
            print(coverage.report())
            if args.min_coverage is not None and coverage.percent() < args.min_coverage:
                shown = percent_text(coverage.percent())
                print(
                    f"engine: coverage {shown} of {coverage.doc.file} is below {args.min_coverage:g}%", file=sys.stderr
                )
                low = True
    if not ran and not broken:
        which = f" matched -k {args.keyword!r}" if args.keyword else " were found"
        print(f"engine: no tests ran: no tests{which}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_FAIL if broken or low or unwritten or not all(r.passed for r in ran) else EXIT_OK


def _unique(files: list[Path]) -> list[Path]:
    """The files to collect: a tests file whose graph is also given runs with the graph (which collects it)."""
    given = {p.resolve() for p in files}
    kept = []
    for path in files:
        if is_tests_file(path):
            try:
                graph = tests_file_graph(path)[0]
            except SpecError:
                graph = None  # collecting it reports why
            if graph is not None and graph.resolve() in given:
                continue
        kept.append(path)
    return kept


def _summary(results: list[TestResult], broken: dict[str, str]) -> str:
    passed = sum(r.passed for r in results)
    errors = sum(bool(r.errors) for r in results)
    parts = [f"{passed} passed", f"{len(results) - passed - errors} failed"]
    if errors:
        parts.append(f"{errors} could not run")
    if broken:
        parts.append(f"{len(broken)} file{'s' * (len(broken) != 1)} with errors")
    return ", ".join(parts)
