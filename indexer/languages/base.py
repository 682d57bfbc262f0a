"""What every language module shares: the spec type, the import binding, tree helpers and lexer pieces.

A language lives in one module of this package (``python.py``, ``javascript.py``, ...) that builds one
:class:`LanguageSpec` (or a few, for dialects) from the pieces here. The spec is everything the project knows
about the language: what the chunker needs (definition handlers, scopes, lexer, keywords), what retrieval
needs (import bindings and module resolution, local bindings, noise words, member headers, scope node
types), its comment syntax and its LSP language ids. Nothing outside this package branches on a language key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import tree_sitter

Node = tree_sitter.Node

# Kinds of chunk a definition can produce (see indexer.model.Chunk.kind).
CALLABLE_KINDS = frozenset({"function", "method"})
TYPE_KINDS = frozenset({"class", "struct", "interface", "enum", "impl"})
DEFINITION_KINDS = frozenset({*CALLABLE_KINDS, *TYPE_KINDS, "type", "constant"})


@dataclass(slots=True)
class DefMatch:
    """A definition found in the tree, as a language handler reports it."""

    kind: str  # function | class | struct | interface | enum | type | constant | impl ("method" is derived)
    name: str
    node: Node  # the definition node: its signature starts here (unless a wrapper contributes)
    body: Node | None = None  # the body: the signature ends before it; a container's members live in it
    container: bool = False  # members of `body` become chunks of their own (class-like)
    qualifier: tuple[str, ...] = ()  # explicit owner: Go receiver type, C++ `Foo::bar`, JS `Foo.prototype.x`
    names: tuple[str, ...] = ()  # further names defined (Go `const ( A = iota; B )`)
    signature: str | None = None  # an explicit signature when the header is not a prefix of the node


@dataclass(frozen=True, slots=True)
class ImportBinding:
    """One name an import statement binds in the importing file (the one reader of imports: the chunker
    records ``spec.import_path`` of each, retrieval resolves them to workspace files)."""

    local: str  # the name bound here ("Request", "osp", "os.path", "utils"); "*" for star imports; "" for none
    module: str  # the module as written (".models", "os.path", "./util", "crate::a::b", "<stdio.h>")
    name: str  # the imported name inside the module; "" when the binding is the module itself
    line: int  # 0-based line of the statement
    paths: tuple[str, ...] = ()  # workspace files the module (or the submodule ``name``) resolves to
    is_module: bool = False  # ``local`` names a module: ``import m``, ``from pkg import submodule``


def with_paths(binding: ImportBinding, paths: Sequence[str], is_module: bool | None = None) -> ImportBinding:
    """The binding resolved to ``paths`` (unchanged when there are none)."""
    if not paths:
        return binding
    return ImportBinding(
        binding.local,
        binding.module,
        binding.name,
        binding.line,
        tuple(paths),
        binding.is_module if is_module is None else is_module,
    )


class WorkspaceFiles(Protocol):
    """What module resolution may ask of the workspace (``srag_lsp.retrieval.workspace_modules``)."""

    package_prefix: str  # the workspace folder's name when it is itself a (Python) package, else ""

    def paths(self) -> set[str]: ...  # workspace-relative source files

    def directories(self) -> dict[str, list[str]]: ...  # folder -> its files

    def tail_match(self, tail: str) -> list[str]: ...  # the file whose path ends with ``tail`` (at most one)

    def derived(self, key: str, compute: Callable[[set[str]], object]) -> object: ...  # memo over paths()


Handler = Callable[[Node, bool], Sequence[DefMatch]]  # (node, inside a container) -> matches
ScopeHandler = Callable[[Node], "tuple[str, Node] | None"]  # node -> (scope name, body) or None
BindingReader = Callable[[Node], list[ImportBinding]]  # an import node -> the names it binds
NamesReader = Callable[[Node], list[str]]
Resolver = Callable[[WorkspaceFiles, str, ImportBinding], ImportBinding]  # (files, importer, binding)


@dataclass(slots=True)
class BindingContext:
    """Where the cursor is, for a language's reader of local bindings."""

    lines: list[str]  # the buffer's lines
    cursor_line: int  # 0-based
    function: Node | None  # the innermost enclosing function (None at module level or without a tree)
    function_start: int | None  # its first line, 0-based (None at module level)
    class_lines: tuple[int, int] | None  # the innermost enclosing class's lines, 0-based, end exclusive
    window_lines: int = 60  # at module level: how many lines above the cursor count

    def region(self) -> list[str]:
        """The lines from the enclosing function's start (or the window) to the cursor's line."""
        start = self.function_start if self.function_start is not None else self.cursor_line - self.window_lines
        return self.lines[max(0, start) : self.cursor_line + 1]


