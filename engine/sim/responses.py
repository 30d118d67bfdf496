"""The scripted text model behind `POST /v1/responses` (Responses API).

The engine tags each request with `metadata.engine_kind`:

- `escalation` (with `metadata.tool`): a supervisor text model. When the realtime script plays a
  `call` action with a `supervisor:` list, its steps are queued under the tool's name; each
  request for that tool consumes one step. A `{call, args}` step answers with one `function_call`
  output item (the request must offer that function, and the next request must carry its
  `function_call_output`); an `{answer}` step answers with a message whose text is the answer
  (dicts as JSON; with a `json_schema` text format the answer must be a dict valid for the schema).
- `guardrail`: a classifier. The text classified is the last user message of the input; the
  category is the `flag` of the first scripted `say` whose text contains it (or that it contains),
  else `NONE`; the answer is `{"category": ..., "rationale": ...}` as JSON text.

Everything else, and every step the script cannot back, is an HTTP 400 with the API's error body.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from typing import Any

import jsonschema

from engine.spec.script import Say, SupervisorAnswer, SupervisorCall

from .cursor import ScriptError
from .ids import IdFactory

SupervisorStep = SupervisorCall | SupervisorAnswer


class BadRequest(Exception):
    """An HTTP 400 answer, shaped like the API's error body."""

    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        error = {"message": str(self), "type": "invalid_request_error", "param": self.param, "code": self.code}
        return {"error": error}


def _input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise BadRequest("Invalid type for 'input': expected a string or an array of items.", "invalid_type", "input")
    return value


def _message_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _last_user_text(items: list[dict[str, Any]]) -> str | None:
    users = [i for i in items if i.get("role") == "user" and i.get("type", "message") == "message"]
    return _message_text(users[-1]) if users else None


