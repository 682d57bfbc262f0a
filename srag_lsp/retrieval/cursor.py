"""Cursor analysis: what the code around the cursor refers to, as the sources need it.

From a buffer and a position it finds: the partial identifier being typed (and the receiver before a dot),
the identifiers before and just after the cursor (nearest first, without keywords, builtins and names bound
locally), attribute accesses on known types as ``Class.member`` (``self.x`` in a class, ``obj.m`` where obj
was assigned ``Cls(...)`` or annotated ``: Cls`` nearby), the enclosing function and class, and the file's
imports resolved to workspace files. It parses with tree-sitter, incrementally from the document's last tree;
call it off the event loop.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Query, QueryCursor, Tree

from indexer.identifiers import IDENTIFIER
from indexer.languages import LANGUAGES, BindingContext, language_for_path, spec_for
from srag_lsp.retrieval.imports import ImportBinding, extract_imports
from srag_lsp.retrieval.scopes import Scope, enclosing_scopes, qualified_scope
from srag_lsp.retrieval.trees import DocumentTrees
from srag_lsp.retrieval.types import CursorQuery
from srag_lsp.retrieval.workspace_modules import WorkspaceModules

log = logging.getLogger(__name__)

WINDOW_LINES = 60  # lines before the cursor whose identifiers are "in play"
FTS_LINES = 20  # lines before the cursor that make the full-text query
AFTER_LINES = 8  # lines after the cursor whose identifiers count too (after all the ones before)
MAX_NAMES = 32
MAX_MEMBERS = 16

_CHAIN = re.compile(r"[A-Za-z_$][\w$]*(?:[ \t]*\.[ \t]*[A-Za-z_$][\w$]*)*")
_TRAILING_CHAIN = re.compile(r"([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)\s*\.\s*$")
_SELF_NAMES = frozenset({"self", "cls", "this", "super"})

_NO_LANGUAGE_NOISE = spec_for("python").noise_words  # a buffer without a grammar: Python's words are as good


def noise_words(language: str | None) -> frozenset[str]:
    """Keywords and builtins of the language: names that say nothing about what the cursor needs."""
    spec = LANGUAGES.get(language or "")
    return spec.noise_words if spec is not None else _NO_LANGUAGE_NOISE


@dataclass(slots=True)
class Attribute:
    receiver: str  # as written, dots without spaces ("self.session", "utils", "obj")
    member: str
    distance: int  # lines from the cursor (0: the cursor's line)


@dataclass(slots=True)
class CursorAnalysis:
    """Everything the sources need about one cursor position."""

    path: str
    language: str | None
    line: int  # 0-based, clamped to the buffer
    col: int
    partial: str  # the identifier being typed, up to the cursor ("" if none)
    line_prefix: str  # the cursor's line up to the partial identifier
    receiver: str  # the dotted expression before ``.partial`` ("" if none)
    receiver_class: str  # the class the receiver is known to be ("" if unknown)
    receiver_module: ImportBinding | None  # the import the receiver names, if it is a module
    names: list[str]  # identifiers in play, nearest first (no keywords, builtins or local bindings)
    members: list[str]  # "Class.member" for attribute accesses on known classes, nearest first
    attribute_names: list[str]  # members accessed on receivers of unknown type, nearest first
    module_members: list[tuple[ImportBinding, str, int]]  # (module import, member, distance), nearest first
    name_distance: dict[str, int]  # identifier -> lines from the cursor to its nearest use before it
    name_after: dict[str, int]  # identifier -> lines from the cursor to its first use after it (0: same line)
    scopes: list[Scope]
    scope: str  # qualified enclosing scope ("Session.request"; "" at module level)
    enclosing_function: str
    enclosing_class: str
    class_bases: list[str]
    local_names: set[str]
    local_types: dict[str, str]  # variable (or "self.attr") -> class name
    imports: list[ImportBinding]
    window_before: str  # the FTS_LINES lines before the cursor (the cursor's line up to the cursor)
    cursor_line: int  # 1-based (for dropping the chunk the cursor is in)
    window_keys: str = ""  # window_before with the string literals that are one name left in (dict keys)
    parse_ms: float = 0.0
    total_ms: float = 0.0
    incremental: bool = False
    notes: list[str] = field(default_factory=list)
    lookup: Any = None  # the request's shared symbol query (the retriever makes a copy with it), or None

    def import_for(self, local: str) -> ImportBinding | None:
        for binding in self.imports:
            if binding.local == local:
                return binding
        return None


def _cursor_offsets(text: str, line: int, col: int) -> tuple[list[str], int, int, int]:
    """The lines, the clamped (line, col) and the cursor's byte offset in the UTF-8 encoding."""
    lines = text.split("\n")
    line = max(0, min(line, len(lines) - 1))
    col = max(0, min(col, len(lines[line])))
    before = "\n".join(lines[:line])
    offset = len(before.encode("utf-8", "surrogatepass")) + (1 if line else 0)
    offset += len(lines[line][:col].encode("utf-8", "surrogatepass"))
    return lines, line, col, offset


