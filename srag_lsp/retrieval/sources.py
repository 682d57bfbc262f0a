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
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from srag_lsp.retrieval.cursor import CursorAnalysis, noise_words
from srag_lsp.retrieval.expectation import AffinityScorer, expect, kind_factor
from srag_lsp.retrieval.imports import ImportBinding
from srag_lsp.retrieval.types import ContextChunk, CursorContext

log = logging.getLogger(__name__)

ReaderFn = Callable[[], Any]  # returns an indexer.query.IndexReader, or None when there is no index
BufferProvider = Callable[[], Mapping[str, str]]
Embedder = Callable[[str], list[float]]

DEFINITION_KINDS = frozenset({"class", "function", "method", "struct", "interface", "enum", "type", "constant", "impl"})
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_CLASS_BASES = re.compile(r"^\s*class\s+\w+\s*\(([^)]*)\)")
MAX_FTS_TERMS = 24


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
    TYPED_MEMBER_WEIGHT = 3.0  # ``obj.par|`` with obj's class known: its members starting with "par" first
    MAX_NAMES = 16  # names in play looked up (nearest first)
    MAX_ATTRIBUTES = 4  # members of receivers of unknown type
    MAX_MEMBERS = 8  # Class.member lookups

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn

    def available(self) -> bool:
        return _reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return (
            tuple(analysis.names),
            tuple(analysis.members),
            tuple(analysis.attribute_names[: self.MAX_ATTRIBUTES]),
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
        # Names bound by a resolved import are the imports source's: it knows which definition they name.
        imported_here = {b.local for b in analysis.imports if b.paths}
        unimported = [n for n in analysis.names if n not in imported_here][: self.MAX_NAMES]
        name_rank = {n: i for i, n in enumerate(unimported)}
        attribute_rank = {n: i for i, n in enumerate(analysis.attribute_names[: self.MAX_ATTRIBUTES])}
        member_list = analysis.members[: self.MAX_MEMBERS]
        member_rank = {m: i for i, m in enumerate(member_list)}
        receiver_classes = [analysis.receiver_class] if analysis.receiver_class else []
        owners = sorted({m.split(".", 1)[0] for m in member_list} | set(receiver_classes))
        query = list(dict.fromkeys([*name_rank, *attribute_rank, *member_list, *owners]))
        # A row budget, not a per-name one: each query costs ~5 ms plus ~0.015 ms a row on the stdlib index.
        hits = reader.symbols(query, k=len(query) + k) if query else []
        by_name: dict[str, int] = {}
        for hit in hits:
            by_name[hit.symbol] = by_name.get(hit.symbol, 0) + 1

        expectation = expect(analysis, analysis.line_prefix)
        affinity = AffinityScorer(expectation, by_name)
        scored: list[tuple[float, ContextChunk]] = []
        found_members: set[str] = set()
        class_hits: dict[str, Any] = {}
        for hit in hits:
            definition = 1.0 if hit.kind in DEFINITION_KINDS else 0.4
            definition *= kind_factor(expectation.kind, hit.symbol, hit.kind, hit.signature)
            definition *= 1 + 0.5 * affinity(hit.symbol)
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
        missing = [m for m in member_list if m not in found_members]
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
                weight = self.TYPED_MEMBER_WEIGHT
            elif module_paths:
                if hit.path not in module_paths or hit.scope:
                    continue
                weight = self.TYPED_MEMBER_WEIGHT
            elif analysis.receiver:
                weight = 0.5  # a member of something we could not type
            else:
                weight = 1.5 if not hit.scope else 0.6
            out.append((weight * (0.5 + 0.5 * closeness), chunk_from_hit(hit, self.name)))
        return out


class ImportsSource:
    """Definitions from the workspace modules this file imports, ranked for what the cursor needs next.

    Candidates are the names imported with ``from m import a, b`` (resolved to their definitions in ``m``,
    through re-exports), members used as ``module.member``, and, after ``module.``, every top-level
    definition of that module. Each is scored by how it has been used (an import not used yet before the
    cursor is likely used soon; one used a line above is likely used again), whether it fits what the
    cursor line expects (``raise`` wants an exception), and the words it shares with the cursor line.
    """

    name = "imports"
    UNUSED_PRIOR = 1.0
    SAME_LINE_PRIOR = 0.6  # a name just typed on the cursor's line is seldom the very next one
    RECEIVER_MODULE_TIER = 100.0  # after ``module.``, that module's members come before everything else
    AFFINITY_WEIGHT = 1.5
    MAX_MODULE_SCANS = 4  # modules read whole (in the background) for names that are no symbol (``codes = ...``)
    MEMO_ENTRIES = 256

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn
        self._memos: OrderedDict[Hashable, tuple[Any, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: set[Hashable] = set()
        self._background: ThreadPoolExecutor | None = None

    def available(self) -> bool:
        return _reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return (
            tuple(b for b in analysis.imports if b.paths),
            tuple((b.local, m, d) for b, m, d in analysis.module_members),
            analysis.partial,
            analysis.line_prefix,
            tuple(analysis.window_before.split("\n")[-4:]),
            analysis.receiver_module,
            tuple(sorted((n, d) for n, d in analysis.name_distance.items() if n in _bound(analysis))),
        )

    @classmethod
    def usage_prior(cls, distance: int | None) -> float:
        """How likely a candidate is to be typed next, from where (if anywhere) it was used before.

        Most next uses of an imported name are first uses, so a name not used yet is as likely as one used
        a few lines up; one used far above less so, and one on the cursor's own line was just typed.
        (Measured: a prior proportional to counts, which favours the few used names, ranks worse.)
        """
        if distance is None:
            return cls.UNUSED_PRIOR
        if distance == 0:
            return cls.SAME_LINE_PRIOR
        return 0.5 + 1.0 / (1 + distance / 5)

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None:
            return []
        expectation = expect(analysis, analysis.line_prefix)
        names = [b for b in analysis.imports if b.paths and not b.is_module and b.name not in ("", "*", "default")]
        by_name: dict[str, list[ImportBinding]] = {}
        for binding in names:
            by_name.setdefault(binding.name, []).append(binding)
        # (label, import local, distance, hit) for imported names and for members used as module.member
        entries: list[tuple[str, str, int | None, Any]] = []
        for name, hit in self._imported_definitions(reader, analysis.path, by_name).items():
            local = by_name[name][0].local
            entries.append((local, local, analysis.name_distance.get(local), hit))
        members = {m: (d, b) for b, m, d in analysis.module_members if b.paths}
        for member, (distance, binding) in members.items():
            hit = self._top_level(reader, binding.paths[0], wait=False).get(member)
            if hit is not None:
                entries.append((member, binding.local, distance, hit))
        affinity = AffinityScorer(expectation, [*by_name, *members])
        order = {b.local: i for i, b in enumerate(names)}
        scored: list[tuple[float, ContextChunk]] = []
        for label, local, distance, hit in entries:
            score = self.usage_prior(distance) * kind_factor(expectation.kind, hit.symbol, hit.kind, hit.signature)
            score *= 1 + self.AFFINITY_WEIGHT * affinity(label)
            score *= 1 - 1e-4 * order.get(local, 0)  # stable: earlier imports first among equals
            scored.append((score, chunk_from_hit(hit, self.name)))
        module = analysis.receiver_module
        if module is not None and module.paths:
            scored.extend(self._module_members(reader, analysis, module, expectation, members))
        return _ranked(scored, k)

    # -- what the imports name: looked up once per file (and per module), until those files change --
    # Slow lookups that only some requests need (reading a whole module) run in the background; their
    # results land in the memo, so the next keystroke has them and this one is not held up.

    def _memo(self, key: Hashable, depends: frozenset[str], compute: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._memos.get(key)
            if entry is not None:
                self._memos.move_to_end(key)
                return entry[0]
        value = compute()
        with self._lock:
            self._memos[key] = (value, depends)
            while len(self._memos) > self.MEMO_ENTRIES:
                self._memos.popitem(last=False)
        return value

    def _peek(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._memos.get(key)
            return entry[0] if entry is not None else None

    def _later(self, key: Hashable, job: Callable[[], Any]) -> None:
        """Run ``job`` once in the background (per key, while it is pending)."""
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
            if self._background is None:
                self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srag-imports")
            background = self._background

        def run() -> None:
            try:
                job()
            except Exception as exc:
                log.debug("background import lookup failed: %s", exc)
            finally:
                with self._lock:
                    self._pending.discard(key)

        try:
            background.submit(run)
        except RuntimeError:  # shut down
            with self._lock:
                self._pending.discard(key)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait for the background lookups (tests and benchmarks); True when none is left."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=False, cancel_futures=True)

    def invalidate(self, paths: Iterable[str] | None) -> None:
        with self._lock:
            if paths is None:
                self._memos.clear()
                return
            changed = set(paths)
            for key in [key for key, (_, depends) in self._memos.items() if depends & changed]:
                del self._memos[key]

    def _module_chunks(self, reader: Any, path: str) -> list[Any]:
        return self._memo(("chunks", path), frozenset({path}), lambda: reader.by_path(path))

    def _top_level(self, reader: Any, path: str, *, wait: bool = True) -> dict[str, Any]:
        """A module's top-level definitions by name; with ``wait=False``, {} until a background read lands."""
        key = ("top", path)
        if not wait:
            known = self._peek(key)
            if known is None:
                self._later(key, lambda: self._top_level(reader, path))
                return {}
            return known

        def compute() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for hit in self._module_chunks(reader, path):
                if not hit.scope and hit.symbol and hit.kind in DEFINITION_KINDS:
                    out.setdefault(hit.symbol, hit)
            return out

        return self._memo(key, frozenset({path}), compute)

    def _imported_definitions(
        self, reader: Any, importer: str, by_name: dict[str, list[ImportBinding]]
    ) -> dict[str, Any]:
        """Imported name -> the hit of its definition (in the module it names, or where that re-exports from)."""
        if not by_name:
            return {}
        key = ("imports", importer, tuple(sorted((n, tuple(b.paths for b in bs)) for n, bs in by_name.items())))
        module_paths = frozenset(p for bs in by_name.values() for b in bs for p in b.paths)

        def compute() -> dict[str, Any]:
            found: dict[str, Any] = {}
            fallback: dict[str, Any] = {}
            wanted = sorted(by_name)
            for hit in reader.symbols(wanted, k=len(wanted) + 8):
                if hit.scope:
                    continue
                for binding in by_name.get(hit.symbol, ()):
                    if hit.path in binding.paths:
                        found.setdefault(hit.symbol, hit)
                    elif hit.symbol not in fallback or _shared_dirs(hit.path, binding.paths[0]) > _shared_dirs(
                        fallback[hit.symbol].path, binding.paths[0]
                    ):
                        fallback[hit.symbol] = hit  # a re-export: the definition lives elsewhere
            for name, hit in fallback.items():
                found.setdefault(name, hit)
            return found

        found = self._memo(key, module_paths, compute)
        with self._lock:
            entry = self._memos.get(key)
            if entry is not None:  # a later edit of a defining file must drop this entry too
                self._memos[key] = (entry[0], entry[1] | {h.path for h in found.values()})
            found = dict(found)
        missing = [n for n in by_name if n not in found]
        if missing:
            self._later(("scan", key), lambda: self._complete(reader, key, missing, by_name))
        return found

    def _complete(
        self, reader: Any, key: Hashable, missing: list[str], by_name: dict[str, list[ImportBinding]]
    ) -> None:
        """Background: find the names the symbol query missed and add them to the file's memo entry."""
        extra = self._scan_modules(reader, missing, by_name)
        with self._lock:
            entry = self._memos.get(key)
            if entry is not None and extra:
                entry[0].update(extra)
                self._memos[key] = (entry[0], entry[1] | {h.path for h in extra.values()})

    def _module_members(
        self,
        reader: Any,
        analysis: CursorAnalysis,
        module: ImportBinding,
        expectation: Any,
        members: dict[str, tuple[int, ImportBinding]],
    ) -> list[tuple[float, ContextChunk]]:
        """After ``module.``: the module's top-level definitions, the partial's completions first."""
        partial = analysis.partial
        hits = [
            hit
            for path in module.paths[:2]
            for hit in self._top_level(reader, path).values()
            if not partial or hit.symbol.startswith(partial)
        ]
        affinity = AffinityScorer(expectation, [h.symbol for h in hits])
        out = []
        for hit in hits:
            used = members.get(hit.symbol)
            distance = used[0] if used and used[1].local == module.local else None
            score = self.usage_prior(distance) * kind_factor(expectation.kind, hit.symbol, hit.kind, hit.signature)
            score *= 1 + self.AFFINITY_WEIGHT * affinity(hit.symbol)
            out.append((self.RECEIVER_MODULE_TIER + score, chunk_from_hit(hit, self.name)))
        return out

    def _scan_modules(self, reader: Any, missing: list[str], by_name: dict[str, list[ImportBinding]]) -> dict[str, Any]:
        """Names not found as symbols: a definition that a common name pushed out of the symbol query, or a
        plain assignment (``codes = LookupDict(...)``) that is no symbol at all: read the module."""
        paths: dict[str, list[str]] = {}
        for name in missing:
            for binding in by_name[name]:
                paths.setdefault(binding.paths[0], []).append(name)
        out: dict[str, Any] = {}
        for path in list(paths)[: self.MAX_MODULE_SCANS]:
            top = self._top_level(reader, path)
            patterns = {}
            for name in paths[path]:
                if name in top:
                    out[name] = top[name]
                else:
                    patterns[name] = re.compile(rf"^{re.escape(name)}\s*(?::[^=\n]*)?=", re.M)
            if not patterns:
                continue
            for hit in self._module_chunks(reader, path):
                if hit.scope:
                    continue
                for name, pattern in patterns.items():
                    if name not in out and pattern.search(hit.text):
                        out[name] = hit
        return out


def _bound(analysis: CursorAnalysis) -> set[str]:
    return {b.local for b in analysis.imports}


def _shared_dirs(a: str, b: str) -> int:
    shared = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        shared += 1
    return shared


def fts_query(analysis: CursorAnalysis) -> str:
    """The identifiers of the lines before the cursor, nearest first, without keywords (at most 24)."""
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
        except Exception as exc:
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
        except Exception as exc:
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
        except Exception:
            return False

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return analysis.window_before[-2000:]

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None or self._embed is None:
            return []
        vector = self._embed(analysis.window_before[-2000:])
        return [chunk_from_hit(hit, self.name) for hit in reader.vector_search(vector, k=k)]
