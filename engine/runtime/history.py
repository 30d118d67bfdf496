"""The conversation as the engine saw it: messages, transcripts, tool calls and their outputs.

Items are plain dicts in the shape tools read (`engine.tools.ToolContext.history`), kept in
order with an index by item id, so every update is O(1) however long the conversation is.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

#: The roles a conversation message can have (what a restore may send back).
ROLES = ("user", "assistant", "system")


class History:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._by_call: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_id.get(item_id)

    def add_message(self, item_id: str, role: str, text: str = "") -> dict[str, Any]:
        """The message `item_id` (added when new). One the API could not take back in a restore (an
        id or role of the wrong kind) is returned but never kept."""
        if not isinstance(item_id, str) or role not in ROLES or not isinstance(text, str):
            return {"id": item_id, "type": "message", "role": role, "text": ""}
        item = self._by_id.get(item_id)
        if item is None:
            item = {"id": item_id, "type": "message", "role": role, "text": text}
            self._append(item)
        elif text and not item["text"]:
            item["text"] = text
        return item

    def add_call(self, item_id: str, name: str, call_id: str, arguments: str) -> dict[str, Any]:
        """The function call `item_id` (added when new; one with ids of the wrong kind is not kept)."""
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments) if isinstance(arguments, dict) else "{}"
        if not all(isinstance(v, str) for v in (item_id, name, call_id)):
            return {"id": item_id, "type": "function_call", "name": name, "call_id": call_id, "output": None}
        item = self._by_id.get(item_id)
        if item is None:
            item = {"id": item_id, "type": "function_call", "name": name, "call_id": call_id}
            item.update(arguments=arguments, output=None)
            self._append(item)
            self._by_call[call_id] = item
        else:
            item.update(name=name, call_id=call_id, arguments=arguments)
            self._by_call[call_id] = item
        return item

    def set_output(self, call_id: str, output: str) -> None:
        item = self._by_call.get(call_id)
        if item is not None:
            item["output"] = output

    def append_text(self, item_id: str, delta: str) -> dict[str, Any] | None:
        item = self._by_id.get(item_id)
        if item is not None and not item.get("truncated"):  # text after a cut was never heard
            item["text"] += delta
        return item

    def set_text(self, item_id: str, text: str, role: str = "assistant") -> None:
        item = self._by_id.get(item_id) or self.add_message(item_id, role)
        if not item.get("truncated"):  # the full transcript of a cut reply was never heard
            item["text"] = text

    def truncate(self, item_id: str, heard: float) -> None:
        """Keep the part of a message's text the user heard (`heard`: the fraction of its audio played),
        cut at a word boundary: what the model later reads, and restores, is what was actually said."""
        item = self._by_id.get(item_id)
        if item is None or item["type"] != "message" or item.get("truncated"):
            return
        text = item["text"]
        cut = text[: round(len(text) * max(0.0, min(heard, 1.0)))]
        if len(cut) < len(text):
            cut = cut[: cut.rfind(" ")] if " " in cut else ""
            item["text"] = cut + "…" if cut else ""
        item["truncated"] = True

    def remove(self, item_id: str) -> None:
        item = self._by_id.pop(item_id, None)
        if item is not None:
            self.items.remove(item)

    def _append(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        self._by_id[item["id"]] = item

    def restore_events(self, unanswered: Collection[str] = ()) -> list[dict[str, Any]]:
        """`conversation.item.create` events that rebuild this conversation in a new session.

        Items keep their ids, so the server's echo of them is recognised, not recorded twice. A call
        without an output is restored only when its call id is in `unanswered` (still being answered):
        others were cut off before they were complete, and nobody would ever answer them.
        """
        events: list[dict[str, Any]] = []
        for item in self.items:
            if item["type"] == "message" and item["text"]:
                kind = "output_text" if item["role"] == "assistant" else "input_text"
                content = [{"type": kind, "text": item["text"]}]
                events.append({"id": item["id"], "role": item["role"], "type": "message", "content": content})
            elif item["type"] == "function_call" and (item["output"] is not None or item["call_id"] in unanswered):
                call = {"id": item["id"], "type": "function_call", "call_id": item["call_id"], "name": item["name"]}
                events.append({**call, "arguments": item["arguments"]})
                if item["output"] is not None:
                    events.append(
                        {"type": "function_call_output", "call_id": item["call_id"], "output": item["output"]}
                    )
        return [{"type": "conversation.item.create", "item": e} for e in events]
