"""`engine test` end to end: exit codes, -k, --junit, --coverage/--min-coverage, --live, located errors."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import BUNDLED, GRAPHS
from test_testing_expectations import DESK, EVERYTHING

from engine.cli import main
from engine.sim import Simulator
from engine.testing import collect

FAILING = """\
tests:
  - name: expects the wrong handoff
    state: route
    context: {verified: true}
    turns:
      - user: Put me through to the back office.
        model:
          - transition: "handoff:back"
          - say: Back office, how can I help?
        expect: {agent: front}
  - name: a passing one
    turns:
      - model:
          - say: Hello, what's your code?
        expect: {agent: front, state: ask}
"""


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    path = tmp_path / "desk.yaml"
    path.write_text(DESK)
    return path


def _tests(graph: Path, text: str, name: str = "desk.tests.yaml") -> Path:
    path = graph.with_name(name)
    path.write_text(textwrap.dedent(text))
    return path


def test_bundled_suites_pass_offline_with_full_retail_coverage(capsys: pytest.CaptureFixture[str]):
    files = [str(p) for p in sorted(GRAPHS.glob("*.yaml"))]  # graphs and their tests files, as a shell glob gives

    code = main(["test", *files, "--coverage", "--min-coverage", "100"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 failed" in out and "FAIL" not in out
    retail = out[out.index("coverage of") :]
    for line in ("agents       4/4  100%", "handoffs     12/12  100%", "states       8/8  100%", "transitions  18/18"):
        assert line in retail
    assert "not exercised" not in out
    assert sum(len(collect(p).tests) for p in BUNDLED) == int(out.split(" passed")[0].split()[-1])


def test_a_wrong_handoff_fails_and_says_what_happened(desk: Path, capsys: pytest.CaptureFixture[str]):
    tests = _tests(desk, FAILING)

    code = main(["test", str(tests)])

    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == f"{tests}: 2 tests"
    assert lines[1].startswith("  FAIL expects the wrong handoff (")
    assert lines[2:5] == [
        '      turn 1, user "Put me through to the back office.":',
        '        agent: expected "front", got "back"',
        '        what happened: handoff front → back; said "Back office, how can I help?"',
    ]
    assert lines[5].startswith("  PASS a passing one (")
    assert lines[6:] == ["1 passed, 1 failed"]


def test_k_selects_tests_by_name(desk: Path, capsys: pytest.CaptureFixture[str]):
    tests = _tests(desk, FAILING)

    assert main(["test", str(tests), "-k", "PASSING"]) == 0
    assert "1 test\n" in capsys.readouterr().out
    assert main(["test", str(tests), "-k", "handoff or passing"]) == 1
    assert "2 tests" in capsys.readouterr().out
    assert main(["test", str(tests), "-k", "not wrong"]) == 0
    assert "a passing one" in capsys.readouterr().out

    assert main(["test", str(tests), "-k", "nothing like it"]) == 1
    assert "no tests ran: no tests matched -k 'nothing like it'" in capsys.readouterr().err
    assert main(["test", str(tests), "-k", "wrong and ("]) == 2
    assert "-k" in capsys.readouterr().err


def test_junit_is_well_formed_with_failures_and_broken_files(desk: Path, tmp_path: Path):
    tests = _tests(desk, FAILING)
    broken = _tests(desk, "tests:\n  - name: x\n    turnz: []\n", name="broken.tests.yaml")
    broken.write_text(broken.read_text().replace("tests:", "graph: desk.yaml\ntests:"))
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()

    assert main(["test", str(tests), str(broken), "--junit", str(junit)]) == 1

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    suite, load = root.findall("testsuite")
    assert suite.get("name") == str(tests) and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failing, passing = suite.findall("testcase")
    failure = failing.find("failure")
    assert failure is not None and failure.get("message") == 'turn 1: agent: expected "front", got "back"'
    assert "what happened: handoff front → back" in (failure.text or "")
    assert passing.find("failure") is None and float(passing.get("time", "x")) >= 0
    error = load.find("testcase/error")
    assert error is not None and "broken.tests.yaml:4:5: error E201: unknown key 'turnz'" in (error.text or "")


def test_min_coverage_fails_below_and_names_unexercised_lines(desk: Path, capsys: pytest.CaptureFixture[str]):
    _tests(desk, EVERYTHING)

    assert main(["test", str(desk), "--min-coverage", "75"]) == 0
    out = capsys.readouterr().out
    assert "coverage of" in out and f"{desk}:" in out and "not exercised: tool note" in out

    assert main(["test", str(desk), "--min-coverage", "90"]) == 1
    assert f"coverage 78% of {desk} is below 90%" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "findings"),
    [
        (
            "tests:\n  - name: t\n    stat: ask\n    turns: [{user: hi}]\n",
            ["desk.tests.yaml:3:5: error E201: unknown key 'stat' in tests[0] (did you mean 'state'?)"],
        ),
        (
            "tests:\n  - name: t\n    turns:\n      - user: hi\n        model: [{call: verfy, args: {code: '1'}}]\n"
            "        expect: {agent: bak}\n",
            [
                "desk.tests.yaml:5:24: error E302: unknown tool 'verfy' (did you mean 'verify'?)",
                "desk.tests.yaml:6:25: error E301: unknown agent 'bak' (did you mean 'back'?)",
            ],
        ),
        (
            "tests:\n  - name: t\n    turns:\n      - user: [1]\n        expect: {state: rout, tools: verify}\n",
            [
                "desk.tests.yaml:4:15: error E202: tests[0].turns[0].user: Input should be a valid string",
                "desk.tests.yaml:5:38: error E202: tests[0].turns[0].expect.tools: Input should be a valid list (got 'verify')",
            ],
        ),
    ],
    ids=["unknown key", "unknown references", "wrong types"],
)
def test_tests_files_report_located_errors(
    desk: Path, capsys: pytest.CaptureFixture[str], text: str, findings: list[str]
):
    tests = _tests(desk, text)

    assert main(["validate", str(tests)]) == 1
    validated = capsys.readouterr()
    assert main(["test", str(tests)]) == 1
    tested = capsys.readouterr()

    for finding in findings:
        assert f"{desk.parent}/{finding}" in validated.out
        assert f"{desk.parent}/{finding}" in tested.err
    for stream in (validated.out, validated.err, tested.out, tested.err):
        assert "Traceback" not in stream and "internal error" not in stream
    assert "1 file with errors" in tested.out


def test_a_missing_tests_file_is_reported_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["test", str(tmp_path / "nowhere.tests.yaml")]) == 1
    err = capsys.readouterr().err
    assert "nowhere" in err and "E105" in err and "internal error" not in err


def test_a_tests_file_elsewhere_runs_the_graph_with_its_own_tools(write_graph, tmp_path: Path, capsys):
    graph = write_graph()  # its `lookup` tool is python, in mini_tools.py beside the graph
    elsewhere = tmp_path / "suites" / "mini.tests.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(
        "graph: ../graph.yaml\ntests:\n  - name: lookup\n    turns:\n      - user: Find snow.\n"
        "        model: [{call: lookup, args: {query: snow}}]\n"
        "        expect: {tools: [{name: lookup, ok: true, output: {found: true}}]}\n"
    )
    assert graph.is_file()

    assert main(["test", str(elsewhere)]) == 0, capsys.readouterr()


def test_usage_errors_exit_2(desk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["test", str(desk), "--live"]) == 2
    assert "--live needs OPENAI_API_KEY (or --url" in capsys.readouterr().err
    assert main(["test", str(desk), "--url", "ws://127.0.0.1:9/v1/realtime"]) == 2
    assert "--url needs --live" in capsys.readouterr().err


def test_live_against_a_url_reports_every_turn(desk: Path, monkeypatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _tests(desk, EVERYTHING)
    [(test, _)] = collect(desk).tests
    with Simulator(test).start_in_thread() as model:  # stands in for a Realtime-compatible server
        code = main(["test", str(desk), "--live", "--url", model.url])

    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"{desk}: 1 test (live)"
    assert [line.split(":")[0].strip() for line in lines[2:6]] == [f"turn {n} ok" for n in (1, 2, 3, 4)]
    assert "move to handoff:back refused (its guard `context.verified` does not hold yet)" in lines[2]


def test_live_with_an_azure_style_key_header(desk: Path, monkeypatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _tests(desk, EVERYTHING)
    [(test, _)] = collect(desk).tests
    with Simulator(test, require_key="azure-key-123").start_in_thread() as model:
        assert main(["test", str(desk), "--live", "--url", model.url, "--header", "api-key=azure-key-123"]) == 0
        assert main(["test", str(desk), "--live", "--url", model.url]) == 1  # no key: refused with HTTP 401
    assert "HTTP 401" in capsys.readouterr().out


def test_live_without_a_server_is_an_error_per_test(desk: Path, capsys: pytest.CaptureFixture[str]):
    _tests(desk, FAILING)
    with Simulator().start_in_thread() as gone:
        url = gone.url
    assert main(["test", str(desk), "--live", "--url", url]) == 1
    out = capsys.readouterr().out
    assert out.count("  ERROR ") == 2 and f"error: could not connect to {url}" in out
    assert out.splitlines()[-1] == "0 passed, 0 failed, 2 could not run"


def test_a_tests_file_in_another_folder_finds_its_audio_beside_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`audio:` is found beside the tests file, where validate looks for it, not beside the graph."""
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "simple_handoff.yaml").write_text((GRAPHS / "simple_handoff.yaml").read_text())
    (tmp_path / "calls" / "audio").mkdir(parents=True)
    (tmp_path / "calls" / "audio" / "help.wav").write_bytes((GRAPHS / "audio" / "need_help.wav").read_bytes())
    tests = tmp_path / "calls" / "spoken.tests.yaml"
    tests.write_text(
        textwrap.dedent("""\
            graph: ../graph/simple_handoff.yaml
            tests:
              - name: the caller asks out loud
                turns:
                  - user: I need help with my order.
                    audio: audio/help.wav
                    model:
                      - say: I can only write haikus, I'm afraid.
                    expect: {agent: greeter, says: haikus}
        """)
    )
    assert main(["validate", str(tests)]) == 0
    assert main(["test", str(tests)]) == 0, capsys.readouterr().out
