"""Cursor analysis: what the code around the cursor refers to, as the sources need it.

From a buffer and a position it finds: the partial identifier being typed (and the receiver before a dot),
the identifiers before and just after the cursor (nearest first, without keywords, builtins and names bound
locally), attribute accesses on known types as ``Class.member`` (``self.x`` in a class, ``obj.m`` where obj
was assigned ``Cls(...)`` or annotated ``: Cls`` nearby), the enclosing function and class, and the file's
imports resolved to workspace files. It parses with tree-sitter, incrementally from the document's last tree;
call it off the event loop.
"""

from __future__ import annotations

import builtins
import keyword
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Node, Query, QueryCursor, Tree

from srag_lsp.retrieval.imports import ImportBinding, extract_imports
from srag_lsp.retrieval.scopes import Scope, enclosing_scopes, qualified_scope
from srag_lsp.retrieval.trees import DocumentTrees
from srag_lsp.retrieval.types import CursorContext
from srag_lsp.retrieval.workspace_modules import WorkspaceModules

log = logging.getLogger(__name__)

WINDOW_LINES = 60  # lines before the cursor whose identifiers are "in play"
FTS_LINES = 20  # lines before the cursor that make the full-text query
AFTER_LINES = 8  # lines after the cursor whose identifiers count too (after all the ones before)
MAX_NAMES = 32
MAX_MEMBERS = 16

_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_CHAIN = re.compile(r"[A-Za-z_$][\w$]*(?:[ \t]*\.[ \t]*[A-Za-z_$][\w$]*)*")
_TRAILING_CHAIN = re.compile(r"([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)\s*\.\s*$")
_SELF_NAMES = frozenset({"self", "cls", "this", "super"})

_JS_KEYWORDS = frozenset(
    "break case catch class const continue debugger default delete do else export extends finally for "
    "function if import in instanceof new return super switch this throw try typeof var void while with "
    "yield let static enum await implements package protected interface private public null true false "
    "undefined async of from as type declare readonly abstract any number string boolean never unknown "
    "console require module exports Object Array String Number Boolean Promise Map Set JSON Math Error".split()
)
_OTHER_KEYWORDS = frozenset(
    "fn let mut pub impl struct enum trait use mod crate self super where match loop as ref move dyn "
    "func package var const type map chan go defer range select interface nil true false "
    "public private protected static final void int long char float double boolean byte short new class "
    "extends implements import return if else for while do switch case break continue try catch throw "
    "throws this null include define ifdef ifndef endif struct typedef unsigned signed sizeof auto "
    "namespace template typename virtual override const_cast static_cast std string vector String Vec "
    "Option Some None Ok Err Result Box".split()
)
_PY_NOISE = frozenset({*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "self", "cls"})


def noise_words(language: str | None) -> frozenset[str]:
    if language == "python" or language is None:
        return _PY_NOISE
    if language in ("javascript", "typescript", "tsx"):
        return _JS_KEYWORDS
    return _OTHER_KEYWORDS


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
    parse_ms: float = 0.0
    total_ms: float = 0.0
    incremental: bool = False
    notes: list[str] = field(default_factory=list)
    lookup: Any = None  # per-request scratch the retriever attaches (a shared symbol query), or None

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


def _normalize_annotation(annotation: str) -> str:
    """``Optional[Session]``, ``"Session"``, ``Session | None``, ``models.Session`` -> ``Session``; else ""."""
    text = annotation.strip().strip("\"'")
    match = re.fullmatch(r"(?:typing\.)?Optional\[(.+)\]", text)
    if match:
        text = match.group(1)
    parts = [p.strip().strip("\"'") for p in text.split("|") if p.strip() not in ("None", "null", "undefined")]
    if len(parts) != 1:
        return ""
    text = parts[0]
    if not re.fullmatch(r"[A-Za-z_][\w.]*", text):
        return ""
    name = text.rsplit(".", 1)[-1]
    if name in _PY_NOISE or not name[:1].isupper():
        return ""
    return name


