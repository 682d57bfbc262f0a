"""Completion quality with and without retrieval: the embedded model completes the rest of the cursor's line.

For a seeded subset of the retrieval evaluation's cases (the cursor at the start of a use of a name defined
in another module; the buffer is the file cut at the cursor), the default embedded model completes the
line twice through the daemon's own prompt templates and post-processing: once from local context only,
once with the chunks srag retrieved. The answer is the rest of the original line. Reported: exact match and
edit similarity (1 - Levenshtein / longer length), and how often the completion starts with the needed name.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

from benchmarks.retrieval_cases import Case
from srag_lsp.completion.edit_distance import edit_distance
from srag_lsp.completion.postprocess import decide_shape, finish
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.prompts import ContextSnippet, PromptParts, build_prompt
from srag_lsp.retrieval.types import ContextChunk
from srag_lsp.settings import Settings, default_model_dir

PREFIX_LINES = 40
MAX_TOKENS = 32

_backend: EmbeddedBackend | None = None


async def _model() -> EmbeddedBackend:
    global _backend
    if _backend is None:
        _backend = EmbeddedBackend(Settings().embedded_model, model_dir=default_model_dir(), slot="quality")
        await _backend.start()
    return _backend


def similarity(a: str, b: str) -> float:
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - edit_distance(a, b) / longest


async def _complete(backend: EmbeddedBackend, case: Case, chunks: list[ContextChunk]) -> str:
    prefix = "\n".join(case.text.split("\n")[-(PREFIX_LINES + 1):])
    parts = PromptParts(prefix=prefix, suffix="", path=case.file, language="python",
                        context=[ContextSnippet(c.path, c.text, c.symbol) for c in chunks])
    prompt = build_prompt("qwen", parts)
    raw = ""
    async for piece in backend.stream(GenerationRequest(prompt.text, max_tokens=MAX_TOKENS, stop=prompt.stop),
                                      GenerationStats()):
        raw += piece
        if "\n" in raw:
            break
    return finish(raw, decide_shape(prefix, ""), prompt.stop)


async def _evaluate(workspace: Path, cases: list[Case], retrieved: list[list[ContextChunk]]) -> dict[str, Any]:
    backend = await _model()
    rows = []
    for case, chunks in zip(cases, retrieved, strict=True):
        line = (workspace / case.file).read_text(encoding="utf-8").split("\n")[case.line - 1]
        truth = line[case.col - 1:].rstrip()
        without = await _complete(backend, case, [])
        with_context = await _complete(backend, case, chunks)
        rows.append({"file": case.file, "line": case.line, "name": case.name, "truth": truth,
                     "without": without, "with": with_context})

    def figures(key: str) -> dict[str, float]:
        return {
            "exact_match": statistics.fmean(r[key].strip() == r["truth"].strip() for r in rows),
            "edit_similarity": statistics.fmean(similarity(r[key].strip(), r["truth"].strip()) for r in rows),
            "name_first": statistics.fmean(r[key].strip().startswith(r["name"]) for r in rows),
        }

    return {"cases": len(rows), "without": figures("without"), "with": figures("with"), "rows": rows}


def completion_quality(workspace: Path, cases: list[Case], retrieved: list[list[ContextChunk]], n: int
                       ) -> dict[str, Any] | None:
    """Run the model part on the first ``n`` cases (already a seeded sample); None when n is 0."""
    if n <= 0 or not cases:
        return None
    return asyncio.run(_evaluate(workspace, cases[:n], retrieved[:n]))