def _json_schema_format(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = (body.get("text") or {}).get("format") or {}
    return fmt if fmt.get("type") == "json_schema" else None


def _check_against_schema(value: Any, schema: dict[str, Any], what: str) -> None:
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise BadRequest(f"{what} does not match the request's json_schema at {where}: {errors[0].message}")


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


class ResponsesModel:
    """Answers Responses API bodies from the script; shares ids and script errors with the simulator."""

    def __init__(self, ids: IdFactory, says: list[Say], script_errors: list[ScriptError]) -> None:
        self._ids = ids
        self._says = says
        self._script_errors = script_errors
        self._queues: dict[str, deque[SupervisorStep]] = {}
        self._pending_call: dict[str, str] = {}  # tool -> call_id whose output the next request must carry

    def queue(self, tool: str, steps: list[SupervisorStep]) -> None:
        self._queues.setdefault(tool, deque()).extend(steps)

    def pending(self, tool: str) -> list[SupervisorStep]:
        return list(self._queues.get(tool, ()))

    def answer(self, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request."""
        try:
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object.", "invalid_type")
            if not body.get("model"):
                raise BadRequest("Missing required parameter: 'model'.", "missing_required_parameter", "model")
            items = _input_items(body)
            _check_call_outputs(items)
            metadata = body.get("metadata") or {}
            kind = metadata.get("engine_kind")
            if kind == "escalation":
                output = self._escalation(body, items, metadata.get("tool"))
            elif kind == "guardrail":
                output = self._guardrail(body, items, metadata.get("guardrail"))
            else:
                raise BadRequest(
                    "The simulator answers only requests tagged with metadata.engine_kind "
                    f"'escalation' or 'guardrail' (got {kind!r}).",
                    "invalid_value",
                    "metadata.engine_kind",
                )
        except BadRequest as exc:
            return 400, exc.body()
        return 200, self._response(body, items, output)

    def _fail(self, code: str, message: str, tool: str | None = None) -> BadRequest:
        self._script_errors.append(ScriptError(code, message, tool))
        return BadRequest(message, code)

    def _escalation(self, body: dict[str, Any], items: list[dict[str, Any]], tool: Any) -> list[dict[str, Any]]:
        if not isinstance(tool, str) or not tool:
            msg = "An escalation request needs metadata.tool."
            raise BadRequest(msg, "missing_required_parameter", "metadata.tool")
        pending = self._pending_call.get(tool)
        if pending is not None and not any(
            i.get("type") == "function_call_output" and i.get("call_id") == pending for i in items
        ):
            raise BadRequest(f"No tool output found for function call {pending}.", "invalid_value", "input")
        queue = self._queues.get(tool)
        if not queue:
            raise self._fail(
                "no_supervisor_step",
                f"The script has no supervisor step left for tool '{tool}' (add a `supervisor:` list to its call).",
                tool,
            )
        step = queue[0]
        if isinstance(step, SupervisorCall):
            offered = [t.get("name") for t in body.get("tools") or [] if t.get("type") == "function"]
            if step.call not in offered:
                raise self._fail(
                    "supervisor_tool_not_offered",
                    f"The scripted supervisor calls '{step.call}', which the request does not offer "
                    f"(tools: {offered}).",
                    tool,
                )
            queue.popleft()
            call_id = self._ids.new("call")
            self._pending_call[tool] = call_id
            arguments = json.dumps(step.args, ensure_ascii=False, separators=(",", ":"))
            return [
                {
                    "id": self._ids.new("fc"),
                    "type": "function_call",
                    "status": "completed",
                    "name": step.call,
                    "arguments": arguments,
                    "call_id": call_id,
                }
            ]
        answer = step.answer
        fmt = _json_schema_format(body)
        if fmt is not None:
            if not isinstance(answer, dict):
                raise self._fail(
                    "supervisor_answer_invalid",
                    f"The request asks for json_schema '{fmt.get('name')}' but the scripted answer is text.",
                    tool,
                )
            try:
                _check_against_schema(answer, fmt.get("schema") or {}, "The scripted supervisor answer")
            except BadRequest as exc:
                raise self._fail("supervisor_answer_invalid", str(exc), tool) from None
        queue.popleft()
        self._pending_call.pop(tool, None)
        text = json.dumps(answer, ensure_ascii=False) if isinstance(answer, dict) else answer
        return [self._message(text)]

    def _flag(self, text: str) -> str | None:
        """The `flag` of the first scripted `say` whose text contains `text` (or that it contains)."""
        needle = _normalize(text)
        if needle:
            for say in self._says:
                hay = _normalize(say.say)
                if say.flag and (needle in hay or (hay and hay in needle)):
                    return say.flag
        return None

    def decide(self, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a Decisions request: each choice question answered from the script's
        flags (the flag of the text, with confidence 0.97, else NONE), checked against openai's `Decision`."""
        from openai.types import Decision

        try:
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object.", "invalid_type")
            for key in ("model", "input", "questions"):
                if not body.get(key):
                    raise BadRequest(f"Missing required parameter: '{key}'.", "missing_required_parameter", key)
            if body["model"] != "gpt-6-luna":
                raise BadRequest("Only `gpt-6-luna` is supported.", "invalid_value", "model")
            text = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
            flag = self._flag(text)
            answers = []
            for question in body["questions"]:
                values = [c.get("value") for c in question.get("choices") or ()]
                if question.get("type") != "choice" or len(values) < 2:
                    answers.append({"type": "refusal", "name": question.get("name")})
                    continue
                choice = flag if flag in values else "NONE" if "NONE" in values else values[-1]
                rest = (1 - 0.97) / (len(values) - 1)
                probabilities = [{"value": v, "probability": 0.97 if v == choice else rest} for v in values]
                answers.append(
                    {
                        "type": "choice",
                        "name": question.get("name"),
                        "choice": choice,
                        "confidence": 0.97,
                        "probabilities": probabilities,
                    }
                )
        except BadRequest as exc:
            return 400, exc.body()
        details = {"input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0}}
        usage = {"input_tokens": len(text) // 4 + 1, "output_tokens": len(answers), **details}
        usage |= {
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input_tokens"] + len(answers),
        }
        decision = {"answers": answers, "model": body["model"], "usage": usage}
        Decision.model_validate(decision)
        return 200, decision

    def _guardrail(self, body: dict[str, Any], items: list[dict[str, Any]], name: Any) -> list[dict[str, Any]]:
        text = _last_user_text(items)
        if text is None:
            raise BadRequest("A guardrail request needs a user message holding the text to classify.", "invalid_value")
        flag = self._flag(text)
        category = flag or "NONE"
        rationale = f"The script flags this text as {flag}." if flag else "No scripted flag matches this text."
        result = {"category": category, "rationale": rationale}
        fmt = _json_schema_format(body)
        if fmt is not None:
            try:
                _check_against_schema(result, fmt.get("schema") or {}, f"The classification for guardrail {name!r}")
            except BadRequest as exc:
                raise self._fail("guardrail_flag_invalid", str(exc)) from None
        return [self._message(json.dumps(result))]

    def _message(self, text: str) -> dict[str, Any]:
        return {
            "id": self._ids.new("msg"),
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }

    def _response(self, body: dict[str, Any], items: list[dict[str, Any]], output: list[dict[str, Any]]) -> dict:
        now = int(time.time())
        in_chars = len(json.dumps(items)) + len(body.get("instructions") or "")
        out_chars = len(json.dumps(output))
        input_tokens, output_tokens = max(1, in_chars // 4), max(1, out_chars // 4)
        return {
            "id": self._ids.new("resp"),
            "object": "response",
            "created_at": now,
            "completed_at": now,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"],
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": body.get("reasoning"),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
            "metadata": body.get("metadata") or {},
        }


def _check_call_outputs(items: list[dict[str, Any]]) -> None:
    """The API refuses an input whose function calls lack their outputs."""
    outputs = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    for item in items:
        if item.get("type") == "function_call" and item.get("call_id") not in outputs:
            raise BadRequest(f"No tool output found for function call {item.get('call_id')}.", "invalid_value", "input")
