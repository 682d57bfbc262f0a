"""The retrieval sources. Each turns a cursor analysis into a ranked list of chunks, on its own (blocking).

- ``symbol``: exact definitions of the names in play, ``Class.member`` for attribute accesses on known
  classes (following base classes once), and definitions starting with the partial identifier.
- ``imports``: definitions the file imports from the workspace: ``from m import a, b`` names first, then
  members used as ``module.member``, and the members of a module being typed after ``module.``.
- ``fts``: BM25 over the identifier sub-words of the lines before the cursor.
- ``buffers``: open and recently edited buffers (a provider gives ``{path: text}``), chunked and searched in
  memory, so unsaved definitions are found before the index sees them.
- ``vector``: nearest neighbours of the window, only when the index has vectors and an embedder is given.

The retriever runs each ``run`` in a thread; sources never touch the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Protocol

from srag_lsp.retrieval.cursor import CursorAnalysis, noise_words
from srag_lsp.retrieval.imports import ImportBinding
from srag_lsp.retrieval.types import ContextChunk, CursorContext

log = logging.getLogger(__name__)

ReaderFn = Callable[[], Any]  # returns an indexer.query.IndexReader, or None when there is no index
BufferProvider = Callable[[], Mapping[str, str]]
Embedder = Callable[[str], list[float]]

DEFINITION_KINDS = frozenset(
    {"class", "function", "method", "struct", "interface", "enum", "type", "constant", "impl"}
)
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_CLASS_BASES = re.compile(r"^\s*class\s+\w+\s*\(([^)]*)\)")
MAX_FTS_TERMS = 40


def chunk_from_hit(hit: Any, source: str, score: float | None = None) -> ContextChunk:
    """A ContextChunk from an ``indexer.query.Hit`` (or anything with the same attributes)."""
    return ContextChunk(
        path=hit.path,
        start_line=int(hit.start_line),
        end_line=int(hit.end_line),
        symbol=hit.symbol,
        kind=hit.kind,
        source=source,
        score=float(hit.score if score is None else score),
        text=hit.text,
        signature=hit.signature,
        id=hit.id,
        qualified_name=getattr(hit, "qualified_name", ""),
        language=getattr(hit, "language", "") or "",
        sources=(source,),
    )


def _ranked(scored: Iterable[tuple[float, ContextChunk]], k: int) -> list[ContextChunk]:
    best: dict[str, tuple[float, ContextChunk]] = {}
    for score, chunk in scored:
        previous = best.get(chunk.id)
        if previous is None or score > previous[0]:
            best[chunk.id] = (score, chunk)
    order = sorted(best.values(), key=lambda sc: (-sc[0], sc[1].path, sc[1].start_line))
    out = []
    for score, chunk in order[:k]:
        chunk.score = round(score, 6)
        out.append(chunk)
    return out


class Source(Protocol):
    name: str

    def available(self) -> bool: ...

    def cache_key(self, analysis: CursorAnalysis) -> Hashable | None: ...

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]: ...


def _reader_ready(reader_fn: ReaderFn) -> bool:
    return reader_fn() is not None


class SymbolSource:
    """Exact definitions of the names in play; ``Class.member``; the partial identifier's completions."""

    name = "symbol"

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn

    def available(self) -> bool:
        return _reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return (
            tuple(analysis.names),
            tuple(analysis.members),
            tuple(analysis.attribute_names[:8]),
            analysis.partial,
            analysis.receiver_class,
            analysis.receiver_module.paths if analysis.receiver_module else (),
        )

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None:
            return []
        imported_paths: dict[str, tuple[str, ...]] = {
            b.local: b.paths for b in analysis.imports if b.paths and not b.is_module
        }
        name_rank = {n: i for i, n in enumerate(analysis.names)}
        attribute_rank = {n: i for i, n in enumerate(analysis.attribute_names[:8])}
        member_rank = {m: i for i, m in enumerate(analysis.members)}
        receiver_classes = [analysis.receiver_class] if analysis.receiver_class else []
        owners = sorted({m.split(".", 1)[0] for m in analysis.members} | set(receiver_classes))
        query = [*analysis.names, *attribute_rank, *analysis.members, *owners]
        hits = reader.symbols(query, k=max(8 * k, 120)) if query else []
        by_name: dict[str, int] = {}
        for hit in hits:
            by_name[hit.symbol] = by_name.get(hit.symbol, 0) + 1

        scored: list[tuple[float, ContextChunk]] = []
        found_members: set[str] = set()
        class_hits: dict[str, Any] = {}
        for hit in hits:
            definition = 1.0 if hit.kind in DEFINITION_KINDS else 0.4
            ambiguity = 1.0 / math.sqrt(by_name.get(hit.symbol, 1))
            score = 0.0
            if hit.qualified_name in member_rank:
                found_members.add(hit.qualified_name)
                score = max(score, 1.6 / (1 + 0.25 * member_rank[hit.qualified_name]))
            if hit.symbol in name_rank:
                base = 1.0 / (1 + 0.15 * name_rank[hit.symbol])
                if hit.path in imported_paths.get(hit.symbol, ()):
                    base *= 2.0  # the definition the import actually names
                    ambiguity = 1.0
                elif hit.path == analysis.path:
                    base *= 1.2
                score = max(score, base * definition * ambiguity)
            if hit.symbol in attribute_rank:
                score = max(score, 0.45 / (1 + 0.2 * attribute_rank[hit.symbol]) * definition * ambiguity)
            if hit.symbol in owners and hit.kind in ("class", "struct", "interface", "impl", "type"):
                class_hits.setdefault(hit.symbol, hit)
                if hit.symbol == analysis.receiver_class:
                    score = max(score, 0.8)
            if score > 0:
                scored.append((score, chunk_from_hit(hit, self.name)))

        # Members not defined on the class itself: look on its bases (one more query).
        missing = [m for m in analysis.members if m not in found_members]
        if missing and class_hits:
            base_members: dict[str, float] = {}
            for member in missing:
                owner, _, attr = member.partition(".")
                hit = class_hits.get(owner)
                match = _CLASS_BASES.match(hit.signature or hit.text) if hit is not None else None
                if match:
                    for base in re.findall(r"[A-Za-z_][\w.]*", match.group(1)):
                        base_name = base.rsplit(".", 1)[-1]
                        if base_name not in ("object", "Generic", "Protocol"):
                            base_members.setdefault(f"{base_name}.{attr}", 1.4 / (1 + 0.25 * member_rank[member]))
            if base_members:
                for hit in reader.symbols(list(base_members), k=4 * len(base_members)):
                    if hit.qualified_name in base_members:
                        scored.append((base_members[hit.qualified_name], chunk_from_hit(hit, self.name)))

        scored.extend(self._partial(reader, analysis, k))
        return _ranked(scored, k)

    def _partial(self, reader: Any, analysis: CursorAnalysis, k: int) -> list[tuple[float, ContextChunk]]:
        partial = analysis.partial
        if not partial or (len(partial) < 2 and not analysis.receiver):
            return []
        module_paths = set(analysis.receiver_module.paths) if analysis.receiver_module else set()
        out = []
        for hit in reader.symbol_prefix(partial, k=max(4 * k, 40)):
            if hit.kind not in DEFINITION_KINDS:
                continue
            closeness = 1.0 / (1 + 0.3 * (len(hit.symbol) - len(partial)))
            if analysis.receiver_class:
                if hit.scope.rsplit(".", 1)[-1] != analysis.receiver_class:
                    continue
                weight = 1.5
            elif module_paths:
                if hit.path not in module_paths or hit.scope:
                    continue
                weight = 1.5
            elif analysis.receiver:
                weight = 0.5  # a member of something we could not type
            else:
                weight = 1.0 if not hit.scope else 0.6
            out.append((weight * (0.5 + 0.5 * closeness), chunk_from_hit(hit, self.name)))
        return out


