"""GPT-Live (`/v1/live/sessions`): a graph running with the engine as the model's backend."""

from .session import OPENAI_LIVE_URL, LiveSession, TextInputUnsupported, UnsupportedOnLive, live_responses_base

__all__ = ["OPENAI_LIVE_URL", "LiveSession", "TextInputUnsupported", "UnsupportedOnLive", "live_responses_base"]
