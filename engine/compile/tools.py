"""The `tools` list of an agent's session: function tools, handoff tools, hosted MCP servers.

Order is fixed: the agent's function tools in declaration order, then one handoff tool per
handoff target, then hosted MCP tools, then (enforced states only) the transition tool.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from engine.spec import Document, Handoff, McpServer, Tool, did_you_mean, handoff_tool_name
from engine.spec.script import TRANSITION_TOOL

from .common import CompileError, get_agent, plain, resolve_state

#: Handoff tools take no arguments: the target is in the tool's name.
HANDOFF_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}

_TRANSITION_DESCRIPTION = (
    "Move the conversation to its next state. Call it as soon as the condition of one of the "
    "current state's transitions holds; `to` is that transition's target."
)


def compile_tools(doc: Document, agent_id: str, *, state: str | None = None) -> list[dict[str, Any]]:
    """The session `tools` of an agent, or of one of its enforced states (default: the initial one)."""
    agent = get_agent(doc, agent_id)
    state = resolve_state(doc, agent_id, state)
    step = agent.states.steps[state] if agent.states is not None and state is not None else None
    names = step.tools if step is not None else agent.tools
    tools = [(name, _tool(doc, name)) for name in names]

    out = [function_tool(name, tool) for name, tool in tools if tool.mcp is None]
    out += [handoff_tool(doc, h) for h in _offered_handoffs(doc, agent_id, state)]
    out += [mcp_tool(tool.mcp) for _, tool in tools if tool.mcp is not None]
    if step is not None and step.transitions:
        out.append(transition_tool([t.to for t in step.transitions]))
    return out


def function_tool(name: str, tool: Tool) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": tool.description, "parameters": plain(tool.parameters)}


def handoff_description(doc: Document, handoff: Handoff) -> str:
    """`Handoff to the <agent> agent to handle the request. <description>`."""
    target = get_agent(doc, handoff.agent)
    detail = handoff.description if handoff.description is not None else target.description
    return f"Handoff to the {handoff.agent} agent to handle the request. {detail}".rstrip()


def handoff_tool(doc: Document, handoff: Handoff) -> dict[str, Any]:
    return {
        "type": "function",
        "name": handoff_tool_name(handoff.agent),
        "description": handoff_description(doc, handoff),
        "parameters": plain(HANDOFF_PARAMETERS),
    }


def mcp_tool(server: McpServer) -> dict[str, Any]:
    """A hosted MCP tool. Headers read from the environment are left out: see `resolve_mcp_headers`."""
    out: dict[str, Any] = {"type": "mcp", "server_label": server.label, "server_url": server.url}
    if server.description is not None:
        out["server_description"] = server.description
    if server.allowed_tools is not None:
        out["allowed_tools"] = list(server.allowed_tools)
    out["require_approval"] = server.require_approval
    literal = {k: v for k, v in server.headers.items() if isinstance(v, str)}
    if literal:
        out["headers"] = literal
    return out


def transition_tool(targets: list[str]) -> dict[str, Any]:
    """The tool of an enforced state; `targets` are its transitions' `to` (states or `handoff:<agent>`)."""
    return {
        "type": "function",
        "name": TRANSITION_TOOL,
        "description": _TRANSITION_DESCRIPTION,
        "parameters": {
            "type": "object",
            "properties": {
                "to": {"type": "string", "enum": list(dict.fromkeys(targets))},
                "reason": {"type": "string", "description": "why the transition's condition holds, briefly"},
            },
            "required": ["to"],
            "additionalProperties": False,
        },
    }


def resolve_mcp_headers(server: McpServer, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every header of an MCP server, with `{env: NAME}` values read from `environ` (default: os.environ).

    The runtime calls this when it sends the session; compiled payloads never hold these secrets.
    """
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for key, value in server.headers.items():
        if isinstance(value, str):
            out[key] = value
        elif value.env in environ:
            out[key] = value.prefix + environ[value.env]
        else:
            raise CompileError(f"MCP server '{server.label}': header '{key}' needs environment variable '{value.env}'")
    return out


def apply_mcp_headers(event: dict[str, Any], doc: Document, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of a compiled `session.update` whose MCP tools carry their resolved headers."""
    servers = {t.mcp.label: t.mcp for t in doc.spec.tools.values() if t.mcp is not None}
    session = dict(event["session"])
    tools = []
    for tool in session.get("tools", []):
        server = servers.get(tool.get("server_label")) if tool.get("type") == "mcp" else None
        headers = resolve_mcp_headers(server, environ) if server is not None else {}
        tools.append({**tool, "headers": headers} if headers else tool)
    if "tools" in session:
        session["tools"] = tools
    return {**event, "session": session}


def _tool(doc: Document, name: str) -> Tool:
    try:
        return doc.spec.tools[name]
    except KeyError:
        raise CompileError(f"unknown tool '{name}'{did_you_mean(name, doc.spec.tools)}") from None


def _offered_handoffs(doc: Document, agent_id: str, state: str | None) -> list[Handoff]:
    """Handoff targets offered as tools.

    With enforced states, targets the state machine routes to (`handoff:<agent>` transitions) are
    reached through the transition tool, where the engine checks guards; offering their handoff tool
    too would bypass them. Targets the machine never mentions stay available in every state.
    """
    agent = get_agent(doc, agent_id)
    targets = agent.handoff_targets()
    if state is None or agent.states is None:
        return targets
    routed = {t.handoff for step in agent.states.steps.values() for t in step.transitions if t.handoff}
    return [h for h in targets if h.agent not in routed]