LocalBindingsReader = Callable[[BindingContext], "tuple[set[str], dict[str, str]]"]  # -> (names, name -> class)


@dataclass(frozen=True, slots=True)
class Wrapper:
    """A node that wraps one definition (decorators, `export`, C++ `template <...>`)."""

    field: str | None  # the field holding the definition; None: the last named child
    in_signature: bool  # the wrapper's own text starts the signature (`export function f()`)


def _module_path(binding: ImportBinding) -> str:
    return binding.module


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """Everything the project knows about one language."""

    key: str
    extensions: tuple[str, ...]
    grammar_module: str  # the grammar package (a single-grammar wheel)
    grammar_function: str  # its function returning the language capsule
    line_comment: str  # line comment syntax (split-chunk headers, prompt path headers)
    elision: str  # appended to a member's signature in a class summary
    definitions: Mapping[str, Handler]
    lexer: re.Pattern[bytes]  # pulls identifiers (group 1) out of code, skipping comments and strings
    lsp_ids: tuple[str, ...] = ()  # LSP languageId values that mean this language
    block_comment: tuple[str, str] | None = None  # ("/*", "*/") where the language has one
    wrappers: Mapping[str, Wrapper] = field(default_factory=dict)
    scopes: Mapping[str, ScopeHandler] = field(default_factory=dict)
    transparent: frozenset[str] = frozenset()  # look through these for definitions
    # Imports: node type -> the names it binds. The one reader for the chunker and for retrieval.
    imports: Mapping[str, BindingReader] = field(default_factory=dict)
    import_statements: frozenset[str] | None = None  # those of ``imports`` that are whole import statements
    # for the chunker (None: all); others (``const x = require("y")``) bind names but stay module code
    import_path: Callable[[ImportBinding], str] = _module_path  # the module path the chunker records
    source_imports: Callable[[bytes], list[str]] | None = None  # imports found by scanning the text
    comments: frozenset[str] = frozenset({"comment"})
    decorations: frozenset[str] = frozenset()  # siblings that belong to the next definition
    attach_comments: bool = True  # comments right above a definition belong to it
    trivial: frozenset[str] = frozenset()  # statements that alone do not make a module chunk
    assigned_names: NamesReader | None = None  # names a module-level statement binds
    identifiers: frozenset[str] = frozenset({"identifier"})  # node types that are identifiers
    keywords: frozenset[str] = frozenset()  # reserved words: never recorded, never looked up
    builtins: frozenset[str] = frozenset()  # predefined names: recorded in chunks, never looked up
    # Retrieval
    resolve: Resolver | None = None  # an import binding -> the workspace files it names
    local_bindings: LocalBindingsReader | None = None  # names bound in the enclosing function, and their types
    function_scopes: frozenset[str] = frozenset()  # node types of functions (the cursor's enclosing scope)
    class_scopes: frozenset[str] = frozenset()  # node types of classes
    member_header: re.Pattern[str] | None = None  # a member's header line inside a class body (outlines)
    module_assignment: re.Pattern[str] | None = None  # group 1: a name a module-level line binds (``codes = ...``)
    noise_words: frozenset[str] = field(init=False)  # keywords and builtins: names that say nothing
    keyword_bytes: frozenset[bytes] = field(init=False)  # the keywords, as the lexer sees them

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_words", self.keywords | self.builtins)
        object.__setattr__(self, "keyword_bytes", frozenset(k.encode() for k in self.keywords))

    @property
    def comment_prefix(self) -> str:
        """The line comment syntax (an alias of ``line_comment``)."""
        return self.line_comment


