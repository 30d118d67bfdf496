"""The bundled scenarios: their tool modules called directly, and their demos checked against their specs."""

from __future__ import annotations

import importlib.util
import inspect
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from engine.spec import Document, handoff_tool_name, load_document
from engine.spec.script import Call, Handoff, SupervisorAnswer, SupervisorCall, Transition
from engine.tools import ToolError
from engine.validate import validate_file

GRAPHS = Path(__file__).resolve().parent.parent / "graphs"
BUNDLED = ["retail.yaml", "chat_supervisor.yaml", "simple_handoff.yaml"]


def _module(name: str) -> ModuleType:
    # A private module name, so this never collides with how the engine itself loads the file.
    spec = importlib.util.spec_from_file_location(f"_bundled_{name}", GRAPHS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _run(doc: Document, tool: str, args: dict[str, Any], context: dict[str, Any] | None = None) -> Any:
    """Call a `run:` tool the way its spec says, passing `context` when the function takes it."""
    target = doc.spec.tools[tool].run
    assert target is not None, f"{tool} is not a python tool"
    module_name, func_name = target.split(":")
    fn = getattr(_module(module_name), func_name)
    kwargs = dict(args)
    if "context" in inspect.signature(fn).parameters:
        kwargs["context"] = context if context is not None else {}
    result = fn(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    json.dumps(result)  # outputs go to the model as JSON
    return result


def _demo_actions(doc: Document) -> Iterator[tuple[str, Any]]:
    """Every model action of the demo with the agent that takes it (handoffs change the agent)."""
    assert doc.spec.demo is not None
    agent = doc.spec.demo.agent or doc.spec.start
    for turn in doc.spec.demo.turns:
        for action in turn.model:
            if isinstance(action, Transition) and action.transition.startswith("handoff:"):
                action = Handoff(handoff=action.transition.removeprefix("handoff:"))  # a guarded handoff
            yield agent, action
            if isinstance(action, Handoff):
                agent = action.handoff


def _demo_calls(doc: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (tool, args) the demo calls, the supervisor's calls included."""
    for _, action in _demo_actions(doc):
        if isinstance(action, Call):
            yield action.call, action.args
            for step in action.supervisor or ():
                if isinstance(step, SupervisorCall):
                    yield step.call, step.args


@pytest.fixture(scope="module")
def retail() -> Document:
    return load_document(GRAPHS / "retail.yaml")


@pytest.fixture(scope="module")
def telco() -> Document:
    return load_document(GRAPHS / "chat_supervisor.yaml")


# --- the demos agree with their graphs ---------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_graph_validates_cleanly(name: str) -> None:
    report = validate_file(GRAPHS / name)
    assert [f.format() for f in report.findings] == []


@pytest.mark.parametrize("name", BUNDLED)
def test_demo_actions_use_what_the_current_agent_offers(name: str) -> None:
    doc = load_document(GRAPHS / name)
    for agent_id, action in _demo_actions(doc):
        agent = doc.spec.agents[agent_id]
        targets = [h.agent for h in agent.handoff_targets()]
        if isinstance(action, Handoff):
            assert action.handoff in targets, f"{agent_id} cannot hand off to {action.handoff}"
        if not isinstance(action, Call):
            continue
        offered = [*agent.tools, *(handoff_tool_name(t) for t in targets)]
        assert action.call in offered, f"{agent_id} calls {action.call}, which it does not have"
        escalation = doc.spec.tools[action.call].escalate
        assert (action.supervisor is not None) == (escalation is not None)
        if escalation is None or action.supervisor is None:
            continue
        *calls, answer = action.supervisor
        assert all(isinstance(s, SupervisorCall) and s.call in escalation.tools for s in calls)
        assert isinstance(answer, SupervisorAnswer)
        if escalation.output == "text":
            assert isinstance(answer.answer, str)
        else:
            jsonschema.validate(answer.answer, escalation.output)


@pytest.mark.parametrize("name", BUNDLED)
def test_demo_arguments_match_the_tool_schemas(name: str) -> None:
    doc = load_document(GRAPHS / name)
    for tool, args in _demo_calls(doc):
        schema = doc.spec.tools[tool].parameters
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(args, schema, cls=jsonschema.Draft202012Validator)


def test_every_agent_hands_off_to_every_other_in_retail(retail: Document) -> None:
    agents = set(retail.spec.agents)
    edges = {(a, h.agent) for a, agent in retail.spec.agents.items() for h in agent.handoff_targets()}
    assert edges == {(a, b) for a in agents for b in agents if a != b}
    assert len(edges) == 12


def test_phone_pattern_refuses_unformatted_numbers(retail: Document) -> None:
    schema = retail.spec.tools["lookup_orders"].parameters
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"phone_number": "2061351246"}, schema)


# --- retail tools with the demo's arguments ------------------------------------------------------------


async def test_every_python_tool_in_the_demos_runs_on_its_demo_arguments(retail: Document, telco: Document) -> None:
    for doc in (retail, telco):
        for tool, args in _demo_calls(doc):
            if doc.spec.tools[tool].run is not None:
                assert isinstance(await _run(doc, tool, args), dict)


async def test_authentication_accepts_the_demo_caller_and_fills_the_context(retail: Document) -> None:
    args = next(a for t, a in _demo_calls(retail) if t == "authenticate_user_information")
    context: dict[str, Any] = dict(retail.spec.context)
    result = await _run(retail, "authenticate_user_information", args, context)
    assert result["verified"] is True and result["first_name"] == "Jordan"
    assert context["phone_number"] == args["phone_number"]
    # The demo confirms the address on file, so the save must not report a change.
    address_args = next(a for t, a in _demo_calls(retail) if t == "save_or_update_address")
    saved = await _run(retail, "save_or_update_address", address_args, context)
    assert saved["changed"] is False and saved["address"] == result["address_on_file"]


async def test_authentication_refuses_wrong_digits(retail: Document) -> None:
    args = next(a for t, a in _demo_calls(retail) if t == "authenticate_user_information")
    with pytest.raises(ToolError, match="do not match"):
        await _run(retail, "authenticate_user_information", {**args, "last_4_digits": "0000"})
    with pytest.raises(ToolError, match="do not match"):
        await _run(retail, "authenticate_user_information", {**args, "last_4_digits_type": "ssn"})


async def test_offer_response_needs_the_current_offer(retail: Document) -> None:
    args = next(a for t, a in _demo_calls(retail) if t == "update_user_offer_response")
    assert args["offer_id"] == retail.spec.context["loyalty_offer_id"]
    context: dict[str, Any] = {}
    result = await _run(retail, "update_user_offer_response", args, context)
    assert result["loyalty_member"] is True and context["offer_response"] == "ACCEPTED"
    with pytest.raises(ToolError, match="unknown offer"):
        await _run(retail, "update_user_offer_response", {**args, "offer_id": "SUMMER-PROMO"})


async def test_the_demo_return_is_inside_the_policy_window(retail: Document) -> None:
    orders = await _run(retail, "lookup_orders", {"phone_number": "(206) 135-1246"})
    board = next(o for o in orders["orders"] if o["order_id"] == "SPB-48213")
    assert any("Snowboard" in item["name"] and item["price"] == 549.00 for item in board["items"])
    delivered = date.fromisoformat(board["delivered_date"])
    assert (date.today() - delivered).days == board["days_since_delivery"] <= 30
    policy = await _run(retail, "retrieve_policy", {"region": "US", "item_type": "snowboard"})
    assert "30 days" in policy["policy"]["snowboard"]
    answer = next(
        s.answer
        for _, a in _demo_actions(retail)
        if isinstance(a, Call) and a.supervisor
        for s in a.supervisor
        if isinstance(s, SupervisorAnswer)
    )
    assert answer["eligible"] == "true"
    assert f"delivered {board['days_since_delivery']} days ago" in answer["rationale"]


async def test_unknown_phone_has_no_orders(retail: Document) -> None:
    orders = await _run(retail, "lookup_orders", {"phone_number": "(999) 000-0000"})
    assert orders["orders"] == []


async def test_canadian_policy_adds_its_rules_to_the_item_rules(retail: Document) -> None:
    policy = await _run(retail, "retrieve_policy", {"region": "CA", "item_type": "boots"})
    assert set(policy["policy"]) == {"general", "boots"}
    assert "Canadian dollars" in policy["policy"]["general"]


async def test_sales_cart_and_checkout(retail: Document) -> None:
    boards = await _run(retail, "lookup_new_sales", {"category": "snowboard"})
    assert boards["items"] and all(i["category"] == "snowboard" for i in boards["items"])
    assert all(i["sale_price"] < i["price"] for i in boards["items"])
    context: dict[str, Any] = {}
    first = boards["items"][0]["item_id"]
    cart = await _run(retail, "add_to_cart", {"item_id": first}, context)
    assert context["cart"] == [first] and cart["subtotal"] == boards["items"][0]["sale_price"]
    order = await _run(retail, "checkout", {"item_ids": [first], "phone_number": "(206) 135-1246"}, context)
    assert order["total"] == pytest.approx(order["subtotal"] + order["tax"])
    assert order["charged_card_ending"] == "4821" and context["cart"] == []
    with pytest.raises(ToolError, match="unknown item"):
        await _run(retail, "add_to_cart", {"item_id": "NOPE"}, context)


# --- NewTelco tools --------------------------------------------------------------------------------------


async def test_the_demo_bill_explains_the_supervisor_answer(telco: Document) -> None:
    args = next(a for t, a in _demo_calls(telco) if t == "get_user_account_info")
    context: dict[str, Any] = {}
    account = await _run(telco, "get_user_account_info", args, context)
    bill = account["current_bill"]
    assert bill["total_due"] == pytest.approx(sum(c["amount"] for c in bill["charges"]))
    roaming = [c for c in bill["charges"] if "roaming" in c["description"].lower()]
    assert sum(c["amount"] for c in roaming) == pytest.approx(bill["total_due"] - bill["previous_total"])
    assert context["account_id"] == account["account_id"]


async def test_policy_lookup_by_key_title_and_unknown(telco: Document) -> None:
    assert (await _run(telco, "lookup_policy_document", {"topic": "international roaming"}))["found"] is True
    assert (await _run(telco, "lookup_policy_document", {"topic": "Billing"}))["found"] is True
    missing = await _run(telco, "lookup_policy_document", {"topic": "satellite phones"})
    assert missing["found"] is False and "billing" in missing["available_topics"]


async def test_nearest_store_ranks_the_same_zip_first(telco: Document) -> None:
    result = await _run(telco, "find_nearest_store", {"zip_code": "94110"})
    assert result["stores"][0]["zip_code"] == "94110"
    assert all(s["address"] and s["hours"] for s in result["stores"])
