"""Output guardrails: regex, keywords, python callables and the classifier (on the simulator)."""

from __future__ import annotations

import logging

import pytest

from engine.runtime.guardrails import GuardrailChecker, Trip, classify_request
from engine.sim import Simulator
from engine.spec import load_document
from engine.spec.script import Say, Script, Turn
from engine.tools import CallableError, ResponsesClient

GRAPH = """\
graph: guarded
start: main
agents:
  main: {instructions: x}
guardrails:
  prices:
    regex: ["\\\\$\\\\d+", "free of charge"]
    category: PRICING
  words:
    keywords: [refund, c++]
  custom:
    run: "checks:no_competitors"
  custom_async:
    run: "checks:vip_only"
  custom_broken:
    run: "checks:broken"
  moderation:
    classify:
      model: gpt-4o-mini
      instructions: You moderate a retail voice agent.
      categories:
        OFFENSIVE: insults or slurs
        OFF_BRAND: talks about competitors
"""

CHECKS = """\
def no_competitors(text, context):
    return "COMPETITOR" if context["competitor"].lower() in text.lower() else None


async def vip_only(text, context):
    return None if context.get("vip") else ("VIP_ONLY" if "lounge" in text else None)


def broken(text, context):
    raise RuntimeError("bug in the check")
"""


@pytest.fixture
def doc(write_graph):
    return load_document(write_graph(GRAPH, **{"checks.py": CHECKS}))


@pytest.fixture
def checker(doc):
    return GuardrailChecker(doc, None)


async def test_regex_is_case_insensitive(checker):
    assert await checker.check("prices", "That costs $40.", {}) == Trip(
        "prices", "PRICING", "the reply matches the pattern '\\\\$\\\\d+'"
    )
    trip = await checker.check("prices", "It is FREE OF CHARGE!", {})
    assert trip is not None and trip.category == "PRICING"
    assert await checker.check("prices", "It costs forty dollars.", {}) is None


async def test_keywords_match_whole_words_only(checker):
    trip = await checker.check("words", "You can get a Refund today.", {})
    assert trip == Trip("words", "BLOCKED", "the reply contains the keyword 'refund'")
    assert await checker.check("words", "Refunds are processed weekly; it was refunded.", {}) is None
    assert (await checker.check("words", "I code in C++ daily", {})).rationale == "the reply contains the keyword 'c++'"
    assert await checker.check("words", "abc++ is not a word match", {}) is None


async def test_run_callables_sync_and_async(checker):
    trip = await checker.check("custom", "Have you tried MegaBoards?", {"competitor": "megaboards"})
    assert trip is not None and trip.guardrail == "custom" and trip.category == "COMPETITOR"
    assert await checker.check("custom", "Our boards are great.", {"competitor": "megaboards"}) is None
    assert (await checker.check("custom_async", "Visit the lounge", {})).category == "VIP_ONLY"
    assert await checker.check("custom_async", "Visit the lounge", {"vip": True}) is None


async def test_a_failing_callable_does_not_trip(checker, caplog):
    with caplog.at_level(logging.ERROR, logger="engine.guardrails"):
        assert await checker.check("custom_broken", "anything", {}) is None
    assert "custom_broken" in caplog.text


async def test_unknown_guardrail_is_a_key_error(checker):
    with pytest.raises(KeyError):
        await checker.check("nope", "text", {})


def test_a_bad_callable_fails_at_construction(write_graph):
    path = write_graph(GRAPH.replace("checks:no_competitors", "checks:missing"), **{"checks.py": CHECKS})
    with pytest.raises(CallableError, match="has no function 'missing'"):
        GuardrailChecker(load_document(path), None)


def test_the_classifier_request(doc):
    body = classify_request("moderation", doc.spec.guardrails["moderation"], "some reply")
    assert body["model"] == "gpt-4o-mini"
    assert body["metadata"] == {"engine_kind": "guardrail", "guardrail": "moderation"}
    assert body["input"] == [{"role": "user", "content": "some reply"}]
    assert body["instructions"].startswith("You moderate a retail voice agent.")
    for line in ("- OFFENSIVE: insults or slurs", "- OFF_BRAND: talks about competitors", "- NONE:"):
        assert line in body["instructions"]
    fmt = body["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True
    assert fmt["schema"] == {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["OFFENSIVE", "OFF_BRAND", "NONE"]},
            "rationale": {"type": "string"},
        },
        "required": ["category", "rationale"],
        "additionalProperties": False,
    }


