"""The ``imports`` source: definitions the file imports from the workspace, ranked for what comes next."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from indexer.languages import DEFINITION_KINDS, LANGUAGES
from srag_lsp.retrieval.cursor import CursorAnalysis
from srag_lsp.retrieval.expectation import AffinityScorer, description_affinity, expect, kind_factor
from srag_lsp.retrieval.imports import ImportBinding
from srag_lsp.retrieval.sources.base import (
    ReaderFn,
    SharedSymbols,
    chunk_from_hit,
    exact_symbols,
    ranked,
    reader_ready,
)
from srag_lsp.retrieval.types import ContextChunk, CursorQuery

log = logging.getLogger(__name__)



class ImportsSource:
    """Definitions from the workspace modules this file imports, ranked for what the cursor needs next.

    Candidates are the names imported with ``from m import a, b`` (resolved to their definitions in ``m``,
    through re-exports), members used as ``module.member``, and, after ``module.``, every top-level
    definition of that module. Each is scored by how it has been used (an import not used yet before the
    cursor is likely used soon; one used a line above is likely used again), whether it fits what the
    cursor line expects (``raise`` wants an exception), the words it shares with the cursor line, and, more
    weakly, the words its parameters and docstring share with it.
    """

    name = "imports"
    UNUSED_PRIOR = 1.0
    SAME_LINE_PRIOR = 0.6  # a name just typed on the cursor's line is seldom the very next one
    RECEIVER_MODULE_TIER = 100.0  # after ``module.``, that module's members come before everything else
    AFFINITY_WEIGHT = 1.5
    DOC_WEIGHT = 0.25  # a definition's docstring and parameters say what it is for: weaker than its name
    NOT_PARTIAL_FACTOR = 0.1  # a name the partial identifier rules out (see partial_factor)
    SCOPE_WEIGHT = 1.0  # a name matching a local, a parameter or the type of one (see scope_factor)
    MAX_MODULE_SCANS = 8  # modules read whole (in the background) for names that are no symbol (``codes = ...``)
    MEMO_ENTRIES = 256

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn
        self._memos: OrderedDict[Hashable, tuple[Any, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: set[Hashable] = set()
        self._searched: set[Hashable] = set()  # files whose missing names were searched for already
        self._background: ThreadPoolExecutor | None = None

    def available(self) -> bool:
        return reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return (
            tuple(b for b in analysis.imports if b.paths),
            tuple((b.local, m, d) for b, m, d in analysis.module_members),
            analysis.partial,
            analysis.line_prefix,
            tuple(analysis.window_before.split("\n")[-4:]),
            analysis.receiver_module,
            tuple(sorted((n, d) for n, d in analysis.name_distance.items() if n in _bound(analysis))),
            tuple(sorted((n, d) for n, d in analysis.name_after.items() if n in _bound(analysis))),
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

    def prefetch(self, analysis: CursorAnalysis) -> None:
        """Look up the definitions the file's imports name (a document was opened): the memo keeps them."""
        reader = self._reader()
        if reader is not None:
            self._imported_definitions(reader, analysis, self._by_name(analysis)[1])

    @staticmethod
    def _distance(analysis: CursorAnalysis, local: str) -> int | None:
        """Lines to the nearest use before the cursor; a name used only just after it (the code below the
        cursor already calls it) counts as used one line further away."""
        before = analysis.name_distance.get(local)
        if before is not None:
            return before
        after = analysis.name_after.get(local)
        return None if after is None else after + 1

    def run(self, analysis: CursorAnalysis, ctx: CursorQuery, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None:
            return []
        expectation = expect(analysis, analysis.line_prefix)
        names, by_name = self._by_name(analysis)
        # (label, import local, distance, hit) for imported names and for members used as module.member
        entries: list[tuple[str, str, int | None, Any]] = []
        for name, hit in self._imported_definitions(reader, analysis, by_name).items():
            local = by_name[name][0].local
            entries.append((local, local, self._distance(analysis, local), hit))
        members = {m: (d, b) for b, m, d in analysis.module_members if b.paths}
        for member, hit in self._member_definitions(reader, analysis, members).items():
            distance, binding = members[member]
            entries.append((member, binding.local, distance, hit))
        affinity = AffinityScorer(expectation, [*by_name, *members])
        order = {b.local: i for i, b in enumerate(names)}
        in_scope = _in_scope_names(analysis)
        target = _target_name(analysis.line_prefix)
        scored: list[tuple[float, ContextChunk]] = []
        for label, local, distance, hit in entries:
            score = self.usage_prior(distance) * kind_factor(expectation.kind, hit.symbol, hit.kind, hit.signature)
            score *= 1 + self.AFFINITY_WEIGHT * affinity(label)
            score *= 1 + self.DOC_WEIGHT * description_affinity(hit.text, hit.symbol, expectation)
            score *= self.scope_factor(hit.symbol or label, in_scope)
            score *= self.target_factor(hit.symbol or label, target)
            score *= self.partial_factor(label.rsplit(".", 1)[-1], analysis.partial)
            score *= self.receiver_factor(analysis, local, hit)
            score *= 1 - 1e-4 * order.get(local, 0)  # stable: earlier imports first among equals
            scored.append((score, chunk_from_hit(hit, self.name)))
        module = analysis.receiver_module
        if module is not None and module.paths:
            scored.extend(self._module_members(reader, analysis, module, expectation, members, in_scope))
        return ranked(scored, k)

    @classmethod
    def receiver_factor(cls, analysis: CursorAnalysis, local: str, hit: Any) -> float:
        """After ``x.``, the next name is a member of x: an imported name is not what comes next, unless it
        is x itself or the class x holds (whose definition lists the member)."""
        if not analysis.receiver or analysis.receiver_module is not None:
            return 1.0
        if local == analysis.receiver.split(".", 1)[0] or hit.symbol == analysis.receiver_class:
            return 1.0 + cls.SCOPE_WEIGHT
        return cls.NOT_PARTIAL_FACTOR

    @classmethod
    def target_factor(cls, name: str, target: str) -> float:
        """The name being annotated or assigned on the cursor's line often names its type, in full or
        abbreviated: ``param: Parameter``, ``ctx: Context``, ``headers = Headers(...)``."""
        if not target:
            return 1.0
        folded, wanted = _folded(name), _folded(target)
        if folded == wanted:
            return 1 + cls.SCOPE_WEIGHT
        if len(wanted) >= 2 and _abbreviates(wanted, folded):
            return 1 + cls.SCOPE_WEIGHT / 2
        return 1.0

    @classmethod
    def partial_factor(cls, name: str, partial: str) -> float:
        """The identifier being typed must start with what is typed: other names are for later lines."""
        return 1.0 if not partial or name.startswith(partial) else cls.NOT_PARTIAL_FACTOR

    @classmethod
    def scope_factor(cls, name: str, in_scope: dict[str, float]) -> float:
        """A definition whose name matches (case-insensitively) a local, a parameter or the type of one is
        likely what the code converts to or checks against next: ``headers = Headers(headers)``,
        ``isinstance(request, Request)`` in a function taking ``request: Request``."""
        return 1 + cls.SCOPE_WEIGHT * in_scope.get(_folded(name), 0.0)

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
            self._searched.clear()
            if paths is None:
                self._memos.clear()
                return
            changed = set(paths)
            for key in [key for key, (_, depends) in self._memos.items() if depends & changed]:
                del self._memos[key]

    def _module_chunks(self, reader: Any, path: str) -> list[Any]:
        return self._memo(("chunks", path), frozenset({path}), lambda: reader.by_path(path))

    def _top_level(self, reader: Any, path: str) -> dict[str, Any]:
        """A module's top-level definitions by name (read once, until the module changes)."""
        key = ("top", path)

        def compute() -> dict[str, Any]:
            chunks = [hit for hit in self._module_chunks(reader, path) if not hit.scope]
            out: dict[str, Any] = {}
            for hit in chunks:
                if hit.symbol and hit.kind in DEFINITION_KINDS:
                    out.setdefault(hit.symbol, hit)
            for hit in chunks:  # module-level code: names bound by plain assignments (``codes = ...``)
                spec = LANGUAGES.get(hit.language)
                if not hit.symbol and spec is not None and spec.module_assignment is not None:
                    for name in spec.module_assignment.findall(hit.text):
                        out.setdefault(name, hit)
            return out

        return self._memo(key, frozenset({path}), compute)

    @staticmethod
    def _by_name(analysis: CursorAnalysis) -> tuple[list[ImportBinding], dict[str, list[ImportBinding]]]:
        names = [b for b in analysis.imports if b.paths and not b.is_module and b.name not in ("", "*")]
        by_name: dict[str, list[ImportBinding]] = {}
        for binding in names:
            by_name.setdefault(_defined_name(binding), []).append(binding)
        return names, by_name

    @staticmethod
    def _definitions_key(path: str, by_name: dict[str, list[ImportBinding]]) -> Hashable:
        return ("imports", path, tuple(sorted((n, tuple(b.paths for b in bs)) for n, bs in by_name.items())))

    def plan(self, analysis: CursorAnalysis, shared: SharedSymbols, k: int) -> None:
        """Ask for the imported names in the request's shared query, unless this file's are known."""
        _, by_name = self._by_name(analysis)
        if by_name and self._peek(self._definitions_key(analysis.path, by_name)) is None:
            shared.plan(by_name, 8)
        members = {m: (d, b) for b, m, d in analysis.module_members if b.paths}
        if members and self._peek(self._members_key(members)) is None:
            shared.plan(members, 8)

    @staticmethod
    def _members_key(members: dict[str, tuple[int, ImportBinding]]) -> Hashable:
        return ("members", tuple(sorted((m, b.paths) for m, (_, b) in members.items())))

    def _member_definitions(
        self, reader: Any, analysis: CursorAnalysis, members: dict[str, tuple[int, ImportBinding]]
    ) -> dict[str, Any]:
        """``module.member`` used before the cursor -> the member's definition in that module."""
        if not members:
            return {}

        def compute() -> dict[str, Any]:
            found: dict[str, Any] = {}
            for hit in exact_symbols(reader, analysis, list(members), 8):
                binding = members[hit.symbol][1] if hit.symbol in members else None
                if binding is not None and not hit.scope and hit.path in binding.paths:
                    found.setdefault(hit.symbol, hit)
            return found

        depends = frozenset(p for _, b in members.values() for p in b.paths)
        return self._memo(self._members_key(members), depends, compute)

    def _imported_definitions(
        self, reader: Any, analysis: CursorAnalysis, by_name: dict[str, list[ImportBinding]]
    ) -> dict[str, Any]:
        """Imported name -> the hit of its definition (in the module it names, or where that re-exports from)."""
        if not by_name:
            return {}
        key = self._definitions_key(analysis.path, by_name)
        module_paths = frozenset(p for bs in by_name.values() for b in bs for p in b.paths)

        def compute() -> dict[str, Any]:
            found: dict[str, Any] = {}
            fallback: dict[str, Any] = {}
            wanted = sorted(by_name)
            for hit in exact_symbols(reader, analysis, wanted, 8):
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
        with self._lock:
            searched = key in self._searched
        if missing and not searched:
            self._later(("search", key), lambda: self._complete(reader, key, missing, by_name))
        return found

    def _complete(
        self, reader: Any, key: Hashable, missing: list[str], by_name: dict[str, list[ImportBinding]]
    ) -> None:
        """Background, once per file: find the names the shared query missed (crowded out by namesakes, or
        plain assignments that are no symbol) and add them to the file's memo entry."""
        extra: dict[str, Any] = {}
        for hit in reader.symbols(missing, k=8 * len(missing) + 8):
            if not hit.scope and hit.symbol not in extra:
                if any(hit.path in b.paths for b in by_name.get(hit.symbol, ())):
                    extra[hit.symbol] = hit
        still = [n for n in missing if n not in extra]
        if still:
            extra.update(self._scan_modules(reader, still, by_name))
        with self._lock:
            self._searched.add(key)
            if len(self._searched) > 4 * self.MEMO_ENTRIES:
                self._searched.clear()
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
        in_scope: dict[str, float],
    ) -> list[tuple[float, ContextChunk]]:
        """After ``module.``: the module's top-level definitions, the partial's completions first."""
        partial = analysis.partial
        named = [
            (name, hit)
            for path in module.paths[:2]
            for name, hit in self._top_level(reader, path).items()
            if not partial or name.startswith(partial)
        ]
        affinity = AffinityScorer(expectation, [name for name, _ in named])
        out = []
        for name, hit in named:
            used = members.get(name)
            distance = used[0] if used and used[1].local == module.local else None
            score = self.usage_prior(distance) * kind_factor(expectation.kind, name, hit.kind, hit.signature)
            score *= 1 + self.AFFINITY_WEIGHT * affinity(name)
            score *= 1 + self.DOC_WEIGHT * description_affinity(hit.text, name, expectation)
            score *= self.scope_factor(name, in_scope)
            out.append((self.RECEIVER_MODULE_TIER + score, chunk_from_hit(hit, self.name)))
        return out

    def _scan_modules(self, reader: Any, missing: list[str], by_name: dict[str, list[ImportBinding]]) -> dict[str, Any]:
        """Names not found as symbols: a definition that namesakes crowded out of the symbol query, or a
        plain assignment (``codes = LookupDict(...)``) that is no symbol at all: read the module."""
        paths: dict[str, list[str]] = {}
        for name in missing:
            for binding in by_name[name]:
                paths.setdefault(binding.paths[0], []).append(name)
        out: dict[str, Any] = {}
        for path in list(paths)[: self.MAX_MODULE_SCANS]:
            top = self._top_level(reader, path)
            out.update((name, top[name]) for name in paths[path] if name in top)
        return out


