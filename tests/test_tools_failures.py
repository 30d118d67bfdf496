"""Nothing a tool does is fatal: whatever it raises, hung sync tools, async tools that block the loop,
huge or non-finite outputs. Each is answered with an outcome; the process and the other tools go on."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from engine.spec import load_document
from engine.tools import Toolbox, ToolContext, resolve_callable

GRAPH = """\
graph: failures
start: main
agents:
  main: {instructions: x}
tools:
  exit_sync: {run: "funcs:exit_sync"}
  exit_async: {run: "funcs:exit_async"}
  interrupt_sync: {run: "funcs:interrupt_sync"}
  interrupt_async: {run: "funcs:interrupt_async"}
  generator_exit: {run: "funcs:generator_exit"}
  own_base: {run: "funcs:own_base", sets: {done: true}}
  cancels_itself: {run: "funcs:cancels_itself"}
  bad_str: {run: "funcs:bad_str"}
  stop_sync: {run: "funcs:stop_sync"}
  hang: {run: "funcs:hang", timeout: 50ms}
  instant: {run: "funcs:instant", timeout: 5s}
  wait_async: {run: "funcs:wait_async"}
  block_long: {run: "funcs:block_long", timeout: 50ms}
  block_brief: {run: "funcs:block_brief", timeout: 10s}
  swallow: {run: "funcs:swallow", timeout: 50ms, sets: {done: true}}
  big: {run: "funcs:big", parameters: {type: object, properties: {text: {type: string}, n: {type: integer}}}}
  huge_error: {run: "funcs:huge_error"}
  nonfinite: {run: "funcs:nonfinite"}
"""

FUNCS = """\
import asyncio
import sys
import threading
import time

RELEASE = threading.Event()


class Quit(BaseException):
    pass


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def exit_sync():
    sys.exit(3)


async def exit_async():
    await asyncio.sleep(0)
    sys.exit(4)


def interrupt_sync():
    raise KeyboardInterrupt


async def interrupt_async():
    raise KeyboardInterrupt


def generator_exit():
    raise GeneratorExit


def own_base():
    raise Quit("stop everything")


async def cancels_itself():
    raise asyncio.CancelledError()


def bad_str():
    raise BadStr()


def stop_sync():
    raise StopIteration


def hang():
    RELEASE.wait()


def instant():
    return "here"


async def wait_async():
    await asyncio.sleep(30)


async def block_long():
    time.sleep(0.3)
    return "late"


async def block_brief():
    time.sleep(0.15)
    await asyncio.sleep(0)
    return "fine"


async def swallow():
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        return "finished anyway"


def big(text="x", n=20000):
    return text * n


def huge_error():
    raise ValueError("y" * 50000)


def nonfinite():
    inf = float("inf")
    return {"nan": float("nan"), "list": [inf, -inf, 1.5], inf: "key", "nested": ({"deep": -inf},)}