class ImportsSource:
    """Definitions from the workspace modules this file imports."""

    name = "imports"

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn

    def available(self) -> bool:
        return _reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return (
            tuple(b for b in analysis.imports if b.paths),
            tuple((b.local, m) for b, m in analysis.module_members),
            analysis.partial if analysis.receiver_module else "",
            analysis.receiver_module,
            tuple(sorted((n, d) for n, d in analysis.name_distance.items() if n in _bound(analysis))),
        )

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None:
            return []
        names = [b for b in analysis.imports if b.paths and not b.is_module and b.name not in ("", "*", "default")]
        # Order: names used nearest the cursor first, then names imported but not used yet (the code
        # below the cursor is where they will be used), in the order they were imported.
        used = sorted((b for b in names if b.local in analysis.name_distance),
                      key=lambda b: analysis.name_distance[b.local])
        unused = [b for b in names if b.local not in analysis.name_distance]
        order = _interleave(used, unused)
        rank = {}
        for i, binding in enumerate(order):
            rank.setdefault(binding.name, (i, binding))
        members = {m: (i, b) for i, (b, m) in enumerate(analysis.module_members) if b.paths}
        wanted = sorted({*rank, *members})
        scored: list[tuple[float, ContextChunk]] = []
        if wanted:
            hits = reader.symbols(wanted, k=max(6 * len(wanted), 60))
            resolved_in_place: set[str] = set()
            for hit in hits:
                if hit.scope:
                    continue
                if hit.symbol in rank:
                    i, binding = rank[hit.symbol]
                    if hit.path in binding.paths:
                        resolved_in_place.add(hit.symbol)
                        scored.append((1.0 / (1 + 0.1 * i), chunk_from_hit(hit, self.name)))
                if hit.symbol in members:
                    i, binding = members[hit.symbol]
                    if hit.path in binding.paths:
                        scored.append((0.9 / (1 + 0.1 * i), chunk_from_hit(hit, self.name)))
            # Re-exports (``from .api import get`` in a package's __init__): the definition lives elsewhere;
            # take the one nearest the module the import named.
            for hit in hits:
                if hit.scope or hit.symbol not in rank or hit.symbol in resolved_in_place:
                    continue
                i, binding = rank[hit.symbol]
                near = _shared_dirs(hit.path, binding.paths[0])
                scored.append((0.6 / (1 + 0.1 * i) * (1 + 0.1 * near), chunk_from_hit(hit, self.name)))
        module = analysis.receiver_module
        if module is not None and module.paths:
            partial = analysis.partial
            for path in module.paths[:2]:
                for hit in reader.by_path(path):
                    if hit.scope or not hit.symbol or hit.kind not in DEFINITION_KINDS:
                        continue
                    if partial and not hit.symbol.startswith(partial):
                        continue
                    scored.append((1.2 if partial else 0.7, chunk_from_hit(hit, self.name)))
        return _ranked(scored, k)


