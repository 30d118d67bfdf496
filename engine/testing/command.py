"""`engine test`: collect, run, report, and decide the exit code."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from ..spec import SpecError
from ..validate import is_tests_file, tests_file_graph
from . import collect, run_test, write_junit
from .coverage import Coverage
from .runner import TestResult


def test_command(args: argparse.Namespace) -> int:
    if args.live and not (os.environ.get("OPENAI_API_KEY") or args.url):
        print("engine: --live needs OPENAI_API_KEY (or --url to a Realtime-compatible server)", file=sys.stderr)
        return 2
    return asyncio.run(_run_all(args))


async def _run_all(args: argparse.Namespace) -> int:
    failed = broken = 0
    results: dict[str, list[TestResult]] = {}
    coverages: list[Coverage] = []
    given = {p.resolve() for p in args.files}
    for path in args.files:
        if is_tests_file(path) and tests_file_graph(path)[0].resolve() in given:
            continue  # its tests run with the graph, which collects its sibling tests file
        try:
            suite = collect(path)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            broken += 1
            continue
        coverage = Coverage.of(suite.graph)
        tests = [(t, d) for t, d in suite.tests if not args.keyword or args.keyword.lower() in t.name.lower()]
        graph_results = results.setdefault(str(path), [])
        print(f"{path}: {len(tests)} test{'s' * (len(tests) != 1)}{' (live)' if args.live else ''}")
        for test, located in tests:
            result = await run_test(located, test, live=args.live, url=args.url)
            graph_results.append(result)
            agent = test.agent or suite.graph.spec.start
            machine = suite.graph.spec.agents[agent].states
            state = test.state or (machine.initial if machine and machine.enforce else None)
            coverage.record((e for turn in result.turns for e in turn.events), agent, state)
            mark = "PASS" if result.passed else "FAIL"
            print(f"  {mark} {test.name} ({result.seconds:.2f}s)")
            for failure in result.failures:
                print(f"       {failure}")
            failed += not result.passed
        coverages.append(coverage)
    total = sum(len(r) for r in results.values())
    print(f"{total - failed} passed, {failed} failed")
    if args.junit:
        write_junit(args.junit, results)
    low = False
    if args.coverage or args.min_coverage is not None:
        for coverage in coverages:
            print(coverage.report())
            if args.min_coverage is not None and coverage.percent() < args.min_coverage:
                print(f"engine: coverage {coverage.percent():.0f}% is below {args.min_coverage:g}%", file=sys.stderr)
                low = True
    return 1 if failed or broken or low else 0
