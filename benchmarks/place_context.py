"""Which chunks a place's context-aware prompt holds as the user types a name: the engine's own pinning, measured.

Issue 19's target "the defining chunk is in the prompt once 2 characters of the name are typed". For each
cross-file case of ``retrieval_cases`` (a use of a name that another module of the package defines), the user
arrives at the case's line (at its indentation: the place opens there, and its context is pinned and then frozen)
and types the line up to the name and then its first two characters. Every key is a request to the real engine
(its pinboard, its retrieval policy, ``Run.pin_typed_name``) over the real retriever on the real index, with the
buffer as the daemon keeps it (each key's text is given to the workspace's retrieval, as a didChange is).

The model is a **silent fake** (``SilentModel``: it writes nothing, at once). The figure is which chunks the
context-aware prompt holds (what the refinement and the next requests at the place are given), not the model's
words. With the real model the retrieval that waits for the draft's first text at a pinned place runs later in
each key; this measure lets every key's retrieval finish, as ``eval_retrieval`` lets its background look-ups land.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.retrieval_cases import Case, answer_rank
from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.languages import language_for
from srag_lsp.completion.prompting import Generator
from srag_lsp.completion.request import CompletionRequest
from srag_lsp.models.base import BackendInfo, FimParts, GenerationRequest, GenerationStats
from srag_lsp.retrieval.provider import WorkspaceRetrieval
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer

TYPED_INTO_NAME = 2  # the "once 2 characters of the name are typed"


class SilentModel:
    """A fake model for measuring context only: no text, no cache, no scores, at once."""

    info = BackendInfo(backend="silent", model="none", fim=True)

    def __init__(self) -> None:
        self.warnings: list[str] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        for piece in ():
            yield piece

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None) -> int:
        return 0

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        return None

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        return 0.0


@dataclass(slots=True)
class PlaceResult:
    at_line_start: bool  # the defining chunk is pinned once the place opened (the first key at the line's start)
    at_two_chars: bool  # ... once the line is typed up to the name and two of its characters
    pinned: int  # chunks pinned at the end


def keys_for(case: Case) -> tuple[str, str, list[str]]:
    """(the buffer before the case's line, its indentation, the texts typed after it: "" first, the arrival)."""
    head, newline, line = case.text.rpartition("\n")
    before = head + newline
    indent = line[: len(line) - len(line.lstrip())]
    target = line[len(indent):] + case.name[:TYPED_INTO_NAME]
    return before, indent, [target[:k] for k in range(len(target) + 1)]


async def place_context(workspace: Path, index_dir: Path, cases: list[Case],
                        settings: Settings | None = None) -> list[PlaceResult]:
    """Type each case's line as above through the engine; where the defining chunk was pinned on the way."""
    settings = replace(settings or Settings(), trace=False)
    retrieval = WorkspaceRetrieval(settings, workspace, index_dir)
    model = SilentModel()
    generator = Generator(model, "qwen")  # type: ignore[arg-type]
    engine = CompletionEngine(generator, generator, settings, Tracer(None), retrieval, repo_name=workspace.name)
    results: list[PlaceResult] = []
    version = 0
    try:
        for case in cases:
            uri = (workspace / case.file).as_uri()
            engine.forget(uri)  # every case is a new place
            before, indent, typed = keys_for(case)
            line = before.count("\n")
            at_start = False
            for k, part in enumerate(typed):
                text = before + indent + part
                version += 1
                retrieval.buffer_changed(case.file, text)
                request = CompletionRequest(uri=uri, path=case.file, text=text, line=line, col=len(indent + part),
                                            version=version, language=language_for(case.file))
                await engine.run(request, lambda s: None)
                retrieval.retriever.settle()
                if k == 0:
                    at_start = answer_rank(engine.pinboard.pinned(uri), case.answer) is not None
            pinned = engine.pinboard.pinned(uri)
            results.append(PlaceResult(at_start, answer_rank(pinned, case.answer) is not None, len(pinned)))
            retrieval.buffer_closed(case.file)
    finally:
        retrieval.close()
    return results


def summary(results: list[PlaceResult]) -> dict[str, float]:
    n = max(1, len(results))
    return {"cases": len(results), "at_line_start": round(sum(r.at_line_start for r in results) / n, 3),
            "at_two_chars": round(sum(r.at_two_chars for r in results) / n, 3),
            "pinned_mean": round(sum(r.pinned for r in results) / n, 2)}


def run(workspace: Path, index_dir: Path, cases: list[Case]) -> dict[str, float]:
    return summary(asyncio.run(place_context(workspace, index_dir, cases)))
