"""The toolbox: argument checks, every local executor kind, timeouts, exceptions and context updates."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from conftest import GRAPHS

from engine.spec import load_document
from engine.tools import CallableError, Toolbox, ToolContext, resolve_callable

GRAPH = """\
graph: toolbox
start: main
context:
  company: Acme
  tier: gold
agents:
  main:
    instructions: Help.
    tools: [lookup, greet, add, crash, slow, slow_fallback, where, wait_flag, remember, quote, status, docs, whoami]
tools:
  lookup:
    parameters:
      type: object
      properties:
        phone: {type: string, pattern: "^\\\\d{3}-\\\\d{4}$"}
        count: {type: integer, minimum: 1}
      required: [phone]
      additionalProperties: false
    run: funcs:lookup
    sets: {authenticated: true, profile: {level: 1}}
  greet:
    parameters: {type: object, properties: {name: {type: string}}, required: [name]}
    run: funcs:greet
  add:
    parameters: {type: object, properties: {a: {type: number}, b: {type: number}}, required: [a, b]}
    run: funcs:add
  crash:
    run: funcs:crash
    sets: {crashed: true}
  slow:
    run: funcs:slow
    timeout: 50ms
  slow_fallback:
    run: funcs:slow
    timeout: 50ms
    on_timeout: The system is slow; tell the caller we will call back.
  where:
    run: funcs:where
  wait_flag:
    run: funcs:wait_flag
  remember:
    parameters: {type: object, properties: {note: {type: string}}, required: [note]}
    run: funcs:remember
  quote:
    parameters: {type: object, properties: {item: {type: string}, qty: {type: integer}}, required: [item, qty]}
    returns:
      item: "{{ args.item }}"
      qty: "{{ args.qty }}"
      lines: ["{{ company }} quote", "tier {{ context.tier }}", 3]
      total: 10
  status:
    returns: "All systems go at {{ company }} for {{ agent }}"
  docs:
    mcp: {label: docs, url: "https://example.com/mcp"}
  whoami:
    returns: "{{ context.missing_key }}"
"""

FUNCS = """\
import asyncio
import threading
from dataclasses import dataclass

FLAG = threading.Event()


@dataclass
class Person:
    name: str
    vip: bool


def lookup(phone, count=1):
    return {"phone": phone, "count": count}


async def greet(name):
    await asyncio.sleep(0)
    return Person(name, vip=name == "Ada")


def add(a, b):
    return a + b


def crash():
    raise ValueError("order 42 does not exist")


async def slow():
    await asyncio.sleep(30)


def where():
    return threading.current_thread() is threading.main_thread()


def wait_flag():
    return FLAG.wait(5)


def remember(note, *, context):
    context.setdefault("notes", []).append(note)
    context["last_note"] = note
    return {"stored": len(context["notes"])}