_LITERAL_TYPES = (
    "string",
    "comment",
    "template_string",
    "interpreted_string_literal",
    "raw_string_literal",
    "string_literal",
    "line_comment",
    "block_comment",
    "char_literal",
    "text_block",
)
_literal_queries: dict[str, Query | None] = {}
_NOT_NEWLINE = re.compile(rb"[^\n]")
# A string literal that is one name: a dict key or an option (``options.get("line_statement_prefix")``,
# ``headers["Content-Length"]``). Such a key names what the code handles as well as an identifier does.
_NAME_LITERAL = re.compile(rb"""^[A-Za-z]{0,2}(['"`])[A-Za-z_][\w-]{1,48}\1$""")


def _literal_query(tree: Tree, language: str) -> Query | None:
    if language not in _literal_queries:
        grammar = tree.language
        kinds = [k for k in dict.fromkeys(_LITERAL_TYPES) if grammar.id_for_node_kind(k, True)]
        try:
            _literal_queries[language] = (
                Query(grammar, "[" + " ".join(f"({k})" for k in kinds) + "] @literal") if kinds else None
            )
        except Exception:
            _literal_queries[language] = None
    return _literal_queries[language]


def masked_text(tree: Tree | None, language: str | None, source: bytes, start: int, end: int) -> str:
    """``source[start:end]`` with strings and comments blanked (newlines kept), decoded."""
    return masked_windows(tree, language, source, start, end)[0]


def masked_windows(
    tree: Tree | None, language: str | None, source: bytes, start: int, end: int
) -> tuple[str, str]:
    """``source[start:end]`` with strings and comments blanked (newlines kept), decoded; and the same with the
    string literals that are one name (dict keys, option names) left in. One query for both."""
    window = bytearray(source[start:end])
    keyed = bytearray(window)
    query = _literal_query(tree, language) if tree is not None and language else None
    if query is not None:
        cursor = QueryCursor(query)
        cursor.set_byte_range(start, end)
        for nodes in cursor.captures(tree.root_node).values():
            for node in nodes:
                a, b = max(node.start_byte, start) - start, min(node.end_byte, end) - start
                if b <= a:
                    continue
                blank = _NOT_NEWLINE.sub(b" ", bytes(window[a:b]))
                window[a:b] = blank
                if not _NAME_LITERAL.match(source[node.start_byte : node.end_byte]):
                    keyed[a:b] = blank
    return window.decode("utf-8", "replace"), keyed.decode("utf-8", "replace")


def _bindings(
    language: str | None, lines: list[str], scopes: list[Scope], cursor_line: int, tree_ok: bool
) -> tuple[set[str], dict[str, str]]:
    """Names bound in the enclosing function before the cursor, and the classes some of them hold (the
    language spec's reader)."""
    spec = LANGUAGES.get(language or "")
    if spec is None or spec.local_bindings is None:
        return set(), {}
    functions = [s for s in scopes if s.kind == "function"]
    classes = [s for s in scopes if s.kind == "class"]
    return spec.local_bindings(
        BindingContext(
            lines=lines,
            cursor_line=cursor_line,
            function=functions[-1].node if functions and tree_ok else None,
            function_start=functions[-1].start_line - 1 if functions else None,
            class_lines=(classes[-1].start_line - 1, classes[-1].end_line) if classes else None,
            window_lines=WINDOW_LINES,
        )
    )


