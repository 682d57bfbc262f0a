"""The ``symbol`` source: exact definitions of the names in play, ``Class.member``, the partial's completions."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from indexer.languages import DEFINITION_KINDS
from srag_lsp.retrieval.cursor import CursorAnalysis
from srag_lsp.retrieval.expectation import AffinityScorer, expect, kind_factor
from srag_lsp.retrieval.sources.base import (
    ReaderFn,
    SharedSymbols,
    chunk_from_hit,
    exact_symbols,
    ranked,
    reader_ready,
)
from srag_lsp.retrieval.types import ContextChunk, CursorQuery

# Base classes in a class signature: Python ``class A(B, C):``, JS/TS ``class A extends B``.
_CLASS_BASES = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+\w+\s*(?:\(([^)]*)\)|(?:<[^>]*>)?\s*extends\s+([\w.]+))"
)


_ASSIGNED_HERE = re.compile(r"^\s*(?:(?:self|this)\.)?([A-Za-z_]\w*)\s*(?::[^=]*)?=\s*(?:new\s+|await\s+)?$")


def conversion_names(analysis: CursorAnalysis) -> list[str]:
    """``headers = |`` is often ``headers = Headers(headers)``: the class named like the variable being
    assigned (``Headers``, ``CookieJar`` for ``cookie_jar``), looked up whether it is imported or not."""
    if analysis.partial or analysis.receiver:
        return []
    match = _ASSIGNED_HERE.match(analysis.line_prefix)
    if not match or len(match.group(1)) < 3:
        return []
    name = match.group(1).strip("_")
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    return list(dict.fromkeys(n for n in (camel, name.upper()) if n and n != match.group(1)))


class SymbolSource:
    """Exact definitions of the names in play; ``Class.member``; the partial identifier's completions."""

    name = "symbol"
    TYPED_MEMBER_WEIGHT = 3.0  # ``obj.par|`` with obj's class known: its members starting with "par" first
    MAX_NAMES = 12  # names in play looked up (nearest first)
    MAX_ATTRIBUTES = 3  # members of receivers of unknown type
    MAX_MEMBERS = 6  # Class.member lookups
    MEMO_ENTRIES = 256

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn
        self._exact: OrderedDict[tuple[str, ...], list[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def available(self) -> bool:
        return reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return (
            tuple(analysis.names),
            tuple(analysis.members),
            tuple(analysis.attribute_names[: self.MAX_ATTRIBUTES]),
            analysis.partial,
            analysis.receiver_class,
            analysis.receiver_module.paths if analysis.receiver_module else (),
        )

    def _plan(self, analysis: CursorAnalysis) -> tuple[list[str], list[str], list[str], list[str]]:
        """(unimported names, attribute names, Class.member names, owner classes) to look up."""
        # Names bound by a resolved import are the imports source's: it knows which definition they name.
        imported_here = {b.local for b in analysis.imports if b.paths}
        unimported = [n for n in analysis.names if n not in imported_here][: self.MAX_NAMES]
        for name in conversion_names(analysis):
            if name not in imported_here and name not in unimported:
                unimported.insert(0, name)
        attributes = analysis.attribute_names[: self.MAX_ATTRIBUTES]
        members = analysis.members[: self.MAX_MEMBERS]
        receiver_classes = [analysis.receiver_class] if analysis.receiver_class else []
        owners = sorted({m.split(".", 1)[0] for m in members} | set(receiver_classes))
        return unimported, attributes, members, owners

    def plan(self, analysis: CursorAnalysis, shared: SharedSymbols, k: int) -> None:
        names = self._query(analysis)
        if self._recall(tuple(names)) is None:
            shared.plan(names, k)

    def _query(self, analysis: CursorAnalysis) -> list[str]:
        return list(dict.fromkeys(n for part in self._plan(analysis) for n in part))

    # Exact-name hits per set of names: typing the rest of an identifier changes only the partial, so the
    # next keystroke needs no exact query. Any re-index clears it (a new definition anywhere may match).
    def _recall(self, key: tuple[str, ...]) -> list[Any] | None:
        with self._lock:
            hits = self._exact.get(key)
            if hits is not None:
                self._exact.move_to_end(key)
            return hits

    def _remember(self, key: tuple[str, ...], hits: list[Any]) -> None:
        with self._lock:
            self._exact[key] = hits
            while len(self._exact) > self.MEMO_ENTRIES:
                self._exact.popitem(last=False)

    def invalidate(self, paths: Iterable[str] | None) -> None:
        with self._lock:
            self._exact.clear()

    def run(self, analysis: CursorAnalysis, ctx: CursorQuery, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None:
            return []
        unimported, attributes, member_list, owners = self._plan(analysis)
        name_rank = {n: i for i, n in enumerate(unimported)}
        attribute_rank = {n: i for i, n in enumerate(attributes)}
        member_rank = {m: i for i, m in enumerate(member_list)}
        query = self._query(analysis)
        hits = self._recall(tuple(query))
        if hits is None:
            hits = exact_symbols(reader, analysis, query, k)
            self._remember(tuple(query), hits)
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
                if hit.path == analysis.path:
                    base *= 1.2  # defined in this file, beyond what the prompt shows
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
                    for base in re.findall(r"[A-Za-z_][\w.]*", match.group(1) or match.group(2) or ""):
                        base_name = base.rsplit(".", 1)[-1]
                        if base_name not in ("object", "Generic", "Protocol"):
                            base_members.setdefault(f"{base_name}.{attr}", 1.4 / (1 + 0.25 * member_rank[member]))
            if base_members:
                for hit in reader.symbols(list(base_members), k=4 * len(base_members)):
                    if hit.qualified_name in base_members:
                        scored.append((base_members[hit.qualified_name], chunk_from_hit(hit, self.name)))

        scored.extend(self._partial(reader, analysis, k))
        return ranked(scored, k)

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