"""


@pytest.fixture
def box(write_graph):
    return Toolbox(load_document(write_graph(GRAPH, **{"funcs.py": FUNCS})))


def ctx(**context) -> ToolContext:
    return ToolContext(context={"company": "Acme", "tier": "gold", **context}, agent="main")


def error_of(outcome) -> str:
    assert not outcome.ok
    assert outcome.error
    return json.loads(outcome.output)["error"]


# --- argument checks ------------------------------------------------------------------------------


async def test_unknown_tool_names_the_available_ones(box):
    outcome = await box.execute("lookup_user", "{}", ctx())
    message = error_of(outcome)
    assert "Unknown tool 'lookup_user'" in message
    assert "lookup" in message and "greet" in message


async def test_bad_json_is_an_error_outcome(box):
    message = error_of(await box.execute("lookup", '{"phone": "555-1234"', ctx()))
    assert "not valid JSON" in message and "'lookup'" in message


async def test_arguments_must_be_an_object(box):
    assert "JSON object" in error_of(await box.execute("lookup", "[1, 2]", ctx()))


async def test_each_schema_violation_is_listed_with_its_path(box):
    message = error_of(await box.execute("lookup", '{"phone": "5551234", "count": 0, "extra": 1}', ctx()))
    assert "at /phone:" in message and "does not match" in message
    assert "at /count:" in message and "minimum" in message
    assert "'extra' was unexpected" in message
    assert "call 'lookup' again" in message


async def test_missing_required_argument(box):
    message = error_of(await box.execute("lookup", "{}", ctx()))
    assert "'phone' is a required property" in message


async def test_empty_arguments_mean_no_arguments(box):
    outcome = await box.execute("status", "", ctx())
    assert outcome.ok


async def test_nothing_runs_and_nothing_is_set_on_invalid_arguments(box):
    c = ctx()
    outcome = await box.execute("lookup", '{"phone": "bad"}', c)
    assert not outcome.ok and "authenticated" not in c.context and outcome.context_updates == {}


# --- python callables -----------------------------------------------------------------------------


async def test_sync_callable_with_sets(box):
    c = ctx()
    outcome = await box.execute("lookup", '{"phone": "555-1234"}', c)
    assert outcome.ok and outcome.error is None
    assert json.loads(outcome.output) == {"phone": "555-1234", "count": 1}
    assert c.context["authenticated"] is True and c.context["profile"] == {"level": 1}
    assert outcome.context_updates == {"authenticated": True, "profile": {"level": 1}}


async def test_sets_are_copies_of_the_spec_values(box):
    c1, c2 = ctx(), ctx()
    await box.execute("lookup", '{"phone": "555-1234"}', c1)
    c1.context["profile"]["level"] = 99
    await box.execute("lookup", '{"phone": "555-1234"}', c2)
    assert c2.context["profile"] == {"level": 1}


async def test_async_callable_and_non_json_results(box):
    outcome = await box.execute("greet", '{"name": "Ada"}', ctx())
    assert outcome.ok and json.loads(outcome.output) == {"name": "Ada", "vip": True}


async def test_scalar_results_are_json(box):
    outcome = await box.execute("add", '{"a": 2, "b": 3.5}', ctx())
    assert outcome.ok and json.loads(outcome.output) == 5.5


async def test_sync_callables_run_off_the_event_loop_thread(box):
    outcome = await box.execute("where", "{}", ctx())
    assert json.loads(outcome.output) is False


async def test_a_blocking_sync_callable_does_not_block_the_loop(box):
    task = asyncio.create_task(box.execute("wait_flag", "{}", ctx()))
    for _ in range(5):
        await asyncio.sleep(0)
    flag = resolve_callable(box.doc.dir, "funcs:wait_flag").__globals__["FLAG"]  # the module is loaded once
    flag.set()  # only reachable while the tool waits if the loop keeps running
    outcome = await task
    assert json.loads(outcome.output) is True


async def test_context_parameter_receives_the_live_context(box):
    c = ctx(notes=["first"])
    outcome = await box.execute("remember", '{"note": "call back"}', c)
    assert outcome.ok and json.loads(outcome.output) == {"stored": 2}
    assert c.context["notes"] == ["first", "call back"]
    assert outcome.context_updates == {"last_note": "call back"}


async def test_exception_becomes_an_error_outcome_and_is_logged(box, caplog):
    c = ctx()
    with caplog.at_level(logging.DEBUG, logger="engine.tools"):
        outcome = await box.execute("crash", "{}", c)
    message = error_of(outcome)
    assert message == "Tool 'crash' failed: ValueError: order 42 does not exist"
    assert "Traceback" not in outcome.output
    assert "crashed" not in c.context  # sets apply on success only
    # One warning line naming the exception; the traceback only at debug level.
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert warning.getMessage() == "tool crash raised ValueError: order 42 does not exist"
    assert [r.levelno for r in caplog.records if r.exc_info] == [logging.DEBUG]


async def test_a_tool_error_is_the_models_message_and_no_crash(write_graph, caplog):
    path = write_graph(
        """\
        graph: g
        start: a
        agents: {a: {instructions: x, tools: [refuse]}}
        tools:
          refuse: {run: "refusing:refuse", sets: {refused: true}}
        """,
        **{"refusing.py": "from engine.tools import ToolError\ndef refuse():\n    raise ToolError('no such order')\n"},
    )
    box = Toolbox(load_document(path))
    c = ToolContext(context={})
    with caplog.at_level(logging.DEBUG, logger="engine"):
        outcome = await box.execute("refuse", "{}", c)
    assert error_of(outcome) == "no such order"
    assert "refused" not in c.context
    assert caplog.records == []


async def test_the_retail_verification_mismatch_is_an_expected_failure_not_a_crash(caplog):
    box = Toolbox(load_document(GRAPHS / "retail.yaml"))
    args = {
        "phone_number": "(206) 135-1246",
        "last_4_digits": "0000",
        "last_4_digits_type": "credit_card",
        "date_of_birth": "1991-03-03",
    }
    c = ToolContext(context={})
    with caplog.at_level(logging.DEBUG, logger="engine"):
        outcome = await box.execute("authenticate_user_information", json.dumps(args), c)
    assert error_of(outcome) == "the details given do not match the account; ask the caller to check them"
    assert "authenticated" not in c.context
    assert caplog.records == []


async def test_timeout_without_on_timeout(box):
    outcome = await box.execute("slow", "{}", ctx())
    message = error_of(outcome)
    assert "did not finish within 0.05 seconds" in message


async def test_timeout_with_on_timeout_sends_that_text(box):
    outcome = await box.execute("slow_fallback", "{}", ctx())
    assert not outcome.ok
    assert outcome.output == "The system is slow; tell the caller we will call back."
    assert "0.05" in (outcome.error or "")


async def test_a_tools_own_timeout_error_is_an_exception_not_a_timeout(write_graph):
    path = write_graph(
        """\
        graph: g
        start: a
        agents: {a: {instructions: x, tools: [t]}}
        tools: {t: {run: "own:t", on_timeout: never shown}}
        """,
        **{"own.py": "def t():\n    raise TimeoutError('socket read timed out')\n"},
    )
    outcome = await Toolbox(load_document(path)).execute("t", "{}", ToolContext(context={}))
    assert error_of(outcome) == "Tool 't' failed: TimeoutError: socket read timed out"


# --- static results and hosted tools -------------------------------------------------------------


async def test_static_dict_renders_string_leaves(box):
    outcome = await box.execute("quote", '{"item": "board", "qty": 2}', ctx())
    assert json.loads(outcome.output) == {
        "item": "board",
        "qty": "2",
        "lines": ["Acme quote", "tier gold", 3],
        "total": 10,
    }


async def test_static_string_sees_context_and_agent(box):
    outcome = await box.execute("status", "{}", ctx())
    assert json.loads(outcome.output) == "All systems go at Acme for main"


async def test_static_template_error_is_an_error_outcome(box):
    message = error_of(await box.execute("whoami", "{}", ctx()))
    assert "missing_key" in message and "tools.whoami.returns" in message


async def test_mcp_tools_are_not_run_locally(box):
    message = error_of(await box.execute("docs", "{}", ctx()))
    assert "hosted MCP tool" in message and "'docs'" in message


# --- construction ---------------------------------------------------------------------------------


def test_spec_and_names(box):
    assert box.spec("lookup").run == "funcs:lookup"
    assert "quote" in box.names
    with pytest.raises(KeyError, match="did you mean 'lookup'"):
        box.spec("lookpu")


def test_every_bad_callable_is_reported_at_once(write_graph):
    path = write_graph(
        """\
        graph: g
        start: a
        agents: {a: {instructions: x, tools: [one, two, three]}}
        tools:
          one: {run: "mini_tools:lookup"}
          two: {run: "mini_tools:nope"}
          three: {run: "absent:fn"}
        """
    )
    with pytest.raises(CallableError) as info:
        Toolbox(load_document(path))
    assert len(info.value.problems) == 2
    assert "tool 'two'" in str(info.value) and "tool 'three'" in str(info.value)


async def test_tools_of_one_module_share_its_state(write_graph):
    path = write_graph(
        """\
        graph: g
        start: a
        agents: {a: {instructions: x, tools: [put, get]}}
        tools:
          put: {run: "cart:put", parameters: {type: object, properties: {item: {type: string}}, required: [item]}}
          get: {run: "cart:get"}
        """,
        **{"cart.py": "ITEMS = []\ndef put(item):\n    ITEMS.append(item)\ndef get():\n    return ITEMS\n"},
    )
    box = Toolbox(load_document(path))
    await box.execute("put", '{"item": "wax"}', ToolContext(context={}))
    outcome = await box.execute("get", "{}", ToolContext(context={}))
    assert json.loads(outcome.output) == ["wax"]
