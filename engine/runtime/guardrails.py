"""Output guardrails: decide whether a piece of the assistant's transcript breaks a rule.

Kinds (one per guardrail): `regex` (any pattern matches, case-insensitive), `keywords` (any
keyword as a whole word, case-insensitive), `run` (a python callable `fn(text, context)` returning
a category or None) and `classify` (a text model picks one of the categories, or NONE).

A check that cannot run (an API error, an exception in a callable, an unreadable answer) never
trips and never raises: it is logged, and the reply goes on. Blocking every reply whenever the
classifier is unreachable would take the whole line down.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..spec import Document, Guardrail
from ..tools.python import call, resolve_callable
from ..tools.responses import ResponsesClient

log = logging.getLogger("engine.guardrails")

NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Trip:
    """A guardrail fired: which one, the category it reports and why."""

    guardrail: str
    category: str
    rationale: str


class GuardrailChecker:
    """Checks text against the guardrails of `doc`. Regexes compile and callables resolve up front
    (a bad callable raises `CallableError`); `responses` is needed by `classify` guardrails only."""

    def __init__(self, doc: Document, responses: ResponsesClient | None = None) -> None:
        self.doc = doc
        self._responses = responses
        self._guardrails = doc.spec.guardrails
        self._patterns: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        self._keywords: dict[str, tuple[re.Pattern[str], dict[str, str]]] = {}
        self._callables: dict[str, Callable[..., Any]] = {}
        for name, g in self._guardrails.items():
            if g.regex is not None:
                self._patterns[name] = [(p, re.compile(p, re.IGNORECASE)) for p in g.regex]
            elif g.keywords is not None:
                self._keywords[name] = _keyword_pattern(g.keywords)
            elif g.run is not None:
                self._callables[name] = resolve_callable(doc.dir, g.run)

    async def check(self, name: str, text: str, context: dict[str, Any]) -> Trip | None:
        """The trip of guardrail `name` on `text`, or None. Raises `KeyError` for an unknown guardrail only."""
        guardrail = self._guardrails[name]
        if guardrail.regex is not None:
            return self._regex(name, guardrail, text)
        if guardrail.keywords is not None:
            return self._keyword(name, guardrail, text)
        if guardrail.run is not None:
            return await self._run(name, text, context)
        return await self._classify(name, guardrail, text)

    def _regex(self, name: str, guardrail: Guardrail, text: str) -> Trip | None:
        for source, pattern in self._patterns[name]:
            if pattern.search(text):
                return Trip(name, guardrail.category, f"the reply matches the pattern {source!r}")
        return None

    def _keyword(self, name: str, guardrail: Guardrail, text: str) -> Trip | None:
        pattern, spelled = self._keywords[name]
        match = pattern.search(text)
        if match is None:
            return None
        keyword = spelled.get(match.group(0).casefold(), match.group(0))
        return Trip(name, guardrail.category, f"the reply contains the keyword {keyword!r}")

    async def _run(self, name: str, text: str, context: dict[str, Any]) -> Trip | None:
        fn = self._callables[name]
        try:
            result = await call(fn, text, context)
        except Exception:
            log.error("guardrail %s: its callable raised; not tripping", name, exc_info=True)
            return None
        if result is None or result is False or result == "" or result == NONE:
            return None
        return Trip(name, str(result), f"{self._guardrails[name].run} reported {result}")

    async def _classify(self, name: str, guardrail: Guardrail, text: str) -> Trip | None:
        classifier = guardrail.classify
        assert classifier is not None
        if self._responses is None:
            log.warning("guardrail %s: no Responses API client; not checking", name)
            return None
        try:
            if classifier.via == "decisions":
                category, rationale = await self._decide(name, guardrail, text)
            else:
                response = await self._responses.create(**classify_request(name, guardrail, text))
                answer = json.loads(response.output_text)
                category, rationale = answer["category"], str(answer.get("rationale", ""))
        except Exception as exc:  # the API, the network or the answer: a failed check must not stop the reply
            log.warning("guardrail %s: the classifier failed (%s: %s); not tripping", name, type(exc).__name__, exc)
            return None
        if category == NONE:
            return None
        if category not in classifier.categories:
            log.warning("guardrail %s: the classifier answered an unknown category %r; not tripping", name, category)
            return None
        return Trip(name, category, rationale)

    async def _decide(self, name: str, guardrail: Guardrail, text: str) -> tuple[str, str]:
        """One choice question to the Decisions endpoint: the category, unless its confidence is too low."""
        assert self._responses is not None and guardrail.classify is not None
        decision = await self._responses.decide(**decision_request(name, guardrail, text))
        answer = decision.answers[0]
        if answer.type != "choice":
            return NONE, f"the Decisions model answered {answer.type}"
        rationale = f"{answer.choice} with confidence {answer.confidence:.2f} (Decisions endpoint)"
        if answer.confidence < guardrail.classify.threshold:
            return NONE, rationale
        return str(answer.choice), rationale


def decision_request(name: str, guardrail: Guardrail, text: str) -> dict[str, Any]:
    """The Decisions API request that classifies `text` for a `classify: {via: decisions}` guardrail."""
    classifier = guardrail.classify
    assert classifier is not None
    choices = [{"value": c, "description": d} for c, d in classifier.categories.items()]
    instructions = (
        classifier.instructions.strip() + "\n\n" if classifier.instructions else ""
    ) + "The input is a reply a voice agent is speaking. Which category does it fall in?"
    question = {
        "type": "choice",
        "name": name,
        "instructions": instructions,
        "choices": [*choices, {"value": NONE, "description": "none of the above"}],
    }
    return {"model": classifier.model, "input": text, "questions": [question]}


def classify_request(name: str, guardrail: Guardrail, text: str) -> dict[str, Any]:
    """The Responses API request that classifies `text` for a `classify` guardrail."""
    classifier = guardrail.classify
    assert classifier is not None
    categories = [*classifier.categories, NONE]
    listing = "\n".join(f"- {c}: {d}" for c, d in classifier.categories.items())
    instructions = (
        (classifier.instructions.strip() + "\n\n" if classifier.instructions else "")
        + "Classify the text in the user message, a reply a voice agent is speaking, into exactly one category:\n"
        + f"{listing}\n- {NONE}: none of the above.\n"
        + "Give a one-sentence rationale."
    )
    schema = {
        "type": "object",
        "properties": {"category": {"type": "string", "enum": categories}, "rationale": {"type": "string"}},
        "required": ["category", "rationale"],
        "additionalProperties": False,
    }
    return {
        "model": classifier.model,
        "instructions": instructions,
        "input": [{"role": "user", "content": text}],
        "text": {
            "format": {"type": "json_schema", "name": "guardrail_classification", "schema": schema, "strict": True}
        },
        "metadata": {"engine_kind": "guardrail", "guardrail": name},
    }


def _keyword_pattern(keywords: list[str]) -> tuple[re.Pattern[str], dict[str, str]]:
    # Lookarounds instead of \b so keywords that start or end with punctuation ("c++") still match whole.
    ordered = sorted(keywords, key=len, reverse=True)  # the longest alternative wins
    alternatives = "|".join(re.escape(k) for k in ordered)
    spelled = {k.casefold(): k for k in keywords}
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE), spelled