_PY_ASSIGN = re.compile(
    r"^[ \t]*([A-Za-z_][\w]*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)[ \t]*(?::[ \t]*([^=\n]+?))?[ \t]*=(?!=)[ \t]*(.*)$"
)
_PY_SELF_ATTR = re.compile(r"^[ \t]*self\.([A-Za-z_]\w*)[ \t]*(?::[ \t]*([^=\n]+?))?[ \t]*(?:=(?!=)[ \t]*(.*))?$")
_PY_FOR = re.compile(r"\bfor[ \t]+([\w, \t]+?)[ \t]+in\b")
_PY_AS = re.compile(r"\bas[ \t]+([A-Za-z_]\w*)")
_PY_WITH_AS = re.compile(r"\bwith[ \t]+([A-Za-z_][\w.]*)[ \t]*\(.*\)[ \t]+as[ \t]+([A-Za-z_]\w*)")
_CALL_CLASS = re.compile(r"^(?:await[ \t]+)?(?:new[ \t]+)?([A-Za-z_][\w.]*)[ \t]*[(<{]")
_JS_DECL = re.compile(
    r"\b(?:const|let|var)[ \t]+([A-Za-z_$][\w$]*)[ \t]*(?::[ \t]*([^=;\n]+?))?[ \t]*(?:=[ \t]*(.*))?$"
)
_JS_PARAM = re.compile(r"([A-Za-z_$][\w$]*)[ \t]*\??:[ \t]*([A-Z][\w.]*)")
_GO_DECL = re.compile(r"\b([A-Za-z_]\w*)[ \t]*:=[ \t]*&?([A-Za-z_][\w.]*)[ \t]*[{(]")
_GO_VAR = re.compile(r"\bvar[ \t]+([A-Za-z_]\w*)[ \t]+\*?([A-Z][\w.]*)")


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
    window = bytearray(source[start:end])
    query = _literal_query(tree, language) if tree is not None and language else None
    if query is not None:
        cursor = QueryCursor(query)
        cursor.set_byte_range(start, end)
        for nodes in cursor.captures(tree.root_node).values():
            for node in nodes:
                a, b = max(node.start_byte, start) - start, min(node.end_byte, end) - start
                if b > a:
                    window[a:b] = _NOT_NEWLINE.sub(b" ", bytes(window[a:b]))
    return window.decode("utf-8", "replace")


def _class_of_call(rhs: str) -> str:
    match = _CALL_CLASS.match(rhs.strip())
    if not match:
        return ""
    name = match.group(1).rsplit(".", 1)[-1]
    return name if name[:1].isupper() else ""


def _python_parameters(function: Node, local_names: set[str], local_types: dict[str, str]) -> None:
    params = function.child_by_field_name("parameters")
    if params is None:
        return
    for child in params.children:
        name_node: Node | None = None
        type_node = child.child_by_field_name("type")
        if child.type == "identifier":
            name_node = child
        elif child.type in ("default_parameter", "typed_default_parameter"):
            name_node = child.child_by_field_name("name")
        elif child.type in ("typed_parameter", "list_splat_pattern", "dictionary_splat_pattern"):
            name_node = next((c for c in child.children if c.type == "identifier"), None)
        if name_node is None or name_node.text is None:
            continue
        name = name_node.text.decode("utf-8", "replace")
        local_names.add(name)
        if type_node is not None and type_node.text is not None:
            cls = _normalize_annotation(type_node.text.decode("utf-8", "replace"))
            if cls:
                local_types[name] = cls


