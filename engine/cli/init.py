"""`engine init NAME`: a small working project in NAME/ to start from.

Two agents with a handoff, an enforced state machine, a python tool (that reads and sets the call's
context), a prompt file, a demo and conversation tests. As generated it passes
`engine validate --strict NAME/*.yaml` and `engine test NAME/*.yaml` (a test holds this).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE

GRAPH = """\
# yaml-language-server: $schema=graph.schema.json
# {name}: a front desk that identifies the caller, then hands order questions to the orders agent.
#   engine validate --strict {folder}/*.yaml    check everything, with file:line:col findings
#   engine run {folder}/graph.yaml              the demo below on the built-in simulator (live with OPENAI_API_KEY)
#   engine test {folder}/*.yaml                 the conversation tests in graph.tests.yaml
#   engine inspect {folder}/graph.yaml          agents, states, tools and handoffs at a glance
graph: {name}
description: A front desk that identifies the caller and hands order questions to the orders agent.
model: gpt-realtime-2.1

session:
  audio:
    input:
      transcription: {{model: gpt-transcribe}}
      turn_detection: {{type: semantic_vad}}
    output:
      voice: marin

context:
  company: {company}
  caller_name: ""

start: front_desk

agents:
  front_desk:
    description: Greets the caller, learns their name and routes order questions.
    instructions_file: prompts/front_desk.md.j2
    tools: [remember_name]
    handoffs: [orders]
    states:
      enforce: true
      initial: greeting
      steps:
        greeting:
          description: Open the call and ask for the caller's name.
          instructions:
            - Greet the caller, name {{{{ company }}}}, and ask for their first name.
          transitions:
            - {{to: identify, when: you have asked for the caller's name}}
        identify:
          description: Note the caller's name.
          instructions:
            - Call remember_name with the first name the caller gave, then ask how you can help.
          tools: [remember_name]
          transitions:
            - {{to: help, when: remember_name succeeded, guard: context.caller_name}}
        help:
          description: Find out what the caller needs.
          instructions:
            - Ask how you can help. For an order question, say you are connecting the caller with the orders desk.
          transitions:
            - {{to: "handoff:orders", when: the caller asks about an order}}

  orders:
    description: Looks up orders by their number.
    instructions: |
      You handle order questions for {{{{ company }}}}.
      {{% if caller_name %}}The caller is {{{{ caller_name }}}}.{{% endif %}}
      Ask for the order number, call look_up_order with it, and say what you found in one or two short
      sentences. For anything else, hand the caller back to the front desk.
    tools: [look_up_order]
    handoffs: [front_desk]

tools:
  remember_name:
    description: Remember the caller's first name for the rest of the call.
    parameters:
      type: object
      properties:
        first_name: {{type: string, description: The caller's first name.}}
      required: [first_name]
      additionalProperties: false
    run: desk_tools:remember_name

  look_up_order:
    description: Look up an order by its number.
    parameters:
      type: object
      properties:
        order_number: {{type: string, description: "The order number, like A1001.", pattern: "^[A-Z][0-9]{{4}}$"}}
      required: [order_number]
      additionalProperties: false
    run: desk_tools:look_up_order

demo:
  turns:
    - model:
        - say: Thanks for calling {company}! May I have your first name?
        - transition: identify
    - user: It's Sam.
      model:
        - call: remember_name
          args: {{first_name: Sam}}
        - transition: help
        - say: Thanks, Sam. How can I help you today?
    - user: Where is my order?
      model:
        - say: Let me connect you with our orders desk.
        - transition: "handoff:orders"
        - say: Hi Sam, this is the orders desk. What's the order number?
    - user: It's A1001.
      model:
        - call: look_up_order
          args: {{order_number: A1001}}
        - say: Order A1001 shipped yesterday and should arrive on Friday.
"""

PROMPT = """\
You are the front desk of {{ company }}'s phone line. Be warm and brief: one or two short, spoken
sentences per reply, no lists or markdown.
{% if caller_name %}The caller's name is {{ caller_name }}.{% endif %}
Follow the steps of the current state; move on with the transition tool only when its condition holds.
"""

TOOLS = '''\
"""Python tools of the graph: `run: desk_tools:<function>`.

A tool receives its arguments (valid for its `parameters` schema) as keyword arguments. A keyword-only
`context` parameter receives the call's live context: what it changes there is visible to later
templates, guards and tools. Return anything JSON can encode; raise `ToolError` for a failure the
model should hear about (its message is the tool's output).
"""

from __future__ import annotations

from typing import Any

from engine.tools import ToolError

ORDERS = {
    "A1001": {"status": "shipped", "arrives": "Friday"},
    "A1002": {"status": "being packed", "arrives": "next Tuesday"},
}


def remember_name(first_name: str, *, context: dict[str, Any]) -> dict[str, Any]:
    context["caller_name"] = first_name.strip().title()
    return {"remembered": context["caller_name"]}


def look_up_order(order_number: str) -> dict[str, Any]:
    order = ORDERS.get(order_number)
    if order is None:
        raise ToolError(f"there is no order {order_number}; ask the caller to check the number")
    return {"order_number": order_number, **order}
'''

TESTS = """\
# Conversation tests for graph.yaml: `engine test {folder}/*.yaml --coverage`. Offline, the simulator
# plays each turn's `model:` actions and the engine really runs the tools, states and handoffs.
tests:
  - name: the caller is identified and handed to the orders desk
    turns:
      - model:
          - say: Thanks for calling {company}! May I have your first name?
          - transition: identify
        expect: {{agent: front_desk, state: identify, says: first name}}
      - user: It's Sam.
        model:
          - call: remember_name
            args: {{first_name: sam}}
          - transition: help
          - say: Thanks, Sam. How can I help you today?
        expect:
          state: help
          context: {{caller_name: Sam}}
          tools: [{{name: remember_name, output: Sam, ok: true}}]
      - user: Where is my order A1001?
        model:
          - say: Let me connect you with our orders desk.
          - transition: "handoff:orders"
          - call: look_up_order
            args: {{order_number: A1001}}
          - say: Order A1001 shipped and should arrive on Friday.
        expect:
          agent: orders
          tools: [{{name: look_up_order, output: shipped, ok: true}}]

  - name: the front desk will not skip identifying the caller
    turns:
      - model:
          - say: Thanks for calling {company}! May I have your first name?
          - transition: identify
      - user: I'd rather not say. Where is my order?
        model:
          - transition: help
          - say: I need your first name first, please.
        expect: {{state: identify, refused: help}}

  - name: an unknown order number is a clear answer, not a crash
    agent: orders
    context: {{caller_name: Sam}}
    turns:
      - user: Order Z9999, please.
        model:
          - call: look_up_order
            args: {{order_number: Z9999}}
          - say: I can't find order Z9999. Could you check the number?
        expect:
          agent: orders
          tools: [{{name: look_up_order, output: there is no order Z9999, ok: false}}]
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", type=Path, metavar="NAME", help="the folder to create (it must not exist or be empty)")


def main(args: argparse.Namespace) -> int:
    folder: Path = args.name
    name = re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-")[:64] or "my-graph"
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        print(f"engine: {folder} already exists and is not an empty folder; choose another NAME", file=sys.stderr)
        return EXIT_USAGE
    from ..spec.schema import graph_json_schema_text

    company = " ".join(word.capitalize() for word in name.split("-")) + " Co."
    shown = folder.as_posix()
    files = {
        "graph.yaml": GRAPH.format(name=name, company=company, folder=shown),
        "graph.tests.yaml": TESTS.format(company=company, folder=shown),
        "desk_tools.py": TOOLS,
        "prompts/front_desk.md.j2": PROMPT,
        "graph.schema.json": graph_json_schema_text(),  # editors complete and check graph.yaml with it
    }
    try:
        for relative, text in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"engine: cannot create {folder}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"Created {shown}/: a graph, its prompt, a python tool module, conversation tests and the schema. Next:")
    print(f"  engine validate --strict {shown}/*.yaml")
    print(f"  engine test {shown}/*.yaml")
    print(f"  engine run {shown}/graph.yaml")
    return EXIT_OK
