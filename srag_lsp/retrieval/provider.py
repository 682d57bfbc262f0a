"""Retrieval for one workspace, as the completion engine and the runtime use it: the retriever plus open buffers.

It fills the engine's ``RetrievalProvider`` port (cached, streamed, name lookups) and keeps the texts of the open
buffers (the `buffers` source searches them in memory), so recently edited code is context even before the
index has caught up with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.types import ContextChunk, CursorQuery, RetrievalUpdate
from srag_lsp.settings import Settings

MAX_BUFFERS = 32
SharedChangeFn = Callable[[bool, "str | None"], None]  # the shared index answers (or not, and why); any thread


def shared_reader(settings: Settings, index_dir: Path, changed: SharedChangeFn | None) -> Any:
    """With ``sharedIndex``: a reader of the local overlay at ``index_dir`` over the shared index; else None (the
    retriever opens the local index itself). Opens nothing yet."""
    if not settings.shared_index:
        return None
    from indexer.layered_query import LayeredReader
    from indexer.object_store import ObjectStoreError, settings_options

    try:
        options = settings_options(settings.shared_index_options)
    except ObjectStoreError as exc:
        if changed is not None:
            changed(False, str(exc))
        options = {}
    return LayeredReader(str(index_dir), settings.shared_index, options, on_change=changed)


class WorkspaceRetrieval:
    """The retriever over the index at ``index_dir`` (when there is one) plus the open buffers."""

    def __init__(self, settings: Settings, root: Path, index_dir: Path | None, *,
                 shared_changed: SharedChangeFn | None = None) -> None:
        self.settings = settings
        self.buffers: OrderedDict[str, str] = OrderedDict()
        reader = shared_reader(settings, index_dir, shared_changed) if index_dir is not None else None
        self.retriever = Retriever(root, index_dir=index_dir, reader=reader, buffers=self.open_buffers,
                                   visible_lines=(settings.prefix_lines, settings.suffix_lines))

    def open_buffers(self) -> Mapping[str, str]:
        return dict(self.buffers)

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings

    # ---- the engine's RetrievalProvider -------------------------------------------------------------
    def cached(self, query: CursorQuery) -> list[ContextChunk] | None:
        return self.retriever.cached(query, budget_tokens=self.settings.context_budget_tokens) or None

    async def stream(self, query: CursorQuery, *, deadline_ms: int, budget_tokens: int
                     ) -> AsyncIterator[RetrievalUpdate]:
        async for update in self.retriever.stream(query, deadline_ms=deadline_ms, budget_tokens=budget_tokens):
            yield update

    async def lookup_names(self, names: list[str]) -> dict[str, list[ContextChunk]]:
        return await self.retriever.lookup_names(names)

    # ---- freshness ---------------------------------------------------------------------------------------
    def invalidate(self, paths: list[str]) -> None:
        """Files the index re-wrote ([]: all of them)."""
        self.retriever.invalidate(paths or None)

    def warm(self) -> None:
        """Open the index and list the workspace in the background, so the first request does not pay for it."""
        self.retriever.warm()

    def set_embedder(self, embedder: Any) -> None:
        """The query embedder of the vector source (embeddings on)."""
        self.retriever.set_embedder(embedder)

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


def open_workspace_retrieval(settings: Settings, root: Path | None, index_dir: Path | None, *,
                             shared_changed: SharedChangeFn | None = None) -> WorkspaceRetrieval | None:
    """Retrieval for ``root`` (None without a workspace), warming up in the background."""
    if root is None:
        return None
    retrieval = WorkspaceRetrieval(settings, root, index_dir, shared_changed=shared_changed)
    retrieval.warm()
    return retrieval
