"""The wire protocols of OpenAI's voice APIs, as the installed `openai` package defines them.

A leaf: it imports nothing from the engine, so every layer (compile, runtime, the simulator) may use
it. `openai_check` checks payloads strictly against the package's types; `lifecycle` knows which
models the package lists, and which of them are shutting down or shut down.
"""

__all__: list[str] = []  # use the modules: engine.protocol.openai_check, engine.protocol.lifecycle
