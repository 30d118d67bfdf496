"""The tools of the benchmark graph, the same as the Agents SDK client's: they answer at once.

`lookup` is a coroutine function, as a tool doing I/O is in an asyncio application; `lookup_sync`
is a plain function, which the engine (like the SDK) runs in a worker thread.
"""

from __future__ import annotations


async def lookup(query: str) -> dict[str, str]:
    return {"query": query, "status": "shipped"}


def lookup_sync(query: str) -> dict[str, str]:
    return {"query": query, "status": "shipped"}
