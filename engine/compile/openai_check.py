"""Compile's view of the strict payload checker (`engine.protocol.openai_check`), kept for callers."""

from engine.protocol.openai_check import check_payload

__all__ = ["check_payload"]
