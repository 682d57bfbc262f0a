"""Where the completion service finds its engine: none until the models are up."""

from __future__ import annotations

from typing import Protocol

from srag_lsp.completion.engine import CompletionEngine


class EngineSource(Protocol):
    """Where the service finds the engine: none until the models are up (``runtime.Runtime`` in the daemon)."""

    @property
    def engine(self) -> CompletionEngine | None: ...

    async def models_ready(self) -> None:
        """Return once the models are up, or failed to come up."""
        ...


class FixedEngine:
    """An engine that is there from the start (headless use, tests)."""

    def __init__(self, engine: CompletionEngine) -> None:
        self.engine: CompletionEngine | None = engine

    async def models_ready(self) -> None:
        return None
