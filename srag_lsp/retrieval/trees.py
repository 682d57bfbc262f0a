"""The last syntax tree of each open document, re-parsed incrementally so that a keystroke costs about 1 ms.

``DocumentTrees.tree_for(path, language, text)`` finds the changed byte range between the text it parsed
last and the new text (common prefix and suffix), tells the old tree about the edit and re-parses with it.
Calls for the same document are serialised by a per-document lock (tree-sitter trees are not safe to edit
from two threads); call it off the event loop.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Point, Tree

from srag_lsp.common_prefix import common_prefix_length

log = logging.getLogger(__name__)

ParseFn = Callable[[str, bytes, "Tree | None"], Tree]


def _default_parse(language: str, source: bytes, old_tree: Tree | None) -> Tree:
    from indexer.languages import parser_for  # the language table owns the grammars; one parser per thread

    parser = parser_for(language)
    return parser.parse(source, old_tree) if old_tree is not None else parser.parse(source)


@dataclass(slots=True)
class ParsedDocument:
    language: str
    source: bytes
    tree: Tree
    incremental: bool  # re-parsed from the previous tree


def common_suffix_length(a: bytes, b: bytes, limit: int) -> int:
    """Length of the longest common suffix, at most ``limit``."""
    lo, hi = 0, min(len(a), len(b), limit)
    if hi == 0 or a[len(a) - hi :] == b[len(b) - hi :]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def point_at(source: bytes, offset: int) -> Point:
    """(row, byte column) of a byte offset."""
    row = source.count(b"\n", 0, offset)
    line_start = source.rfind(b"\n", 0, offset) + 1
    return Point(row, offset - line_start)


class DocumentTrees:
    """Per-document parse trees, kept for the ``max_documents`` most recently used documents."""

    def __init__(self, parse: ParseFn | None = None, max_documents: int = 64) -> None:
        self._parse = parse or _default_parse
        self._docs: OrderedDict[str, ParsedDocument] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._max = max_documents

    def _lock_for(self, path: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(path)
            if lock is None:
                lock = self._locks[path] = threading.Lock()
            return lock

    def tree_for(self, path: str, language: str, source: bytes) -> ParsedDocument:
        with self._lock_for(path):
            with self._guard:
                previous = self._docs.get(path)
            old_tree = None
            if previous is not None and previous.language == language:
                if previous.source == source:
                    return previous
                old_tree = self._edited(previous, source)
            tree = self._parse(language, source, old_tree)
            parsed = ParsedDocument(language, source, tree, old_tree is not None)
            with self._guard:
                self._docs[path] = parsed
                self._docs.move_to_end(path)
                while len(self._docs) > self._max:
                    evicted, _ = self._docs.popitem(last=False)
                    self._locks.pop(evicted, None)
            return parsed

    @staticmethod
    def _edited(previous: ParsedDocument, source: bytes) -> Tree:
        old = previous.source
        start = common_prefix_length(old, source)
        suffix = common_suffix_length(old, source, min(len(old), len(source)) - start)
        old_end = len(old) - suffix
        new_end = len(source) - suffix
        tree = previous.tree.copy()  # the previous tree stays valid for readers still walking it
        tree.edit(
            start_byte=start,
            old_end_byte=old_end,
            new_end_byte=new_end,
            start_point=point_at(old, start),
            old_end_point=point_at(old, old_end),
            new_end_point=point_at(source, new_end),
        )
        return tree

    def forget(self, path: str) -> None:
        with self._guard:
            self._docs.pop(path, None)
            self._locks.pop(path, None)

    def __contains__(self, path: str) -> bool:
        with self._guard:
            return path in self._docs
