"""Finding what a parsed file defines: the structural walk that the chunker's chunks are made from.

The walk follows only a file's structure (module level, class bodies, namespaces, `if`/`try` and
preprocessor blocks), never every node. It records each definition with the lines it owns (attached
comments and decorations included) and its members, every other module-level statement as a loose one,
and the file's imports. Turning these into chunks is :mod:`indexer.chunk_emit`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import tree_sitter

from indexer.languages import CALLABLE_KINDS, TYPE_KINDS, DefMatch, LanguageSpec, imports_of

_MAX_DEPTH = 48  # nesting of scopes/containers/blocks the walk follows (deeper is kept as text)

Node = tree_sitter.Node


def node_end_line(node: Node) -> int:
    """1-based last line of a node (a node ending at column 0 ends on the line before)."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row
    return end.row + 1


@dataclass(slots=True)
class Definition:
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
    members: list[Definition] = field(default_factory=list)  # members with chunks of their own
    verbatim: list[tuple[int, int]] = field(default_factory=list)  # line ranges of the other members


@dataclass(slots=True)
class Loose:
    """A module-level statement that is not a definition."""

    start: int
    end: int
    substantive: bool  # False for imports, comments, `pass`, package clauses: alone they add nothing
    names: Sequence[str] = ()


class DefinitionWalk:
    """The definitions, loose statements and imports of one parsed file (see :meth:`run`)."""

    def __init__(self, spec: LanguageSpec, source: bytes) -> None:
        self.spec = spec
        self.source = source
        self.defs: list[Definition] = []  # outermost definitions (members hang below them)
        self.loose: list[Loose] = []
        self.imports: list[str] = []

    def run(self, root: Node) -> None:
        self._walk(root.named_children, (), None, 0, self.defs)
        if self.spec.source_imports is not None:
            self.imports.extend(self.spec.source_imports(self.source))

    def _walk(
        self,
        children: Sequence[Node],
        scope: tuple[str, ...],
        owner: Definition | None,
        depth: int,
        out: list[Definition],
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
                if child.start_point.row == last_row or (
                    pending and node_end_line(pending[-1]) < child.start_point.row
                ):
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
                        Loose(
                            child.start_point.row + 1,
                            node_end_line(child),
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
            if node_end_line(candidate) < next_row:  # a blank line between
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
    ) -> Definition | None:
        kind = match.kind
        if in_container:  # members: methods and nested types get chunks; the rest stays in the summary
            if match.body is None or (kind not in CALLABLE_KINDS and kind not in TYPE_KINDS):
                return None
            if kind == "function":
                kind = "method"
        decorations = [n for n in attached if n.type in self.spec.decorations]
        decl = decorations[0] if decorations else outer
        return Definition(
            match=match,
            kind=kind,
            parts=(*scope, *match.qualifier, match.name),
            start_line=(attached[0] if attached else outer).start_point.row + 1,
            decl_line=decl.start_point.row + 1,
            decl_byte=decl.start_byte,
            end_line=node_end_line(outer),
            sig_start=sig_start,
            outer=outer,
        )

    def _loose(self, node: Node, owner: Definition | None) -> None:
        if owner is not None:  # a member without a chunk of its own: summary text
            owner.verbatim.append((node.start_point.row + 1, node_end_line(node)))
            return
        spec = self.spec
        kind = node.type
        if kind in spec.imports:
            paths = imports_of(spec.key, node)
            if paths:
                self.imports.extend(paths)
                self.loose.append(Loose(node.start_point.row + 1, node_end_line(node), False))
                return
        substantive = kind not in spec.trivial and kind not in spec.comments and kind not in spec.decorations
        names = spec.assigned_names(node) if substantive and spec.assigned_names is not None else ()
        self.loose.append(Loose(node.start_point.row + 1, node_end_line(node), substantive, names))

    def _loose_all(self, nodes: list[Node], owner: Definition | None) -> None:
        for node in nodes:
            self._loose(node, owner)
