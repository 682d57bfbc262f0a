"""Cutting one source file into index chunks: a chunk per definition, class summaries, module-level runs.

`chunk_file` parses the file with tree-sitter and walks only its structure (module level, class bodies,
namespaces, `if`/`try` and preprocessor blocks), never every node. Each definition (function, method,
class, struct, interface, enum, type alias, top-level constant) becomes a chunk with its signature, its
qualified name and the identifiers it defines and uses; a class-like chunk is a summary (its header and
members with method bodies elided) while each method is a chunk of its own. Module-level code between
definitions becomes `module` chunks. Oversized chunks are split into parts, each opening with a comment
that names the parent. Bad input never raises: syntax errors still yield what parsed (and an error note),
and a failure of the chunker itself falls back to plain line windows.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tree_sitter

from indexer.identifiers import token_string
from indexer.languages import (
    CALLABLE_KINDS,
    LANGUAGES,
    TEXT_LEXER,
    TYPE_KINDS,
    DefMatch,
    LanguageSpec,
    imports_of,
    language_for_path,
    parser_for,
)
from indexer.model import Chunk, FileChunks

log = logging.getLogger(__name__)

DEFAULT_MAX_CHUNK_LINES = 120
PLAIN_TEXT = "text"  # FileChunks.language for files without a grammar
_MIN_CHUNK_LINES = 4
_MAX_DEPTH = 48  # nesting of scopes/containers/blocks the walk follows (deeper is kept as text)
_BOUNDARY_DEPTH = 5  # how deep a split looks for statement starts
_SUMMARY_ITEM_LINES = 12  # in an oversized class summary, members longer than this are shortened
_SUMMARY_ITEM_KEEP = 10  # to their first lines and their last line

Node = tree_sitter.Node


def parse(language: str, source_bytes: bytes, old_tree: tree_sitter.Tree | None = None) -> tree_sitter.Tree:
    """Parse source with the language's grammar; pass the previous tree (after `Tree.edit`) to re-parse
    incrementally. Never fails on bad code: errors become ERROR/MISSING nodes in the tree."""
    parser = parser_for(language)
    if old_tree is None:
        return parser.parse(source_bytes)
    return parser.parse(source_bytes, old_tree)


def chunk_file(
    path: str,
    text: str,
    language: str | None = None,
    *,
    max_chunk_lines: int = DEFAULT_MAX_CHUNK_LINES,
    tree: tree_sitter.Tree | None = None,
) -> FileChunks:
    """Chunk one file. `path` is workspace-relative; `language` is inferred from the extension when None
    (files without a grammar become plain-text windows, language "text"); `tree` may be a tree already
    parsed from exactly `text`. Raises nothing on bad input."""
    path = path.replace("\\", "/")
    max_lines = max(_MIN_CHUNK_LINES, int(max_chunk_lines))
    source = text.encode("utf-8", "surrogatepass")
    key = language or language_for_path(path)
    if key is None or key not in LANGUAGES:
        if language is not None:
            log.warning("no grammar for language %r (%s); chunking it as plain text", language, path)
        return _plain_chunks(path, source, max_lines)
    try:
        if tree is None:
            tree = parse(key, source)
        return _FileChunker(path, LANGUAGES[key], source, tree, max_lines).run()
    except Exception as exc:  # a bug or a grammar surprise must not lose the file
        log.warning("chunking %s failed (%s: %s); indexing it as plain text", path, type(exc).__name__, exc)
        result = _plain_chunks(path, source, max_lines)
        result.language = key
        result.error = f"chunker failed: {type(exc).__name__}: {exc}"
        return result


# --------------------------------------------------------------------------------------------------


def _end_line(node: Node) -> int:
    """1-based last line of a node (a node ending at column 0 ends on the line before)."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row
    return end.row + 1


@dataclass(slots=True)
class _Def:
    """A definition found by the walk, with the lines it owns."""

    match: DefMatch
    kind: str
    parts: tuple[str, ...]  # qualified name, split
    start_line: int  # 1-based, including attached comments and decorations
    decl_line: int  # first line of decorations / the definition (without comments)
    decl_byte: int
    end_line: int
    sig_start: int  # byte where the signature starts
    outer: Node  # the node whose range is the definition (a wrapper, or the definition itself)
    members: list[_Def] = field(default_factory=list)  # members with chunks of their own
    verbatim: list[tuple[int, int]] = field(default_factory=list)  # line ranges of the other members