"""


@pytest.fixture
def path(write_graph):
    return write_graph(GRAPH, **{"funcs.py": FUNCS})


@pytest.fixture
async def box(path):
    toolbox = Toolbox(load_document(path), max_threads=4)
    yield toolbox
    _module(toolbox).RELEASE.set()
    await toolbox.aclose()


def _module(toolbox: Toolbox):
    """The tools' module (loaded once per process: the toolbox's callables live in it)."""
    return sys.modules[resolve_callable(toolbox.doc.dir, "funcs:hang").__module__]


def ctx() -> ToolContext:
    return ToolContext(context={}, agent="main")


def error_of(outcome) -> str:
    assert not outcome.ok
    assert outcome.error
    return json.loads(outcome.output)["error"]


def strict_json(text: str):
    """`json.loads` refusing the NaN and Infinity tokens that are not JSON."""

    def refuse(token: str):
        raise ValueError(f"invalid JSON token {token}")

    return json.loads(text, parse_constant=refuse)


# --- whatever a tool raises -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("exit_sync", "Tool 'exit_sync' failed: SystemExit: 3"),
        ("exit_async", "Tool 'exit_async' failed: SystemExit: 4"),
        ("interrupt_sync", "Tool 'interrupt_sync' failed: KeyboardInterrupt"),
        ("interrupt_async", "Tool 'interrupt_async' failed: KeyboardInterrupt"),
        ("generator_exit", "Tool 'generator_exit' failed: GeneratorExit"),
        ("own_base", "Tool 'own_base' failed: Quit: stop everything"),
        ("cancels_itself", "Tool 'cancels_itself' failed: CancelledError"),
        ("bad_str", "Tool 'bad_str' failed: BadStr"),
        ("stop_sync", "Tool 'stop_sync' failed: RuntimeError: the tool raised StopIteration()"),
    ],
)
async def test_any_base_exception_is_an_error_outcome_and_the_toolbox_goes_on(box, tool, expected, caplog):
    c = ctx()
    with caplog.at_level(logging.WARNING, logger="engine.tools"):
        outcome = await box.execute(tool, "{}", c)
    assert error_of(outcome) == expected
    assert "done" not in c.context  # `sets` applies on success only
    assert any(tool in r.getMessage() for r in caplog.records)
    assert (await box.execute("instant", "{}", ctx())).output == '"here"'


async def test_the_tasks_own_cancellation_still_cancels(box):
    task = asyncio.create_task(box.execute("wait_async", "{}", ctx()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_tool_calling_sys_exit_does_not_end_the_process(path):
    script = f"""
        import asyncio, json
        from engine.spec import load_document
        from engine.tools import Toolbox, ToolContext, resolve_callable

        async def main():
            box = Toolbox(load_document({str(path)!r}))
            for name in ("exit_sync", "exit_async", "interrupt_sync", "own_base"):
                outcome = await box.execute(name, "{{}}", ToolContext(context={{}}))
                print(name, outcome.ok)
            await box.aclose()

        asyncio.run(main())
        print("still here")
    """
    done = _python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == [
        "exit_sync False",
        "exit_async False",
        "interrupt_sync False",
        "own_base False",
        "still here",
        "",
    ]


# --- hung sync tools ---------------------------------------------------------------------------------


async def test_hung_sync_tools_never_starve_the_others(box):
    # More hung calls than the toolbox has threads, and than asyncio's default executor has (today's pool).
    hung = max(box.threads.max_threads, min(32, (os.cpu_count() or 1) + 4)) + 1
    outcomes = await asyncio.gather(*(box.execute("hang", "{}", ctx()) for _ in range(hung)))
    assert all("did not finish within 0.05 seconds" in error_of(o) for o in outcomes)
    assert box.threads.busy == 0 and box.threads.waiting == 0  # abandoned calls do not count
    outcome = await box.execute("instant", "{}", ctx())
    assert outcome.ok and outcome.output == '"here"'


def test_exit_does_not_wait_for_a_hung_tool(path):
    script = f"""
        import asyncio
        from engine.spec import load_document
        from engine.tools import Toolbox, ToolContext, resolve_callable

        async def main():
            box = Toolbox(load_document({str(path)!r}))
            print((await box.execute("hang", "{{}}", ToolContext(context={{}}))).ok)
            print((await box.execute("instant", "{{}}", ToolContext(context={{}}))).output)

        asyncio.run(main())  # the toolbox is not even closed: its hung thread is a daemon
        print("exiting")
    """
    done = _python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == ["False", '"here"', "exiting", ""]


async def test_aclose_does_not_wait_for_a_hung_tool_and_later_calls_fail_cleanly(path):
    box = Toolbox(load_document(path))
    call = asyncio.create_task(box.execute("hang", "{}", ctx()))
    await asyncio.sleep(0)
    await box.aclose()  # returns although a thread still hangs in `hang`
    assert "did not finish" in error_of(await call)
    assert error_of(await box.execute("instant", "{}", ctx())) == "Tool 'instant' cannot run: the tools are shut down."
    await box.aclose()
    _module(box).RELEASE.set()


# --- async tools that block the event loop ----------------------------------------------------------


async def test_an_async_tool_blocking_past_its_timeout_is_reported_and_timed_out(box, caplog):
    with caplog.at_level(logging.WARNING, logger="engine.tools"):
        outcome = await box.execute("block_long", "{}", ctx())
    message = error_of(outcome)
    assert message.startswith("Tool 'block_long' did not finish within 0.05 seconds: it blocked the event loop for 0.")
    assert "blocked the event loop for 0." in outcome.error
    assert any("block_long blocked the event loop" in r.getMessage() for r in caplog.records)


async def test_an_async_tool_blocking_within_its_timeout_succeeds_with_a_warning(box, caplog):
    with caplog.at_level(logging.WARNING, logger="engine.tools"):
        outcome = await box.execute("block_brief", "{}", ctx())
    assert outcome.ok and outcome.output == '"fine"'
    assert outcome.warning is not None and outcome.warning.startswith("Tool 'block_brief' blocked the event loop for")
    assert any("block_brief blocked the event loop" in r.getMessage() for r in caplog.records)


async def test_an_async_tool_swallowing_its_timeout_is_still_timed_out(box):
    c = ctx()
    outcome = await box.execute("swallow", "{}", c)
    assert (
        error_of(outcome)
        == "Tool 'swallow' did not finish within 0.05 seconds. Tell the user it is not available right now."
    )
    assert "done" not in c.context


async def test_a_well_behaved_async_tool_has_no_warning(box, caplog):
    with caplog.at_level(logging.WARNING, logger="engine.tools"):
        outcome = await box.execute("exit_async", "{}", ctx())
    assert outcome.warning is None
    assert not any("blocked" in r.getMessage() for r in caplog.records)


# --- outputs ------------------------------------------------------------------------------------------


async def test_an_output_above_the_default_cap_is_cut_with_a_note(path):
    box = Toolbox(load_document(path))
    outcome = await box.execute("big", "{}", ctx())
    assert outcome.ok
    assert len(outcome.output) <= 16_000
    capped = strict_json(outcome.output)
    assert capped["truncated_output"].startswith('"xxxx')
    assert "20,002 characters" in capped["note"] and "were cut" in capped["note"]
    await box.aclose()


@pytest.mark.parametrize("text", ["x", '"', "\x00", "é"])
async def test_the_cap_is_configurable_and_holds_whatever_the_escaping(path, text):
    box = Toolbox(load_document(path), max_output_chars=1000)
    outcome = await box.execute("big", json.dumps({"text": text, "n": 5000}), ctx())
    assert len(outcome.output) <= 1000
    capped = strict_json(outcome.output)
    shown = len(capped["truncated_output"])
    assert f"only the first {shown:,} are shown" in capped["note"]
    assert shown > 100  # most of the room goes to the output, not the note
    await box.aclose()


async def test_an_output_at_the_cap_is_left_alone(path):
    box = Toolbox(load_document(path), max_output_chars=1000)
    outcome = await box.execute("big", json.dumps({"n": 998}), ctx())
    assert outcome.output == '"' + "x" * 998 + '"'
    await box.aclose()


async def test_an_error_output_is_capped_too(path):
    box = Toolbox(load_document(path), max_output_chars=1000)
    outcome = await box.execute("huge_error", "{}", ctx())
    assert not outcome.ok and len(outcome.output) <= 1000
    assert "Tool 'huge_error' failed: ValueError: yyy" in strict_json(outcome.output)["truncated_output"]
    await box.aclose()


async def test_an_argument_error_quoting_huge_arguments_is_capped(path):
    box = Toolbox(load_document(path), max_output_chars=1000)
    outcome = await box.execute("big", json.dumps({"n": "x" * 50000}), ctx())
    assert not outcome.ok and len(outcome.output) <= 1000
    assert "Invalid arguments for 'big'" in strict_json(outcome.output)["truncated_output"]
    await box.aclose()


def test_a_cap_too_small_for_the_note_is_refused(path):
    with pytest.raises(ValueError, match="max_output_chars must be at least 500"):
        Toolbox(load_document(path), max_output_chars=10)


async def test_nan_and_infinity_become_valid_json_strings(box):
    outcome = await box.execute("nonfinite", "{}", ctx())
    assert outcome.ok
    assert strict_json(outcome.output) == {
        "nan": "NaN",
        "list": ["Infinity", "-Infinity", 1.5],
        "Infinity": "key",
        "nested": [{"deep": "-Infinity"}],
    }


# --- helpers ------------------------------------------------------------------------------------------


def _python(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter; a hang fails the test instead of stalling the suite."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60, env=env
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process did not end: {exc}")


EXITING = """\
graph: exiting
start: desk
agents:
  desk:
    instructions: You help.
    tools: [leave]
tools:
  leave:
    description: Leave.
    run: leaving:leave
demo:
  turns:
    - user: check the warehouse
      model: [{call: leave}, {say: Sorry about that.}]
"""


def test_engine_run_survives_a_tool_calling_sys_exit(write_graph):
    graph = write_graph(EXITING, **{"leaving.py": "import sys\n\ndef leave():\n    sys.exit(3)\n"})
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "engine.cli", "run", str(graph)], capture_output=True, text=True, env=env, timeout=60
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process did not end: {exc}")
    assert done.returncode == 0, done.stderr
    assert "tool leave raised SystemExit: 3" in done.stderr
    assert "Sorry about that." in done.stdout