def _bound(analysis: CursorAnalysis) -> set[str]:
    return {b.local for b in analysis.imports}


def _interleave(first: list[ImportBinding], second: list[ImportBinding]) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    for i in range(max(len(first), len(second))):
        if i < len(first):
            out.append(first[i])
        if i < len(second):
            out.append(second[i])
    return out


def _shared_dirs(a: str, b: str) -> int:
    shared = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        shared += 1
    return shared


def fts_query(analysis: CursorAnalysis) -> str:
    """The identifiers of the lines before the cursor, nearest first, without keywords (at most 40)."""
    noise = noise_words(analysis.language)
    seen: dict[str, None] = {}
    for line in reversed(analysis.window_before.split("\n")):
        for word in reversed(_IDENT.findall(line)):
            if len(word) > 1 and word not in noise and word not in seen:
                seen[word] = None
                if len(seen) >= MAX_FTS_TERMS:
                    return " ".join(seen)
    return " ".join(seen)


class FtsSource:
    """BM25 (LanceDB full-text search) over identifier sub-words, queried with the window before the cursor."""

    name = "fts"

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn

    def available(self) -> bool:
        return _reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return fts_query(analysis)

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        query = fts_query(analysis)
        if reader is None or not query:
            return []
        return [chunk_from_hit(hit, self.name) for hit in reader.text_search(query, k=k)]