@dataclass(slots=True)
class _Loose:
    """A module-level statement that is not a definition."""

    start: int
    end: int
    substantive: bool  # False for imports, comments, `pass`, package clauses: alone they add nothing
    names: Sequence[str] = ()


class _FileChunker:
    def __init__(self, path: str, spec: LanguageSpec, source: bytes, tree: tree_sitter.Tree, max_lines: int):
        self.path = path
        self.spec = spec
        self.source = source
        self.tree = tree
        self.max_lines = max_lines
        self.lines = source.split(b"\n")
        self.defs: list[_Def] = []  # outermost definitions (members hang below them)
        self.loose: list[_Loose] = []
        self.imports: list[str] = []
        self.chunks: list[Chunk] = []
        self.ids: set[str] = set()
        self.brace_language = spec.elision.strip().startswith("{")

    # ---- the walk ----------------------------------------------------------------------------------

    def run(self) -> FileChunks:
        root = self.tree.root_node
        self._walk(root.named_children, (), None, 0, self.defs)
        for definition in self.defs:
            self._emit_definition(definition)
        self._emit_module_runs()
        if self.spec.source_imports is not None:
            self.imports.extend(self.spec.source_imports(self.source))
        self.chunks.sort(key=lambda c: (c.start_line, -c.end_line))
        error = _syntax_error(root) if root.has_error else None
        if error:
            log.debug("%s: %s", self.path, error)
        return FileChunks(
            path=self.path,
            language=self.spec.key,
            chunks=self.chunks,
            imports=list(dict.fromkeys(i for i in self.imports if i)),
            error=error,
        )

    def _walk(
        self,
        children: Sequence[Node],
        scope: tuple[str, ...],
        owner: _Def | None,
        depth: int,
        out: list[_Def],
        header_row: int = -1,
    ) -> bool:
        """Find definitions among sibling nodes; record the rest as loose statements. True if any found.

        `header_row`: the first line of an enclosing `if`/`#ifdef`; what lies wholly on it (the condition)
        is the block's header, not a statement of its own. `owner`: the class-like definition whose body
        this is (None at module level).
        """
        spec = self.spec
        in_container = owner is not None
        found = False
        pending: list[Node] = []  # comments/decorations that may belong to the next definition
        last_row = -1  # end row of the last non-comment sibling (a comment on it trails that statement)
        for child in children:
            kind = child.type
            if kind in spec.comments or kind in spec.decorations:
                if child.start_point.row == last_row or (pending and _end_line(pending[-1]) < child.start_point.row):
                    self._loose_all(pending, owner)
                    pending = []
                if child.start_point.row == last_row:
                    self._loose(child, owner)
                else:
                    pending.append(child)
                continue
            last_row = child.end_point.row
            matches = self._match(child, in_container)
            if matches:
                attached = self._attachable(pending, child) if len(matches) == 1 else []
                self._loose_all(pending[: len(pending) - len(attached)], owner)
                pending = []
                for match, outer, sig_start in matches:
                    definition = self._definition(match, outer, sig_start, attached, scope, in_container)
                    if definition is None:
                        continue
                    out.append(definition)
                    found = True
                    if match.container and match.body is not None and depth < _MAX_DEPTH:
                        self._walk(
                            match.body.named_children, definition.parts, definition, depth + 1, definition.members
                        )
                continue
            self._loose_all(pending, owner)
            pending = []
            scope_handler = spec.scopes.get(kind)
            scoped = scope_handler(child) if scope_handler is not None else None
            if (scoped is not None or kind in spec.transparent or kind == "ERROR") and depth < _MAX_DEPTH:
                inner_header = -1
                if scoped is not None:
                    name, body = scoped
                    inner_scope = scope + tuple(p for p in name.split(".") if p)
                    inner = body.named_children
                else:
                    inner_scope, inner = scope, child.named_children
                    if kind != "ERROR" and inner and inner[0].start_byte != child.start_byte:
                        inner_header = child.start_point.row  # `if cond:`, `#ifdef X`: a header line
                mark = len(self.loose)
                if self._walk(inner, inner_scope, owner, depth + 1, out, inner_header):
                    found = True
                elif not in_container:  # nothing defined inside: the whole block is one statement
                    inside = self.loose[mark:]
                    del self.loose[mark:]
                    self.loose.append(
                        _Loose(
                            child.start_point.row + 1,
                            _end_line(child),
                            any(item.substantive for item in inside),
                            [n for item in inside for n in item.names],
                        )
                    )
                continue
            if child.start_point.row == header_row and child.end_point.row == header_row:
                continue
            self._loose(child, owner)
        self._loose_all(pending, owner)
        return found

    def _match(self, node: Node, in_container: bool) -> list[tuple[DefMatch, Node, int]]:
        """Definitions at this node: (match, outer node, signature start byte)."""
        wrapper = self.spec.wrappers.get(node.type)
        if wrapper is not None:
            if wrapper.field is not None:
                inner = node.child_by_field_name(wrapper.field)
            else:
                named = [c for c in node.named_children if c.type not in self.spec.comments]
                inner = named[-1] if named else None
            if inner is None:
                return []
            found = self._match(inner, in_container)
            if len(found) != 1:
                return []
            match, _outer, sig_start = found[0]
            return [(match, node, node.start_byte if wrapper.in_signature else sig_start)]
        handler = self.spec.definitions.get(node.type)
        if handler is None:
            return []
        return [(m, m.node, m.node.start_byte) for m in handler(node, in_container)]

    def _attachable(self, pending: list[Node], node: Node) -> list[Node]:
        """The comments/decorations directly above a definition (no blank line between) that belong to it."""
        attached: list[Node] = []
        next_row = node.start_point.row
        for candidate in reversed(pending):
            if candidate.type in self.spec.comments and not self.spec.attach_comments:
                break
            if _end_line(candidate) < next_row:  # a blank line between
                break
            attached.append(candidate)
            next_row = candidate.start_point.row
        attached.reverse()
        return attached

    def _definition(
        self,
        match: DefMatch,
        outer: Node,
        sig_start: int,
        attached: list[Node],
        scope: tuple[str, ...],
        in_container: bool,
    ) -> _Def | None:
        kind = match.kind
        if in_container:  # members: methods and nested types get chunks; the rest stays in the summary
            if match.body is None or (kind not in CALLABLE_KINDS and kind not in TYPE_KINDS):
                return None
            if kind == "function":
                kind = "method"
        decorations = [n for n in attached if n.type in self.spec.decorations]
        decl = decorations[0] if decorations else outer
        return _Def(
            match=match,
            kind=kind,
            parts=(*scope, *match.qualifier, match.name),
            start_line=(attached[0] if attached else outer).start_point.row + 1,
            decl_line=decl.start_point.row + 1,
            decl_byte=decl.start_byte,
            end_line=_end_line(outer),
            sig_start=sig_start,
            outer=outer,
        )

    def _loose(self, node: Node, owner: _Def | None) -> None:
        if owner is not None:  # a member without a chunk of its own: summary text
            owner.verbatim.append((node.start_point.row + 1, _end_line(node)))
            return
        spec = self.spec
        kind = node.type
        if kind in spec.imports:
            paths = imports_of(spec.key, node)
            if paths:
                self.imports.extend(paths)
                self.loose.append(_Loose(node.start_point.row + 1, _end_line(node), False))
                return
        substantive = kind not in spec.trivial and kind not in spec.comments and kind not in spec.decorations
        names = spec.assigned_names(node) if substantive and spec.assigned_names is not None else ()
        self.loose.append(_Loose(node.start_point.row + 1, _end_line(node), substantive, names))

    def _loose_all(self, nodes: list[Node], owner: _Def | None) -> None:
        for node in nodes:
            self._loose(node, owner)

    # ---- emitting chunks ---------------------------------------------------------------------------

    def _signature_end(self, definition: _Def) -> int:
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

    def _signature(self, definition: _Def) -> str:
        if definition.match.signature is not None:
            return definition.match.signature
        header = self.source[definition.sig_start : self._signature_end(definition)].rstrip()
        if definition.match.body is None and self.brace_language:
            header = header.rstrip(b"{").rstrip()
        return header.decode("utf-8", "replace")

    def _emit_definition(self, definition: _Def) -> None:
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
            self._emit_definition(member)

    def _summary(self, definition: _Def) -> tuple[list[tuple[int, bytes]], list[int]] | None:
        """A class-like definition with each own-chunk member reduced to its header: (lines, member starts).

        When that is still longer than the limit, long other members (docstrings, tables) keep their first
        and last lines only. None when members share lines with each other or with the header (one-line
        classes): the full text is the summary then.
        """
        summary = self._summary_lines(definition, elide_long=False)
        if summary is not None and len(summary[0]) > self.max_lines:
            summary = self._summary_lines(definition, elide_long=True)
        return summary

    def _summary_lines(self, definition: _Def, *, elide_long: bool) -> tuple[list[tuple[int, bytes]], list[int]] | None:
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
                if depth < _BOUNDARY_DEPTH and _end_line(child) - start + 1 > self.max_lines:
                    stack.append((child, depth + 1))
        return sorted(starts)

    def _emit_module_runs(self) -> None:
        """Module-level code between definitions, one chunk per run that holds a real statement."""
        lines = self.lines
        covered = sorted((d.start_line, d.end_line) for d in self.defs)
        gaps: list[tuple[int, int]] = []
        cursor = 1
        for start, end in covered:
            if start > cursor:
                gaps.append((cursor, start - 1))
            cursor = max(cursor, end + 1)
        if cursor <= len(lines):
            gaps.append((cursor, len(lines)))
        loose = sorted(self.loose, key=lambda item: item.start)
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
        parts = _plan_parts(len(entries), entry_boundaries or [], self.max_lines)
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
            _make_chunk(
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


def _make_chunk(
    path: str,
    language: str,
    spec: LanguageSpec | None,
    ids: set[str],
    kind: str,
    symbol: str,
    qualified: str,
    scope: str,
    signature: str,
    start: int,
    end: int,
    body: bytes,
    defines: list[str],
) -> Chunk:
    content_hash = hashlib.sha1(body).hexdigest()
    key = qualified or f"@L{start}"
    chunk_id = hashlib.sha1(f"{path}\0{key}\0{content_hash}".encode("utf-8", "surrogatepass")).hexdigest()
    duplicate = 1
    while chunk_id in ids:  # the same name with the same text twice in a file: keep ids unique
        duplicate += 1
        chunk_id = hashlib.sha1(
            f"{path}\0{key}#{duplicate}\0{content_hash}".encode("utf-8", "surrogatepass")
        ).hexdigest()
    ids.add(chunk_id)
    lexer = spec.lexer if spec is not None else TEXT_LEXER
    keywords = spec.keyword_bytes if spec is not None else frozenset()
    if len(defines) > 1 or not all(defines):
        defines = list(dict.fromkeys(filter(None, defines)))
    found = set(lexer.findall(body))  # set operations and one decode: no Python loop per identifier
    found.discard(b"")
    found -= keywords
    if defines:
        found.difference_update([d.encode("utf-8", "surrogatepass") for d in defines])
    uses = sorted(b"\0".join(found).decode("utf-8", "replace").split("\0")) if found else []
    scope_parts = scope.split(".") if scope else []
    return Chunk(
        id=chunk_id,
        path=path,
        language=language,
        symbol=symbol,
        qualified_name=qualified,
        kind=kind,
        start_line=start,
        end_line=end,
        signature=signature,
        scope=scope,
        text=body.decode("utf-8", "replace"),
        content_hash=content_hash,
        defines=defines,
        uses=uses,
        tokens=token_string([*scope_parts, *defines, *uses]),
    )


def _plan_parts(count: int, boundaries: list[int], max_lines: int) -> list[tuple[int, int]]:
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


def _syntax_error(root: Node) -> str:
    """A short description of the first syntax error in a tree (the innermost error node on the way)."""
    node = root
    for _ in range(10_000):
        descend = None
        for child in node.children:
            if child.is_missing:
                row, column = child.start_point
                return f"syntax error: missing {child.type!r} at line {row + 1}, column {column + 1}"
            if child.has_error:
                descend = child
                break
        if descend is None:
            break
        node = descend
    row, column = node.start_point
    return f"syntax error at line {row + 1}, column {column + 1}"


def _plain_chunks(path: str, source: bytes, max_lines: int) -> FileChunks:
    """Line windows (cut at blank lines where possible) for files without a grammar."""
    lines = source.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    boundaries = [i for i in range(1, len(lines)) if not lines[i - 1].strip()]
    chunks: list[Chunk] = []
    ids: set[str] = set()
    if lines:
        for first, stop in _plan_parts(len(lines), boundaries, max_lines):
            while first < stop and not lines[first].strip():
                first += 1
            if first >= stop:
                continue
            body = b"\n".join(lines[first:stop])
            chunks.append(_make_chunk(path, PLAIN_TEXT, None, ids, "module", "", "", "", "", first + 1, stop, body, []))
    return FileChunks(path=path, language=PLAIN_TEXT, chunks=chunks, imports=[])