def words(text: str) -> frozenset[str]:
    """A keyword list written as one string of words."""
    return frozenset(text.split())


# --------------------------------------------------------------------------------------------------
# Small tree helpers shared by the handlers


def node_text(node: Node) -> str:
    """A node's source text."""
    return (node.text or b"").decode("utf-8", "replace")


_CONSTANT_NAME = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")
FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "generator_function"})


def is_constant_name(name: str) -> bool:
    """ALL_CAPS names (optionally with leading underscores) are constants by convention."""
    return _CONSTANT_NAME.match(name) is not None


def named(kind: str, *, container: bool = False, name_field: str = "name", body_field: str | None = "body") -> Handler:
    """A handler for definitions that spell their name (and body, if any) in the usual fields."""

    def handler(node: Node, in_container: bool) -> Sequence[DefMatch]:
        name = node.child_by_field_name(name_field)
        if name is None:
            return ()
        body = node.child_by_field_name(body_field) if body_field else None
        return (DefMatch(kind, node_text(name), node, body, container and body is not None),)

    handler.__qualname__ = f"named({kind}, container={container}, {name_field}, {body_field})"
    return handler


def top_level(handler: Handler) -> Handler:
    """Only at module level (constants, type aliases): inside a class they are part of its summary."""

    def wrapped(node: Node, in_container: bool) -> Sequence[DefMatch]:
        return () if in_container else handler(node, in_container)

    wrapped.__qualname__ = f"top_level({handler.__qualname__})"
    return wrapped


def first_named(node: Node, type_: str) -> Node | None:
    for child in node.named_children:
        if child.type == type_:
            return child
    return None


def string_content(node: Node | None) -> str | None:
    """The content of a string literal node, without quotes."""
    if node is None:
        return None
    text = node_text(node).strip()
    if len(text) >= 2 and text[0] in "\"'`" and text[-1] == text[0]:
        return text[1:-1]
    return text or None


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def text_of(node: Node | None) -> str:
    """A node's source text; "" for no node."""
    return node_text(node) if node is not None else ""


# --------------------------------------------------------------------------------------------------
# Local bindings: what several languages' readers share

_CALL_CLASS = re.compile(r"^(?:await[ \t]+)?(?:new[ \t]+)?([A-Za-z_][\w.]*)[ \t]*[(<{]")


def class_of_call(rhs: str) -> str:
    """``Cls(...)``, ``new mod.Cls(``, ``await Cls.create`` -> the class name it constructs; else ""."""
    match = _CALL_CLASS.match(rhs.strip())
    if not match:
        return ""
    name = match.group(1).rsplit(".", 1)[-1]
    return name if name[:1].isupper() else ""


def annotation_class(annotation: str, noise: frozenset[str] = frozenset()) -> str:
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
    if name in noise or not name[:1].isupper():
        return ""
    return name


# --------------------------------------------------------------------------------------------------
# Lexers: group 1 captures an identifier (of two or more characters); comments and strings match without
# capturing, so they are skipped.

IDENT = rb"([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]+)"  # one-letter names are not worth recording
C_COMMENTS = rb"//[^\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
DQ = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
SQ = rb"'[^'\\\n]*(?:\\.[^'\\\n]*)*'"
CHAR = rb"'(?:[^'\\\n]|\\.[^'\n]*)'"
BACKTICK = rb"`[^`\\]*(?:\\.[^`\\]*)*`"

# Each lexer opens with a run of bytes that cannot start anything of interest: matching such runs whole
# halves the time `findall` takes over stepping through them one byte at a time.
C_SKIP = rb"[^A-Za-z_\x80-\xff\"'/`]+|"
TEXT_LEXER = re.compile(IDENT)