def _bindings(
    language: str | None, lines: list[str], scopes: list[Scope], cursor_line: int, tree_ok: bool
) -> tuple[set[str], dict[str, str]]:
    """Names bound in the enclosing function before the cursor, and the classes some of them hold."""
    local_names: set[str] = set()
    local_types: dict[str, str] = {}
    functions = [s for s in scopes if s.kind == "function"]
    classes = [s for s in scopes if s.kind == "class"]
    start = functions[-1].start_line - 1 if functions else max(0, cursor_line - WINDOW_LINES)
    region = lines[start : cursor_line + 1]
    if language == "python":
        if functions and tree_ok:
            _python_parameters(functions[-1].node, local_names, local_types)
        for text in region:
            match = _PY_ASSIGN.match(text)
            if match:
                targets = [t.strip() for t in match.group(1).split(",")]
                if functions:
                    local_names.update(targets)
                if len(targets) == 1:
                    cls = _normalize_annotation(match.group(2) or "") or _class_of_call(match.group(3))
                    if cls:
                        local_types[targets[0]] = cls
            for match in _PY_WITH_AS.finditer(text):
                cls = match.group(1).rsplit(".", 1)[-1]
                local_names.add(match.group(2))
                if cls[:1].isupper():
                    local_types[match.group(2)] = cls
            if functions:
                for match in _PY_FOR.finditer(text):
                    local_names.update(t.strip() for t in match.group(1).split(",") if t.strip())
                for match in _PY_AS.finditer(text):
                    if not text.lstrip().startswith(("import", "from")):
                        local_names.add(match.group(1))
        if classes:
            cls_scope = classes[-1]
            for text in lines[cls_scope.start_line - 1 : min(cls_scope.end_line, len(lines))]:
                match = _PY_SELF_ATTR.match(text)
                if match:
                    cls = _normalize_annotation(match.group(2) or "") or _class_of_call(match.group(3) or "")
                    if cls:
                        local_types.setdefault("self." + match.group(1), cls)
    elif language in ("javascript", "typescript", "tsx"):
        for text in region:
            for match in _JS_DECL.finditer(text):
                if functions:
                    local_names.add(match.group(1))
                cls = _normalize_annotation(match.group(2) or "") or _class_of_call(match.group(3) or "")
                if cls:
                    local_types[match.group(1)] = cls
        if functions:
            header = lines[functions[-1].start_line - 1] if functions[-1].start_line - 1 < len(lines) else ""
            for match in _JS_PARAM.finditer(header):
                local_names.add(match.group(1))
                local_types[match.group(1)] = match.group(2).rsplit(".", 1)[-1]
    elif language == "go":
        for text in region:
            for match in _GO_DECL.finditer(text):
                local_names.add(match.group(1))
                cls = match.group(2).rsplit(".", 1)[-1]
                if cls[:1].isupper():
                    local_types[match.group(1)] = cls
            for match in _GO_VAR.finditer(text):
                local_names.add(match.group(1))
                local_types[match.group(1)] = match.group(2).rsplit(".", 1)[-1]
    return local_names, local_types


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

    def analyze(self, ctx: CursorContext) -> CursorAnalysis:
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
            if expr in imported and expr[:1].isupper():
                return expr, None  # an imported class: Cls.attr
            if root not in local_names and expr[:1].isupper() and "." not in expr:
                return expr, None
            return "", None

        # Identifiers before the cursor, nearest first; then just after it.
        distance: dict[str, int] = {}
        counts: dict[str, int] = {}
        attributes: list[Attribute] = []
        first = max(0, line - WINDOW_LINES)
        window_start = len("\n".join(lines[:first]).encode("utf-8", "surrogatepass")) + (1 if first else 0)
        masked = masked_text(tree, language, source, window_start, offset).split("\n")
        masked[-1] = masked[-1][: max(0, len(masked[-1]) - len(partial))]
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
            for match in _IDENT.finditer(text):
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
            cursor_line=line + 1,
            parse_ms=parse_ms,
            total_ms=(time.perf_counter() - started) * 1000,
            incremental=incremental,
            notes=notes,
        )


def _language_for_path(path: str) -> str | None:
    try:
        from indexer.languages import language_for_path
    except ImportError:  # pragma: no cover - the indexer is part of this project
        return None
    return language_for_path(path)
