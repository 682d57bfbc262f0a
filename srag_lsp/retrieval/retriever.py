"""The retriever: analyse the cursor, run every source in threads under a deadline, fuse, budget, cache.

``stream()`` yields a :class:`RetrievalUpdate` each time a source lands (cached sources first, together),
with the fused and budgeted list so far; a source that misses its budget or the deadline is dropped, never
waited for. ``retrieve()`` is the same, collected. Index reads (LanceDB) and parsing run on a thread pool:
the event loop only schedules and fuses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srag_lsp.retrieval.budget import Tokenizer, fit_budget
from srag_lsp.retrieval.cache import RetrievalCache
from srag_lsp.retrieval.cursor import CursorAnalysis, CursorAnalyzer
from srag_lsp.retrieval.fusion import DEFAULT_WEIGHTS, VisibleRange, fuse
from srag_lsp.retrieval.sources import (
    DEFINITION_KINDS,
    BufferProvider,
    BufferSource,
    Embedder,
    FtsSource,
    ImportsSource,
    SharedSymbols,
    Source,
    SymbolSource,
    VectorSource,
    chunk_from_hit,
)
from srag_lsp.retrieval.types import ContextChunk, CursorQuery, RetrievalResult, RetrievalUpdate
from srag_lsp.retrieval.workspace_modules import WorkspaceModules

log = logging.getLogger(__name__)
RETRIEVAL_WORKERS = 6  # threads that run retrieval off the event loop (started as requests overlap)

DEFAULT_DEADLINE_MS = 150
DEFAULT_BUDGET_TOKENS = 600
K_PER_SOURCE = 12  # chunks each source returns
MAX_CHUNKS = 16  # chunks delivered at most, before the token budget
READER_RETRY_S = 2.0  # how long to wait before trying again to open an index that was missing


@dataclasses.dataclass(slots=True)
class _LastResult:
    start_line: int
    end_line: int
    chunks: list[ContextChunk]


class Retriever:
    """Symbol-aware retrieval for one workspace. Create once; call from the event loop."""

    def __init__(
        self,
        workspace: str | Path,
        *,
        reader: Any | None = None,
        index_dir: str | Path | None = None,
        buffers: BufferProvider | None = None,
        embed: Embedder | None = None,
        tokenizer: Tokenizer | None = None,
        weights: Mapping[str, float] | None = None,
        source_budget_ms: Mapping[str, float] | None = None,
        visible_lines: tuple[int, int] = (60, 20),
        k_per_source: int = K_PER_SOURCE,
        max_chunks: int = MAX_CHUNKS,
        cache: RetrievalCache | None = None,
        executor: Executor | None = None,
        sources: list[Source] | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.index_dir = str(index_dir) if index_dir is not None else None
        self._reader = reader
        self._reader_lock = threading.Lock()
        self._reader_failed_at = 0.0
        self.modules = WorkspaceModules(self.workspace)
        self.analyzer = CursorAnalyzer(self.modules)
        self.tokenizer = tokenizer
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.source_budget_ms = dict(source_budget_ms or {})
        self.visible_lines = visible_lines
        self.k_per_source = k_per_source
        self.max_chunks = max_chunks
        self.cache = cache or RetrievalCache()
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=RETRIEVAL_WORKERS,
                                                        thread_name_prefix="srag-retrieval")
        self.sources: list[Source] = (
            sources
            if sources is not None
            else [
                SymbolSource(self.reader),
                ImportsSource(self.reader),
                FtsSource(self.reader),
                BufferSource(buffers),
                VectorSource(self.reader, embed),
            ]
        )
        self._last: dict[tuple[str, str], _LastResult] = {}

    # -- the index -----------------------------------------------------------------------------------
    def reader(self) -> Any | None:
        """The index reader, opened on first use (blocking: call from a thread). None while there is no index."""
        if self._reader is not None or self.index_dir is None:
            return self._reader
        with self._reader_lock:
            if self._reader is None and time.monotonic() - self._reader_failed_at >= READER_RETRY_S:
                from indexer.query import IndexReader

                self._reader = IndexReader.open(self.index_dir)
                if self._reader is None:
                    self._reader_failed_at = time.monotonic()
            return self._reader

    def set_embedder(self, embed: Embedder | None) -> None:
        """Turn the vector source on (an embedder whose vectors the index has) or off (None)."""
        for source in self.sources:
            setter = getattr(source, "set_embedder", None)
            if callable(setter):
                setter(embed)
        self.invalidate(None)

    def set_reader(self, reader: Any | None) -> None:
        with self._reader_lock:
            self._reader = reader
        self.invalidate(None)

    def warm(self) -> Any:
        """Start, in the background, what the first request would otherwise wait for: the workspace's file
        list (import resolution) and the index handle. Returns a concurrent Future; nothing needs to wait."""

        def work() -> None:
            self.modules.paths()
            reader = self.reader()
            if reader is not None:
                reader.symbols(["__srag_warmup__"], 1)
                reader.text_search("warmup", 1)

        return self._executor.submit(work)

    def prepare_document(self, path: str, text: str, language: str | None = None) -> Any:
        """A document was opened: parse it and look up what its imports name, in the background, so that the
        first completion in it finds the tree and the import definitions ready. Returns a concurrent Future."""

        def work() -> None:
            analysis = self.analyzer.analyze(CursorQuery(path, text, 0, 0, language))
            for source in self.sources:
                prefetch = getattr(source, "prefetch", None)
                if callable(prefetch):
                    prefetch(analysis)

        return self._executor.submit(work)

    # -- analysis ------------------------------------------------------------------------------------
    def analyze_blocking(self, ctx: CursorQuery) -> CursorAnalysis:
        return self.analyzer.analyze(ctx)

    async def analyze(self, ctx: CursorQuery) -> CursorAnalysis:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.analyzer.analyze, ctx)

    # -- retrieval -----------------------------------------------------------------------------------
    async def stream(
        self,
        ctx: CursorQuery,
        *,
        deadline_ms: float = DEFAULT_DEADLINE_MS,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    ) -> AsyncIterator[RetrievalUpdate]:
        """Updates as sources land; the last one has ``final=True`` (and ``dropped`` when some were late)."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        deadline = started + deadline_ms / 1000.0

        def elapsed_ms() -> float:
            return round((time.perf_counter() - started) * 1000.0, 3)

        names = [s.name for s in self.sources]
        prepare = loop.run_in_executor(self._executor, self._prepare, ctx)
        try:
            analysis, available = await asyncio.wait_for(
                asyncio.shield(prepare), max(0.0, deadline - time.perf_counter())
            )
        except TimeoutError:
            log.info("retrieval for %s: cursor analysis missed the %.0f ms deadline", ctx.path, deadline_ms)
            yield RetrievalUpdate("deadline", elapsed_ms(), [], {}, final=True, dropped=names)
            return
        except Exception as exc:
            log.warning("retrieval for %s failed in cursor analysis: %s", ctx.path, exc)
            yield RetrievalUpdate("error", elapsed_ms(), [], {}, final=True, dropped=names)
            return

        visible = VisibleRange(
            ctx.path,
            analysis.cursor_line - self.visible_lines[0],
            analysis.cursor_line + self.visible_lines[1],
            analysis.cursor_line,
        )
        ranked: dict[str, list[ContextChunk]] = {}
        ms: dict[str, float] = {}
        dropped: list[str] = []
        reader = self._reader
        shared = SharedSymbols(reader) if reader is not None else None
        # This request's shared symbol query travels with its own copy of the analysis (the analysis may be cached).
        analysis = dataclasses.replace(analysis, lookup=shared)
        pending: dict[asyncio.Future[list[ContextChunk]], tuple[Source, float, Any]] = {}
        cached_sources: list[str] = []
        for source in available:
            key = source.cache_key(analysis)
            cache_key = self.cache.key(source.name, ctx.path, analysis.scope, key) if key is not None else None
            hit = self.cache.get(cache_key) if cache_key is not None else None
            if hit is not None:
                ranked[source.name] = hit
                ms[source.name] = elapsed_ms()
                cached_sources.append(source.name)
                continue
            plan = getattr(source, "plan", None)
            if shared is not None and callable(plan):
                plan(analysis, shared, self.k_per_source)
            budget = self.source_budget_ms.get(source.name)
            source_deadline = min(deadline, started + budget / 1000.0) if budget is not None else deadline
            future = loop.run_in_executor(self._executor, source.run, analysis, ctx, self.k_per_source)
            pending[future] = (source, source_deadline, cache_key)

        def update(source: str, source_ms: float, final: bool) -> RetrievalUpdate:
            chunks = self._fuse(ranked, visible, budget_tokens)
            if final:
                self._remember(ctx.path, analysis, ranked, visible)
            return RetrievalUpdate(
                source,
                source_ms,
                chunks,
                dict(ms),
                final=final,
                dropped=list(dropped) if final else [],
                cached=bool(cached_sources),
                analysis_ms=analysis.total_ms,
            )

        final_sent = False
        try:
            if cached_sources:
                final_sent = not pending
                yield update("cache", elapsed_ms(), final=final_sent)
            if not pending and not cached_sources:
                yield update("none", elapsed_ms(), final=True)
                return
            while pending:
                now = time.perf_counter()
                for future, (source, source_deadline, _) in list(pending.items()):
                    if now >= source_deadline:
                        future.cancel()  # not started yet: never runs; running: its result is ignored
                        del pending[future]
                        dropped.append(source.name)
                        log.debug("retrieval source %s dropped at the deadline (%.1f ms)", source.name, elapsed_ms())
                if not pending:
                    break
                wait_s = max(0.0, min(d for _, d, _ in pending.values()) - time.perf_counter())
                done, _ = await asyncio.wait(pending, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    source, _, cache_key = pending.pop(future)
                    try:
                        chunks = future.result()
                    except Exception as exc:
                        log.warning("retrieval source %s failed: %s", source.name, exc)
                        dropped.append(source.name)
                        continue
                    ranked[source.name] = chunks
                    ms[source.name] = elapsed_ms()
                    if cache_key is not None:
                        depends = [p for b in analysis.imports for p in b.paths]
                        self.cache.put(cache_key, chunks, depends)
                    final_sent = not pending
                    yield update(source.name, ms[source.name], final=final_sent)
            if not final_sent:  # the last sources were dropped (late or failed): say so in a final update
                yield update("deadline", elapsed_ms(), final=True)
        finally:
            for future in pending:
                future.cancel()

    async def retrieve(
        self,
        ctx: CursorQuery,
        *,
        deadline_ms: float = DEFAULT_DEADLINE_MS,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    ) -> RetrievalResult:
        """Everything that lands within the deadline, fused and budgeted, with each source's time."""
        started = time.perf_counter()
        last: RetrievalUpdate | None = None
        async for item in self.stream(ctx, deadline_ms=deadline_ms, budget_tokens=budget_tokens):
            last = item
        total = round((time.perf_counter() - started) * 1000.0, 3)
        if last is None:  # pragma: no cover - stream always yields a final update
            return RetrievalResult([], {}, [], total_ms=total)
        return RetrievalResult(
            last.chunks,
            last.ms_by_source,
            last.dropped,
            cached=last.cached,
            total_ms=total,
            analysis_ms=last.analysis_ms,
        )

    def cached(self, ctx: CursorQuery, *, budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> list[ContextChunk] | None:
        """The last result for the scope the cursor is in (no parsing, no index reads): for instant drafts."""
        line = ctx.line + 1
        best: _LastResult | None = None
        for (path, _scope), last in list(self._last.items()):
            if path != ctx.path or not (last.start_line <= line <= last.end_line):
                continue
            if best is None or last.end_line - last.start_line < best.end_line - best.start_line:
                best = last
        if best is None:
            return None
        return fit_budget(best.chunks, budget_tokens, tokenizer=self.tokenizer, max_chunks=self.max_chunks)

    # -- draft-guided lookups ------------------------------------------------------------------------
    def lookup_names_blocking(self, names: list[str], k: int = 3) -> dict[str, list[ContextChunk]]:
        """For each name: its exact definitions, or else definitions starting with it (blocking)."""
        reader = self.reader()
        out: dict[str, list[ContextChunk]] = {name: [] for name in names}
        wanted = [n for n in dict.fromkeys(names) if n]
        if reader is None or not wanted:
            return out
        for hit in reader.symbols(wanted, k=max(4 * k * len(wanted), 40)):
            for name in (hit.symbol, hit.qualified_name):
                if name in out and len(out[name]) < k and all(c.id != hit.id for c in out[name]):
                    out[name].append(chunk_from_hit(hit, "lookup"))
        for name in wanted:
            if out[name]:
                continue
            for hit in reader.symbol_prefix(name, k=4 * k):
                if hit.kind in DEFINITION_KINDS and len(out[name]) < k:
                    out[name].append(chunk_from_hit(hit, "lookup"))
        return out

    async def lookup_names(self, names: list[str], k: int = 3) -> dict[str, list[ContextChunk]]:
        """Whether identifiers a draft writes exist in the workspace: exact definitions, else by prefix."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.lookup_names_blocking, list(names), k)

    # -- freshness -----------------------------------------------------------------------------------
    def invalidate(self, paths: Iterable[str] | None = None) -> int:
        """The index re-indexed ``paths`` (None: everything): drop what depends on them. Returns entries dropped."""
        path_list = None if paths is None else list(paths)
        dropped = self.cache.invalidate(path_list)
        for source in self.sources:
            forget = getattr(source, "invalidate", None)
            if callable(forget):
                forget(path_list)
        self.modules.refresh(path_list)
        self.analyzer.clear_resolutions()
        if path_list is None:
            self._last.clear()
        else:
            changed = set(path_list)
            for key, last in list(self._last.items()):
                if key[0] in changed or any(c.path in changed for c in last.chunks):
                    self._last.pop(key, None)
        return dropped

    def settle(self, timeout_s: float = 10.0) -> bool:
        """Wait (blocking) until the sources' background lookups are done: for tests and benchmarks that
        want the state the next keystroke would see. True when nothing is left."""
        done = True
        for source in self.sources:
            drain = getattr(source, "drain", None)
            if callable(drain):
                done = drain(timeout_s) and done
        return done

    def forget_document(self, path: str) -> None:
        """The editor closed ``path``: release its syntax tree."""
        self.analyzer.forget(path)

    def close(self) -> None:
        for source in self.sources:
            closer = getattr(source, "close", None)
            if callable(closer):
                closer()
        if self._own_executor and isinstance(self._executor, ThreadPoolExecutor):
            self._executor.shutdown(wait=False, cancel_futures=True)
        closer = getattr(self._reader, "close", None)
        if callable(closer):
            closer()

    # -- internals -----------------------------------------------------------------------------------
    def _prepare(self, ctx: CursorQuery) -> tuple[CursorAnalysis, list[Source]]:
        analysis = self.analyzer.analyze(ctx)
        available = []
        for source in self.sources:
            try:
                if source.available():
                    available.append(source)
            except Exception as exc:
                log.warning("retrieval source %s unavailable: %s", source.name, exc)
        return analysis, available

    def _fuse(
        self, ranked: dict[str, list[ContextChunk]], visible: VisibleRange, budget_tokens: int
    ) -> list[ContextChunk]:
        fused = fuse(ranked, weights=self.weights, visible=visible, limit=self.max_chunks * 2)
        return fit_budget(fused, budget_tokens, tokenizer=self.tokenizer, max_chunks=self.max_chunks)

    def _remember(
        self, path: str, analysis: CursorAnalysis, ranked: dict[str, list[ContextChunk]], visible: VisibleRange
    ) -> None:
        scopes = analysis.scopes
        start, end = (scopes[-1].start_line, scopes[-1].end_line) if scopes else (1, 10**9)
        fused = fuse(ranked, weights=self.weights, visible=visible, limit=self.max_chunks * 2)
        self._last[(path, analysis.scope)] = _LastResult(start, end, fused)
        if len(self._last) > 256:
            self._last.pop(next(iter(self._last)))
