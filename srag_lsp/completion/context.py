"""Adapts the retriever to what the completion engine asks of context: cached, streamed, name lookups.

It also keeps the texts of the open buffers (the `buffers` retrieval source searches them in memory), so
recently edited code is context even before the index has caught up with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from srag_lsp.completion.request import CompletionRequest
from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.types import ContextChunk, CursorContext, RetrievalUpdate
from srag_lsp.settings import Settings

MAX_BUFFERS = 32


class RetrieverContext:
    def __init__(self, retriever: Retriever, settings: Settings) -> None:
        self.retriever = retriever
        self.settings = settings
        self.buffers: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def cursor(request: CompletionRequest) -> CursorContext:
        return CursorContext(path=request.path, text=request.text, line=request.line, col=request.col,
                             language=request.language)

    def open_buffers(self) -> Mapping[str, str]:
        return dict(self.buffers)

    # ---- the engine's ContextProvider ---------------------------------------------------------------
    def cached(self, request: CompletionRequest) -> list[ContextChunk] | None:
        return self.retriever.cached(self.cursor(request), budget_tokens=self.settings.context_budget_tokens) or None

    async def stream(self, request: CompletionRequest, *, deadline_ms: int, budget_tokens: int
                     ) -> AsyncIterator[RetrievalUpdate]:
        async for update in self.retriever.stream(self.cursor(request), deadline_ms=deadline_ms,
                                                  budget_tokens=budget_tokens):
            yield update

    async def lookup_names(self, names: list[str]) -> dict[str, list[ContextChunk]]:
        return await self.retriever.lookup_names(names)

    # ---- freshness ---------------------------------------------------------------------------------------
    def invalidate(self, paths: list[str]) -> None:
        self.retriever.invalidate(paths or None)

    def warm(self) -> None:
        """Open the index and list the workspace in the background, so the first request does not pay for it."""
        self.retriever.warm()

    def buffer_changed(self, path: str, text: str) -> None:
        if len(text) > self.settings.max_file_bytes:
            # Too big to search on every keystroke (the index skips such files too): not a context source.
            self.buffer_closed(path)
            return
        if path not in self.buffers:
            # A newly opened document: parse it and prefetch its imports' definitions in the background.
            self.retriever.prepare_document(path, text)
        self.buffers[path] = text
        self.buffers.move_to_end(path)
        while len(self.buffers) > MAX_BUFFERS:
            self.buffers.popitem(last=False)

    def buffer_closed(self, path: str) -> None:
        self.buffers.pop(path, None)
        self.retriever.forget_document(path)

    def close(self) -> None:
        self.retriever.close()


def make_context_provider(settings: Settings, root: Path | None, index_dir: Path | None) -> RetrieverContext | None:
    """Retrieval over the index at ``index_dir`` (when there is one) plus the open buffers."""
    if root is None:
        return None
    holder: list[RetrieverContext] = []
    retriever = Retriever(root, index_dir=index_dir, buffers=lambda: holder[0].open_buffers() if holder else {},
                          visible_lines=(settings.prefix_lines, settings.suffix_lines))
    context = RetrieverContext(retriever, settings)
    holder.append(context)
    context.warm()
    return context
