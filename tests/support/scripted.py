"""A scripted model backend and retrieval for engine tests: fakes, driven by the test, with no model at all.

The engine's decisions (draft, refine, keep, drop, cancel) are logic; a real 0.5B model's words change with the
CPU and build flags, so the state machine is tested against text the test scripts. The real model is kept for
what any build must do (tests/srag_lsp/models).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from srag_lsp.models.base import BackendInfo, FimParts, GenerationRequest, GenerationStats


@dataclass(slots=True)
class FakeChunk:
    id: str
    path: str
    text: str
    symbol: str
    source: str = "symbol"


@dataclass(slots=True)
class FakeUpdate:
    source: str
    ms: float
    chunks: list[FakeChunk]


class ScriptedBackend:
    """Yields the pieces ``script(prompt)`` returns. With ``stepping``, each piece waits for ``step()``."""

    def __init__(self, script: Callable[[str], list[str]], *, backend: str = "embedded",
                 model: str = "qwen2.5-coder-0.5b", stepping: bool = False) -> None:
        self.info = BackendInfo(backend=backend, model=model, fim=True)
        self.script = script
        self.warnings: list[str] = []
        self.prompts: list[str] = []
        self.requests: list[GenerationRequest] = []
        self.share: float | None = 0.0  # what cached_share answers (the KV cache a test pretends to have)
        self.evaluated_share = 1.0  # the share of each prompt the stats say was evaluated (1.0: a cold cache)
        self.cancelled = 0
        self.prefilled: list[str] = []
        self._steps: asyncio.Semaphore | None = asyncio.Semaphore(0) if stepping else None

    def step(self, n: int = 1) -> None:
        assert self._steps is not None
        for _ in range(n):
            self._steps.release()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        return self.share

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        self.prefilled.append(prompt)
        return len(prompt) // 4

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        return None  # cannot score (``ScoringBackend`` in the engine tests can)

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        stats = stats if stats is not None else GenerationStats()
        self.prompts.append(request.prompt)
        self.requests.append(request)
        stats.prompt_tokens = max(1, len(request.prompt) // 4)
        stats.prompt_evaluated = max(1, int(stats.prompt_tokens * self.evaluated_share))
        finished = False
        try:
            for piece in self.script(request.prompt)[: request.max_tokens]:
                if self._steps is not None:
                    await self._steps.acquire()
                else:
                    await asyncio.sleep(0)
                stats.generated_tokens += 1
                yield piece
            finished = True
            stats.finish_reason = "stop"
        finally:
            if not finished:
                stats.finish_reason = "cancelled"
                self.cancelled += 1


@dataclass
class ScriptedContext:
    """Retrieval that lands when the test opens ``gate`` (open by default), then yields ``updates``."""

    updates: list[FakeUpdate] = field(default_factory=list)
    cached_chunks: list[FakeChunk] | None = None
    names: dict[str, list[FakeChunk]] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    streamed: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    def cached(self, request: object) -> list[FakeChunk] | None:
        return self.cached_chunks

    async def stream(self, request: object, *, deadline_ms: int, budget_tokens: int) -> AsyncIterator[FakeUpdate]:
        self.streamed += 1
        await self.gate.wait()
        for update in self.updates:
            yield update

    async def lookup_names(self, names: list[str]) -> dict[str, list[FakeChunk]]:
        return {n: self.names.get(n, []) for n in names}