class CursorAnalyzer:
    """Analyses cursors; keeps each document's last tree for incremental re-parsing. Thread-safe."""

    def __init__(self, modules: WorkspaceModules | None = None, trees: DocumentTrees | None = None) -> None:
        self.modules = modules
        self.trees = trees or DocumentTrees()
        self._resolved: dict[tuple[str, ImportBinding], ImportBinding] = {}

    def forget(self, path: str) -> None:
        self.trees.forget(path)

    def clear_resolutions(self) -> None:
        self._resolved.clear()

    def _resolve(self, language: str | None, path: str, binding: ImportBinding) -> ImportBinding:
        if self.modules is None:
            return binding
        key = (path, binding)
        hit = self._resolved.get(key)
        if hit is None:
            hit = self.modules.resolve(language, path, binding)
            if len(self._resolved) > 20_000:
                self._resolved.clear()
            self._resolved[key] = hit
        return hit

    def analyze(self, ctx: CursorQuery) -> CursorAnalysis:
        started = time.perf_counter()
        language = ctx.language or _language_for_path(ctx.path)
        lines, line, col, offset = _cursor_offsets(ctx.text, ctx.line, ctx.col)
        notes: list[str] = []
        scopes: list[Scope] = []
        imports: list[ImportBinding] = []
        parse_ms = 0.0
        incremental = False
        tree_ok = False
        tree: Tree | None = None
        source = ctx.text.encode("utf-8", "surrogatepass")
        if language is not None:
            parse_started = time.perf_counter()
            try:
                parsed = self.trees.tree_for(ctx.path, language, source)
                tree = parsed.tree
                parse_ms = (time.perf_counter() - parse_started) * 1000
                incremental = parsed.incremental
                scopes = enclosing_scopes(parsed.tree, source, offset, language)
                function_nodes = [s.node for s in scopes if s.kind == "function"]
                imports = [
                    self._resolve(language, ctx.path, b)
                    for b in extract_imports(language, parsed.tree.root_node, function_nodes)
                ]
                tree_ok = True
            except Exception as exc:
                notes.append(f"no syntax tree ({exc})")
                log.debug("cursor analysis without a tree for %s: %s", ctx.path, exc)
        line_text = lines[line]
        head = line_text[:col]
        partial_match = re.search(r"[A-Za-z_$][\w$]*$", head)
        partial = partial_match.group(0) if partial_match else ""
        before_partial = head[: len(head) - len(partial)]
        receiver_match = _TRAILING_CHAIN.search(before_partial)
        receiver = re.sub(r"\s+", "", receiver_match.group(1)) if receiver_match else ""
        if partial and partial[0].isdigit():
            partial = ""

        local_names, local_types = _bindings(language, lines, scopes, line, tree_ok)
        classes = [s for s in scopes if s.kind == "class"]
        functions = [s for s in scopes if s.kind == "function"]
        enclosing_class = classes[-1].name if classes else ""
        class_bases = classes[-1].bases if classes else []
        imported = {b.local: b for b in imports}
        noise = noise_words(language)

        def receiver_target(expr: str) -> tuple[str, ImportBinding | None]:
            root = expr.split(".", 1)[0]
            if expr in ("self", "cls", "this") and enclosing_class:
                return enclosing_class, None
            if expr == "super()" and class_bases:
                return class_bases[0], None
            if expr in local_types:
                return local_types[expr], None
            binding = imported.get(expr) or (imported.get(root) if "." not in expr else None)
            if binding is not None and binding.is_module:
                return "", binding
            if expr in imported and imported[expr].name not in ("", "*"):
                # an imported name that is no module: a class (``Cls.attr``) or an object whose members the
                # defining module's class declares; its name there, whatever its case (``codes.get_reason_phrase``)
                return (expr if imported[expr].name == "default" else imported[expr].name), None
            if root not in local_names and expr[:1].isupper() and "." not in expr:
                return expr, None
            return "", None

        # Identifiers before the cursor, nearest first; then just after it.
        distance: dict[str, int] = {}
        counts: dict[str, int] = {}
        attributes: list[Attribute] = []
        first = max(0, line - WINDOW_LINES)
        window_start = len("\n".join(lines[:first]).encode("utf-8", "surrogatepass")) + (1 if first else 0)
        masked, keyed = (w.split("\n") for w in masked_windows(tree, language, source, window_start, offset))
        for text in (masked, keyed):
            text[-1] = text[-1][: max(0, len(text[-1]) - len(partial))]
        window = [(len(masked) - 1 - i, masked[i]) for i in range(len(masked) - 1, -1, -1)]
        for dist, text in window:
            if text.lstrip().startswith(("import ", "from ", "#include", "use ")):
                continue
            for chain in _CHAIN.finditer(text):
                parts = [p.strip() for p in chain.group(0).split(".")]
                preceded_by_dot = chain.start() > 0 and text[: chain.start()].rstrip().endswith(".")
                for i, part in enumerate(parts):
                    if i == 0 and not preceded_by_dot:
                        counts[part] = counts.get(part, 0) + 1
                        distance.setdefault(part, dist)
                    elif i > 0:
                        attributes.append(Attribute(".".join(parts[:i]), part, dist))
                    else:
                        attributes.append(Attribute("", part, dist))
        after: list[str] = []
        after_distance: dict[str, int] = {}
        after_end = offset + len(
            "\n".join([line_text[col:], *lines[line + 1 : line + 1 + AFTER_LINES]]).encode("utf-8", "surrogatepass")
        )
        for dist, text in enumerate(masked_text(tree, language, source, offset, after_end).split("\n")):
            for match in IDENTIFIER.finditer(text):
                after.append(match.group(0))
                after_distance.setdefault(match.group(0), dist)

        def wanted(name: str) -> bool:
            if len(name) < 2 or name in noise or name[0].isdigit():
                return False
            return name not in local_names or name in imported

        ordered = sorted(distance, key=lambda n: (distance[n], -counts[n]))
        names = [n for n in ordered if wanted(n)]
        for name in after:
            if wanted(name) and name not in distance and name not in names:
                names.append(name)
        names = names[:MAX_NAMES]

        members: list[str] = []
        attribute_names: list[str] = []
        module_members: list[tuple[ImportBinding, str, int]] = []
        seen_members: set[tuple[str, str]] = set()
        for attribute in attributes:
            if attribute.member in noise or len(attribute.member) < 2:
                continue
            cls, module = receiver_target(attribute.receiver) if attribute.receiver else ("", None)
            if cls:
                for owner in [cls, *(class_bases if attribute.receiver in _SELF_NAMES else [])]:
                    qualified = f"{owner}.{attribute.member}"
                    if qualified not in members:
                        members.append(qualified)
            elif module is not None:
                if (module.local, attribute.member) not in seen_members:
                    seen_members.add((module.local, attribute.member))
                    module_members.append((module, attribute.member, attribute.distance))
            elif attribute.member not in attribute_names and attribute.member not in names:
                attribute_names.append(attribute.member)
        receiver_class, receiver_module = receiver_target(receiver) if receiver else ("", None)

        window_before = "\n".join(masked[-(FTS_LINES + 1) :])
        return CursorAnalysis(
            path=ctx.path,
            language=language,
            line=line,
            col=col,
            partial=partial,
            line_prefix=before_partial,
            receiver=receiver,
            receiver_class=receiver_class,
            receiver_module=receiver_module,
            names=names,
            members=members[:MAX_MEMBERS],
            attribute_names=attribute_names[:MAX_NAMES],
            module_members=module_members[:MAX_MEMBERS],
            name_distance=distance,
            name_after=after_distance,
            scopes=scopes,
            scope=qualified_scope(scopes),
            enclosing_function=functions[-1].name if functions else "",
            enclosing_class=enclosing_class,
            class_bases=class_bases,
            local_names=local_names,
            local_types=local_types,
            imports=imports,
            window_before=window_before,
            window_keys="\n".join(keyed[-(FTS_LINES + 1) :]),
            cursor_line=line + 1,
            parse_ms=parse_ms,
            total_ms=(time.perf_counter() - started) * 1000,
            incremental=incremental,
            notes=notes,
        )


def _language_for_path(path: str) -> str | None:
    return language_for_path(path)