class _BufferChunks:
    """Chunks of buffer texts, memoised by content (chunking a buffer is a parse: do it once per version)."""

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def chunks(self, path: str, text: str) -> list[Any]:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        key = (path, digest)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        try:
            from indexer.chunker import chunk_file

            chunks = chunk_file(path, text).chunks
        except Exception as exc:  # noqa: BLE001 - an unparsable buffer simply contributes nothing
            log.debug("cannot chunk buffer %s: %s", path, exc)
            chunks = []
        with self._lock:
            self._entries[key] = chunks
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return chunks


class BufferSource:
    """Open and recently edited buffers, searched in memory: defined names first, then shared words."""

    name = "buffers"

    def __init__(self, provider: BufferProvider | None) -> None:
        self._provider = provider
        self._chunks = _BufferChunks()

    def available(self) -> bool:
        return self._provider is not None

    def cache_key(self, analysis: CursorAnalysis) -> Hashable | None:
        return None  # buffers change with every keystroke; searching them is cheap

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        if self._provider is None:
            return []
        try:
            buffers = dict(self._provider())
        except Exception as exc:  # noqa: BLE001 - the provider belongs to the caller
            log.warning("buffer provider failed: %s", exc)
            return []
        buffers[ctx.path] = ctx.text
        names = {n: i for i, n in enumerate(analysis.names)}
        members = {m: i for i, m in enumerate(analysis.members)}
        window_words = {w.lower() for w in _IDENT.findall(analysis.window_before) if len(w) > 2}
        partial = analysis.partial if len(analysis.partial) >= 2 else ""
        scored: list[tuple[float, ContextChunk]] = []
        for path, text in buffers.items():
            if not isinstance(text, str) or "\x00" in text[:8192]:
                continue
            for chunk in self._chunks.chunks(path, text):
                score = 0.0
                if chunk.qualified_name in members:
                    score = 1.5 / (1 + 0.25 * members[chunk.qualified_name])
                if chunk.symbol in names:
                    score = max(score, 1.0 / (1 + 0.15 * names[chunk.symbol]))
                if partial and chunk.symbol.startswith(partial) and chunk.symbol != partial:
                    score = max(score, 0.9)
                if score == 0.0 and window_words:
                    words = {w.lower() for w in chunk.uses} | set(chunk.tokens.split())
                    shared = len(window_words & words)
                    if shared:
                        score = 0.3 * shared / math.sqrt(len(words) + 1)
                if score > 0:
                    scored.append((score, _chunk_from_model(chunk, self.name, score)))
        return _ranked(scored, k)


def _chunk_from_model(chunk: Any, source: str, score: float) -> ContextChunk:
    return ContextChunk(
        path=chunk.path,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        symbol=chunk.symbol,
        kind=chunk.kind,
        source=source,
        score=score,
        text=chunk.text,
        signature=chunk.signature,
        id=chunk.id,
        qualified_name=chunk.qualified_name,
        language=chunk.language,
        sources=(source,),
    )


class VectorSource:
    """Nearest chunks to the window's embedding; only when the index has vectors and an embedder is set."""

    name = "vector"

    def __init__(self, reader_fn: ReaderFn, embed: Embedder | None) -> None:
        self._reader = reader_fn
        self._embed = embed

    def available(self) -> bool:
        if self._embed is None:
            return False
        reader = self._reader()
        if reader is None or not callable(getattr(reader, "vector_search", None)):
            return False
        has_vectors = getattr(reader, "has_vectors", None)
        try:
            return bool(has_vectors() if callable(has_vectors) else has_vectors)
        except Exception:  # noqa: BLE001
            return False

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return analysis.window_before[-2000:]

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None or self._embed is None:
            return []
        vector = self._embed(analysis.window_before[-2000:])
        return [chunk_from_hit(hit, self.name) for hit in reader.vector_search(vector, k=k)]
