"""Chunks from what the walk found: one per definition, class summaries with member bodies elided, module-level
runs, and oversized chunks split into parts that each open with a comment naming the parent.

:class:`ChunkEmitter` takes the definitions and loose statements of :class:`indexer.chunk_walk.DefinitionWalk`;
:func:`plan_parts` decides where a long run of lines is cut (also for plain-text files).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from indexer.chunk_record import make_chunk
from indexer.chunk_walk import Definition, Loose, Node, node_end_line
from indexer.languages import LanguageSpec
from indexer.model import Chunk

_BOUNDARY_DEPTH = 5  # how deep a split looks for statement starts
_SUMMARY_ITEM_LINES = 12  # in an oversized class summary, members longer than this are shortened
_SUMMARY_ITEM_KEEP = 10  # to their first lines and their last line


class ChunkEmitter:
    """Makes the chunks of one file (in :attr:`chunks`, with ids unique within the file)."""

    def __init__(self, path: str, spec: LanguageSpec, source: bytes, max_lines: int) -> None:
        self.path = path
        self.spec = spec
        self.source = source
        self.max_lines = max_lines
        self.lines = source.split(b"\n")
        self.chunks: list[Chunk] = []
        self.ids: set[str] = set()
        self.brace_language = spec.elision.strip().startswith("{")

    def _signature_end(self, definition: Definition) -> int:
        """Byte where the header ends: before the body (skipping comments between), else the first line."""
        match = definition.match
        body = match.body
        if body is not None:
            previous = body.prev_sibling
            while previous is not None and previous.is_extra:
                previous = previous.prev_sibling
            if previous is not None and previous.end_byte > definition.sig_start:
                return previous.end_byte
            return body.start_byte
        newline = self.source.find(b"\n", match.node.start_byte, match.node.end_byte)
        return newline if newline != -1 else match.node.end_byte

    def _signature(self, definition: Definition) -> str:
        if definition.match.signature is not None:
            return definition.match.signature
        header = self.source[definition.sig_start : self._signature_end(definition)].rstrip()
        if definition.match.body is None and self.brace_language:
            header = header.rstrip(b"{").rstrip()
        return header.decode("utf-8", "replace")

    def definition(self, definition: Definition) -> None:
        """The chunk of a definition (a summary for a class-like one), then those of its members."""
        match = definition.match
        qualified = ".".join(definition.parts)
        entries: list[tuple[int, bytes]] | None = None
        boundaries: list[int] | None = None
        if definition.members:
            summary = self._summary(definition)
            if summary is not None:
                entries, boundaries = summary
        defines = [match.name, *match.names, *(m.match.name for m in definition.members)]
        split_root = definition.outer
        self._add(
            kind=definition.kind,
            symbol=match.name,
            qualified=qualified,
            scope=".".join(definition.parts[:-1]),
            signature=self._signature(definition),
            start=definition.start_line,
            end=definition.end_line,
            defines=defines,
            entries=entries,
            entry_boundaries=boundaries,
            boundary_lines=lambda: self._statement_starts(split_root),
            label=qualified,
        )
        for member in definition.members:
            self.definition(member)

    def _summary(self, definition: Definition) -> tuple[list[tuple[int, bytes]], list[int]] | None:
        """A class-like definition with each own-chunk member reduced to its header: (lines, member starts).

        When that is still longer than the limit, long other members (docstrings, tables) keep their first
        and last lines only. None when members share lines with each other or with the header (one-line
        classes): the full text is the summary then.
        """
        summary = self._summary_lines(definition, elide_long=False)
        if summary is not None and len(summary[0]) > self.max_lines:
            summary = self._summary_lines(definition, elide_long=True)
        return summary

    def _summary_lines(
        self, definition: Definition, *, elide_long: bool
    ) -> tuple[list[tuple[int, bytes]], list[int]] | None:
        lines = self.lines
        elided: dict[int, int] = {}  # first elided line -> last elided line
        if elide_long:
            for start, end in definition.verbatim:
                if end - start + 1 > _SUMMARY_ITEM_LINES:
                    elided[start + _SUMMARY_ITEM_KEEP] = end - 1
        marker = self.spec.line_comment.encode() + b" ..."
        entries: list[tuple[int, bytes]] = []

        def copy(first: int, stop: int) -> None:
            if not elided:
                entries.extend(zip(range(first, stop), lines[first - 1 : stop - 1], strict=True))
                return
            number = first
            while number < stop:
                last = elided.get(number)
                if last is None:
                    entries.append((number, lines[number - 1]))
                    number += 1
                    continue
                text = lines[number - 1]
                indent = text[: len(text) - len(text.lstrip())]
                entries.append((number, indent + marker + f" ({last - number + 1} lines)".encode()))
                number = last + 1

        boundaries: list[int] = []
        cursor = definition.start_line
        elision = self.spec.elision.encode()
        outer_end = definition.outer.end_byte
        for member in definition.members:
            if member.start_line < cursor:
                return None
            if member.end_line >= definition.end_line and self.source[member.outer.end_byte : outer_end].strip():
                return None
            if cursor == definition.start_line or any(
                line.strip() for line in lines[cursor - 1 : member.start_line - 1]
            ):
                copy(cursor, member.start_line)  # (blank lines between two elided members are dropped)
            boundaries.append(len(entries))
            line_start = self.source.rfind(b"\n", 0, member.decl_byte) + 1
            header = self.source[line_start : self._signature_end(member)].rstrip().split(b"\n")
            header[-1] += elision
            entries.extend((member.decl_line + i, text) for i, text in enumerate(header))
            cursor = member.end_line + 1
        copy(cursor, definition.end_line + 1)
        return entries, boundaries

    def _statement_starts(self, root: Node) -> list[int]:
        """Lines where statements start inside a node (looking deeper only into oversized children)."""
        starts: set[int] = set()
        stack = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            for child in node.named_children:
                start = child.start_point.row + 1
                starts.add(start)
                if depth < _BOUNDARY_DEPTH and node_end_line(child) - start + 1 > self.max_lines:
                    stack.append((child, depth + 1))
        return sorted(starts)

    def module_runs(self, defs: list[Definition], loose: list[Loose]) -> None:
        """Module-level code between definitions, one chunk per run that holds a real statement."""
        lines = self.lines
        covered = sorted((d.start_line, d.end_line) for d in defs)
        gaps: list[tuple[int, int]] = []
        cursor = 1
        for start, end in covered:
            if start > cursor:
                gaps.append((cursor, start - 1))
            cursor = max(cursor, end + 1)
        if cursor <= len(lines):
            gaps.append((cursor, len(lines)))
        loose = sorted(loose, key=lambda item: item.start)
        first = 0
        for start, end in gaps:
            while start <= end and not lines[start - 1].strip():
                start += 1
            while end >= start and not lines[end - 1].strip():
                end -= 1
            if start > end:
                continue
            while first < len(loose) and loose[first].end < start:
                first += 1
            items = []
            index = first
            while index < len(loose) and loose[index].start <= end:
                if loose[index].end >= start:
                    items.append(loose[index])
                index += 1
            if not any(item.substantive for item in items):
                continue
            # Only the lines the statements span: not the `#endif` or `}` of a block around definitions.
            start = max(start, min(item.start for item in items))
            end = min(end, max(item.end for item in items))
            names = list(dict.fromkeys(n for item in items for n in item.names))
            starts = sorted({item.start for item in items})
            self._add(
                kind="module",
                symbol="",
                qualified="",
                scope="",
                signature="",
                start=start,
                end=end,
                defines=names,
                entries=None,
                entry_boundaries=None,
                boundary_lines=lambda starts=starts: starts,
                label=self.path,
            )

    def _add(
        self,
        *,
        kind: str,
        symbol: str,
        qualified: str,
        scope: str,
        signature: str,
        start: int,
        end: int,
        defines: list[str],
        entries: list[tuple[int, bytes]] | None,
        entry_boundaries: list[int] | None,
        boundary_lines: Callable[[], list[int]],
        label: str,
    ) -> None:
        """Make the chunk, or its parts when it is longer than the limit."""
        count = len(entries) if entries is not None else end - start + 1
        if count <= self.max_lines:
            if entries is not None:
                body = b"\n".join(e[1] for e in entries)
            else:
                body = b"\n".join(self.lines[start - 1 : end])
            self._chunk(kind, symbol, qualified, scope, signature, start, end, body, defines)
            return
        if entries is None:
            entries = [(n, self.lines[n - 1]) for n in range(start, end + 1)]
            entry_boundaries = [n - start for n in boundary_lines() if start < n <= end]
        parts = plan_parts(len(entries), entry_boundaries or [], self.max_lines)
        prefix = self.spec.line_comment
        for number, (first, stop) in enumerate(parts, 1):
            header = f"{prefix} (part {number} of {label})".encode()
            body = header + b"\n" + b"\n".join(e[1] for e in entries[first:stop])
            part_start, part_end = entries[first][0], entries[stop - 1][0]
            self._chunk(kind, symbol, qualified, scope, signature, part_start, part_end, body, defines)

    def _chunk(
        self,
        kind: str,
        symbol: str,
        qualified: str,
        scope: str,
        signature: str,
        start: int,
        end: int,
        body: bytes,
        defines: list[str],
    ) -> None:
        self.chunks.append(
            make_chunk(
                self.path,
                self.spec.key,
                self.spec,
                self.ids,
                kind,
                symbol,
                qualified,
                scope,
                signature,
                start,
                end,
                body,
                defines,
            )
        )


def plan_parts(count: int, boundaries: list[int], max_lines: int) -> list[tuple[int, int]]:
    """Cut `count` lines into [first, stop) parts of at most max_lines, preferring cuts at boundaries
    (indices where a statement or member starts) over cuts mid-statement."""
    boundaries = sorted(set(boundaries))
    parts: list[tuple[int, int]] = []
    first = 0
    while count - first > max_lines:
        limit = first + max_lines
        lowest = first + max(1, max_lines // 3)
        index = bisect.bisect_right(boundaries, limit) - 1
        cut = boundaries[index] if index >= 0 and boundaries[index] >= lowest else limit
        parts.append((first, cut))
        first = cut
    parts.append((first, count))
    return parts