SCRIPT = Script(
    turns=[
        Turn(
            user="hi",
            model=[
                Say(say="Only an idiot would ask that.", flag="OFFENSIVE"),
                Say(say="Something odd.", flag="NOT_A_CATEGORY"),
                Say(say="Happy to help."),
            ],
        )
    ]
)


async def test_classifier_on_the_simulator(doc):
    async with Simulator(SCRIPT) as sim:
        responses = ResponsesClient(api_key="sk-test-key-123456", base_url=sim.http_base)
        checker = GuardrailChecker(doc, responses)
        trip = await checker.check("moderation", "Only an idiot would ask that.", {})
        assert trip is not None and trip.guardrail == "moderation" and trip.category == "OFFENSIVE"
        assert trip.rationale
        assert await checker.check("moderation", "Happy to help.", {}) is None
        assert sim.responses_requests[0]["metadata"] == {"engine_kind": "guardrail", "guardrail": "moderation"}
        await responses.aclose()


async def test_classifier_failure_neither_trips_nor_raises(doc, caplog):
    async with Simulator(SCRIPT) as sim:
        # The scripted flag is not one of the categories: the simulator refuses with HTTP 400.
        responses = ResponsesClient(api_key="sk-test-key-123456", base_url=sim.http_base)
        checker = GuardrailChecker(doc, responses)
        with caplog.at_level(logging.WARNING, logger="engine.guardrails"):
            assert await checker.check("moderation", "Something odd.", {}) is None
        assert "classifier failed" in caplog.text and "sk-test-key-123456" not in caplog.text
        await responses.aclose()


async def test_classifier_without_a_client_does_not_trip(checker):
    assert await checker.check("moderation", "Only an idiot would ask that.", {}) is None


DECIDED = GRAPH.replace(
    """      model: gpt-4o-mini
      instructions: You moderate a retail voice agent.""",
    """      model: gpt-6-luna
      via: decisions
      threshold: 0.9
      instructions: You moderate a retail voice agent.""",
)


async def test_a_classifier_on_the_decisions_endpoint(write_graph):
    doc = load_document(write_graph(DECIDED, **{"checks.py": CHECKS}))
    async with Simulator(SCRIPT) as sim:
        responses = ResponsesClient(api_key="sk-test-key-123456", base_url=sim.http_base)
        checker = GuardrailChecker(doc, responses)
        trip = await checker.check("moderation", "Only an idiot would ask that.", {})
        assert trip is not None and trip.category == "OFFENSIVE" and "0.97" in trip.rationale
        assert await checker.check("moderation", "Happy to help.", {}) is None
        [request, _] = sim.responses_requests
        assert request["model"] == "gpt-6-luna" and request["input"] == "Only an idiot would ask that."
        [question] = request["questions"]
        assert question["type"] == "choice" and question["instructions"].startswith("You moderate")
        assert [c["value"] for c in question["choices"]] == ["OFFENSIVE", "OFF_BRAND", "NONE"]
        await responses.aclose()
    doc = load_document(write_graph(DECIDED.replace("threshold: 0.9", "threshold: 0.99"), **{"checks.py": CHECKS}))
    async with Simulator(SCRIPT) as sim:  # the simulator answers with confidence 0.97: under 0.99, no trip
        responses = ResponsesClient(api_key="sk-test-key-123456", base_url=sim.http_base)
        checker = GuardrailChecker(doc, responses)
        assert await checker.check("moderation", "Only an idiot would ask that.", {}) is None
        await responses.aclose()


def test_the_decisions_endpoint_takes_one_model(write_graph):
    from engine.validate import validate_file

    path = write_graph(DECIDED.replace("model: gpt-6-luna", "model: gpt-5.4-mini"), **{"checks.py": CHECKS})
    [finding] = [f for f in validate_file(path).findings if f.severity == "error"]
    assert finding.code == "E202" and "only model 'gpt-6-luna'" in finding.message