def _folded(name: str) -> str:
    return name.replace("_", "").lower()


_TARGET = re.compile(r"(?:^|[(,])\s*(?:self\.|this\.)?([A-Za-z_]\w*)\s*(?::\s*(?:[\w.]+\[)*|=\s*(?:new\s+|await\s+)?)$")


def _target_name(line_prefix: str) -> str:
    """The name annotated (``param: |``) or assigned (``x = |``) just before the cursor, or ""."""
    match = _TARGET.search(line_prefix)
    return match.group(1) if match else ""


def _abbreviates(short: str, full: str) -> bool:
    """``ctx`` abbreviates ``context``, ``param`` abbreviates ``parameter``: same first letter, the rest in order."""
    if not full.startswith(short[0]) or len(full) < len(short):
        return False
    rest = iter(full[1:])
    return all(char in rest for char in short[1:])


def _in_scope_names(analysis: CursorAnalysis) -> dict[str, float]:
    """Folded names of the locals and parameters in scope (1.0) and of the classes they hold (0.5)."""
    out: dict[str, float] = {}
    for cls in analysis.local_types.values():
        out[_folded(cls)] = 0.5
    for name in analysis.local_names:
        if len(name) > 2:
            out[_folded(name)] = 1.0
    return out


def _defined_name(binding: ImportBinding) -> str:
    """The name to look up for an import: the imported name; for a default import (JavaScript), the local
    name, which by convention is the name the module declares and exports as its default."""
    return binding.local if binding.name == "default" else binding.name


def _bound(analysis: CursorAnalysis) -> set[str]:
    return {b.local for b in analysis.imports}


def _shared_dirs(a: str, b: str) -> int:
    shared = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        shared += 1
    return shared

