"""The OpenAI Agents SDK (`openai-agents`, the `bench` extra) as a benchmark client.

The mirror of bench/graphs/bench.yaml: two realtime agents that hand off to each other and
share two function tools, run by `RealtimeRunner` against the bench server's URL.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from . import Clients


class AgentsSdkClient:
    def __init__(self, runner: Any) -> None:
        self._runner = runner
        self.audio_deltas = 0
        self.audio_bytes = 0
        self._ended = 0
        self._target = 0
        self._reached: asyncio.Future[None] | None = None
        self.session: Any = None
        self._consumer: asyncio.Task[None] | None = None

    async def open(self, url: str) -> None:
        self.session = await self._runner.run(model_config={"url": url, "headers": {"Authorization": "Bearer bench"}})
        await self.session.enter()
        self._consumer = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.session:
            kind = event.type
            if kind == "audio":  # the SDK has decoded the base64 already: bytes, as a player wants them
                self.audio_deltas += 1
                self.audio_bytes += len(event.audio.data)
            elif kind == "agent_end":  # one per response.done
                self._ended += 1
                if self._reached is not None and self._ended >= self._target and not self._reached.done():
                    self._reached.set_result(None)
            elif kind == "error":
                raise RuntimeError(f"Agents SDK error: {event.error}")

    async def turn(self, command: str, responses: int, timeout: float = 120.0) -> None:
        self._target = self._ended + responses
        self._reached = asyncio.get_running_loop().create_future()
        await self.session.send_message(command)
        done, _ = await asyncio.wait({self._reached, self._consumer}, timeout=timeout, return_when="FIRST_COMPLETED")
        if self._consumer in done:
            self._consumer.result()  # raises what ended the event stream
            raise RuntimeError("the Agents SDK session ended")
        if not done:
            raise TimeoutError(f"no {responses} responses within {timeout} s")

    async def close(self) -> None:
        await self.session.close()
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)


def prepare() -> Clients:
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # no trace export from a benchmark
    from agents import function_tool, set_tracing_disabled
    from agents.realtime import RealtimeAgent, RealtimeRunner

    set_tracing_disabled(True)

    @function_tool
    async def lookup(query: str) -> str:
        """Look an order up."""
        return json.dumps({"query": query, "status": "shipped"})

    @function_tool
    def lookup_sync(query: str) -> str:
        """Look an order up (the same, as a plain function)."""
        return json.dumps({"query": query, "status": "shipped"})

    agent_a = RealtimeAgent(
        name="agent_a",
        handoff_description="The first agent.",
        instructions="You are agent A. Look orders up with the lookup tool; hand off to agent B when asked.",
        tools=[lookup, lookup_sync],
    )
    agent_b = RealtimeAgent(
        name="agent_b",
        handoff_description="The second agent.",
        instructions="You are agent B. Look orders up with the lookup tool; hand off to agent A when asked.",
        tools=[lookup, lookup_sync],
        handoffs=[agent_a],
    )
    agent_a.handoffs = [agent_b]
    config = {"model_settings": {"voice": "sage"}, "tracing_disabled": True}
    # One runner per session: the runner holds one model (one websocket) instance.
    return Clients(lambda: AgentsSdkClient(RealtimeRunner(agent_a, config=config)))  # type: ignore[arg-type]
