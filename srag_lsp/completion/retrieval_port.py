"""What the completion engine asks of retrieval: the port that ``retrieval.provider.WorkspaceRetrieval`` fills.

The engine depends on this protocol, not on the retriever, so tests can script retrieval and the engine's
module never imports retrieval's machinery (only its data types).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from srag_lsp.completion.request import CompletionRequest
from srag_lsp.retrieval.types import ContextChunk, CursorQuery, RetrievalUpdate


def cursor_query(request: CompletionRequest) -> CursorQuery:
    """What retrieval is asked about a request: the buffer and the cursor."""
    return CursorQuery(path=request.path, text=request.text, line=request.line, col=request.col,
                       language=request.language)


class RetrievalProvider(Protocol):
    """Chunks for a cursor: at once from a cache, streamed as sources land, and definitions by name."""

    def cached(self, query: CursorQuery) -> Sequence[ContextChunk] | None:
        """The cached chunks for this place, or None (no search is run)."""
        ...

    def stream(self, query: CursorQuery, *, deadline_ms: int, budget_tokens: int
               ) -> AsyncIterator[RetrievalUpdate]:
        """One update each time a source lands, until every source has landed or the deadline passed."""
        ...

    async def lookup_names(self, names: list[str]) -> dict[str, list[ContextChunk]]:
        """The definitions of ``names`` that the workspace holds (a name with none maps to [])."""
        ...
