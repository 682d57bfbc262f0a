"""The language table: which files are which language, and how each grammar's tree names its definitions.

One `LanguageSpec` per language holds everything the chunker needs to know about a grammar: the file
extensions, where the grammar comes from, the node types that are definitions (and a small handler that
reads a definition's kind, name and body), the node types that open a named scope (namespaces, Rust
`mod`), the structural nodes to look through (`if`/`try` at module level, preprocessor conditionals,
error nodes), the import statements and how to read their module paths, the comment and identifier node
types, and a lexer that pulls identifiers out of code while skipping comments and strings.

Adding a language = one `LanguageSpec` entry in `LANGUAGES` (plus handlers if its grammar needs them).
"""

from __future__ import annotations

import functools
import importlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import tree_sitter

Node = tree_sitter.Node

# Kinds of chunk a definition can produce (see indexer.model.Chunk.kind).
CALLABLE_KINDS = frozenset({"function", "method"})
TYPE_KINDS = frozenset({"class", "struct", "interface", "enum", "impl"})


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


Handler = Callable[[Node, bool], Sequence[DefMatch]]  # (node, inside a container) -> matches
ScopeHandler = Callable[[Node], "tuple[str, Node] | None"]  # node -> (scope name, body) or None
ImportReader = Callable[[Node], list[str]]
NamesReader = Callable[[Node], list[str]]


@dataclass(frozen=True, slots=True)
class Wrapper:
    """A node that wraps one definition (decorators, `export`, C++ `template <...>`)."""

    field: str | None  # the field holding the definition; None: the last named child
    in_signature: bool  # the wrapper's own text starts the signature (`export function f()`)


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """Everything the chunker knows about one language."""

    key: str
    extensions: tuple[str, ...]
    grammar_module: str  # the grammar package (a single-grammar wheel)
    grammar_function: str  # its function returning the language capsule
    comment_prefix: str  # line comment syntax, for the header of split chunks
    elision: str  # appended to a member's signature in a class summary
    definitions: Mapping[str, Handler]
    lexer: re.Pattern[bytes]  # pulls identifiers (group 1) out of code, skipping comments and strings
    wrappers: Mapping[str, Wrapper] = field(default_factory=dict)
    scopes: Mapping[str, ScopeHandler] = field(default_factory=dict)
    transparent: frozenset[str] = frozenset()  # look through these for definitions
    imports: Mapping[str, ImportReader] = field(default_factory=dict)
    source_imports: Callable[[bytes], list[str]] | None = None  # imports found by scanning the text
    comments: frozenset[str] = frozenset({"comment"})
    decorations: frozenset[str] = frozenset()  # siblings that belong to the next definition
    attach_comments: bool = True  # comments right above a definition belong to it
    trivial: frozenset[str] = frozenset()  # statements that alone do not make a module chunk
    assigned_names: NamesReader | None = None  # names a module-level statement binds
    identifiers: frozenset[str] = frozenset({"identifier"})  # node types that are identifiers
    keywords: frozenset[bytes] = frozenset()  # identifiers that are not worth recording


# --------------------------------------------------------------------------------------------------
# Small tree helpers shared by the handlers


def node_text(node: Node) -> str:
    """A node's source text."""
    return (node.text or b"").decode("utf-8", "replace")


_CONSTANT_NAME = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "generator_function"})


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


def _first_named(node: Node, type_: str) -> Node | None:
    for child in node.named_children:
        if child.type == type_:
            return child
    return None


def _string_content(node: Node | None) -> str | None:
    """The content of a string literal node, without quotes."""
    if node is None:
        return None
    text = node_text(node).strip()
    if len(text) >= 2 and text[0] in "\"'`" and text[-1] == text[0]:
        return text[1:-1]
    return text or None


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


# --------------------------------------------------------------------------------------------------
# Lexers: group 1 captures an identifier (of two or more characters); comments and strings match without
# capturing, so they are skipped.

_IDENT = rb"([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]+)"  # one-letter names are not worth recording
_C_COMMENTS = rb"//[^\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
_DQ = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_SQ = rb"'[^'\\\n]*(?:\\.[^'\\\n]*)*'"
_CHAR = rb"'(?:[^'\\\n]|\\.[^'\n]*)'"
_BACKTICK = rb"`[^`\\]*(?:\\.[^`\\]*)*`"

# Each lexer opens with a run of bytes that cannot start anything of interest: matching such runs whole
# halves the time `findall` takes over stepping through them one byte at a time.
PYTHON_LEXER = re.compile(
    rb"[^A-Za-z_\x80-\xff\"'#]+|(?:[rRbBuUfF]{1,2})?(?:"
    rb'"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    rb"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''|" + _DQ + rb"|" + _SQ + rb")|#[^\n]*|" + _IDENT,
    re.S,
)
_C_SKIP = rb"[^A-Za-z_\x80-\xff\"'/`]+|"
JS_LEXER = re.compile(_C_SKIP + _C_COMMENTS + rb"|" + _DQ + rb"|" + _SQ + rb"|" + _BACKTICK + rb"|" + _IDENT, re.S)
GO_LEXER = re.compile(_C_SKIP + _C_COMMENTS + rb"|" + _DQ + rb"|" + _CHAR + rb"|`[^`]*`|" + _IDENT, re.S)
RUST_LEXER = re.compile(_C_SKIP + _C_COMMENTS + rb"|" + _DQ + rb"|" + _CHAR + rb"|" + _IDENT, re.S)
JAVA_LEXER = re.compile(
    _C_SKIP + rb'"""(?:[^"\\]|\\.|"(?!""))*"""|' + _C_COMMENTS + rb"|" + _DQ + rb"|" + _CHAR + rb"|" + _IDENT, re.S
)
C_LEXER = re.compile(_C_SKIP + _C_COMMENTS + rb"|" + _DQ + rb"|" + _CHAR + rb"|" + _IDENT, re.S)
TEXT_LEXER = re.compile(_IDENT)


def _words(text: str) -> frozenset[bytes]:
    return frozenset(w.encode() for w in text.split())


PYTHON_KEYWORDS = _words(
    "False None True and as assert async await break class continue def del elif else except finally for "
    "from global if import in is lambda nonlocal not or pass raise return try while with yield match case "
    "type self cls print"
)
JS_KEYWORDS = _words(
    "break case catch class const continue debugger default delete do else export extends false finally for "
    "function if import in instanceof let new null return super switch this throw true try typeof var void "
    "while with yield async await of static get set undefined require"
)
TS_KEYWORDS = JS_KEYWORDS | _words(
    "abstract any as asserts boolean declare enum implements interface is keyof module namespace never number "
    "object private protected public readonly string symbol type unknown infer override satisfies"
)
GO_KEYWORDS = _words(
    "break case chan const continue default defer else fallthrough for func go goto if import interface map "
    "package range return select struct switch type var nil true false iota int int8 int16 int32 int64 uint "
    "uint8 uint16 uint32 uint64 uintptr float32 float64 string bool byte rune error any"
)
RUST_KEYWORDS = _words(
    "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match "
    "mod move mut pub ref return self Self static struct super trait true type unsafe use where while "
    "i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str"
)
JAVA_KEYWORDS = _words(
    "abstract assert boolean break byte case catch char class const continue default do double else enum "
    "extends final finally float for goto if implements import instanceof int interface long native new "
    "package private protected public return short static strictfp super switch synchronized this throw "
    "throws transient try void volatile while true false null var record yield sealed permits"
)
C_KEYWORDS = _words(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while NULL bool true false define include ifdef ifndef endif elif pragma undef defined"
)
CPP_KEYWORDS = C_KEYWORDS | _words(
    "alignas alignof and asm catch class constexpr consteval constinit const_cast decltype delete "
    "dynamic_cast explicit export friend mutable namespace new noexcept not nullptr operator or override "
    "private protected public reinterpret_cast static_assert static_cast template this throw try typeid "
    "typename using virtual final concept requires co_await co_return co_yield std"
)


# --------------------------------------------------------------------------------------------------
# Python


def _py_constant(node: Node, in_container: bool) -> Sequence[DefMatch]:
    if in_container:
        return ()
    assignment = node.named_child(0)
    if assignment is None or assignment.type != "assignment":
        return ()
    left = assignment.child_by_field_name("left")
    if left is None or left.type != "identifier":
        return ()
    name = node_text(left)
    return (DefMatch("constant", name, node),) if is_constant_name(name) else ()


def _py_type_alias(node: Node, in_container: bool) -> Sequence[DefMatch]:
    if in_container:
        return ()
    left = node.child_by_field_name("left")
    match = re.match(r"[^\W\d]\w*", node_text(left)) if left is not None else None
    return (DefMatch("type", match.group(0), node),) if match else ()


def _py_imports(node: Node) -> list[str]:
    if node.type == "future_import_statement":
        return ["__future__"]
    if node.type == "import_statement":
        out = []
        for name in node.children_by_field_name("name"):
            target = name.child_by_field_name("name") if name.type == "aliased_import" else name
            if target is not None:
                out.append(node_text(target))
        return out
    module = node.child_by_field_name("module_name")
    if module is None:
        return []
    module_name = node_text(module).replace(" ", "")
    if module_name.strip(".") == "":
        # `from . import a, b`: the names are the modules.
        out = []
        for name in node.children_by_field_name("name"):
            target = name.child_by_field_name("name") if name.type == "aliased_import" else name
            if target is not None:
                out.append(module_name + node_text(target))
        return out or [module_name]
    return [module_name]


def _py_assigned(node: Node) -> list[str]:
    if node.type != "expression_statement":
        return []
    out: list[str] = []
    child = node.named_child(0)
    while child is not None and child.type == "assignment":
        left = child.child_by_field_name("left")
        if left is not None:
            if left.type == "identifier":
                out.append(node_text(left))
            elif left.type in ("pattern_list", "tuple_pattern", "list_pattern"):
                out.extend(node_text(c) for c in left.named_children if c.type == "identifier")
        child = child.child_by_field_name("right")
    return out


PYTHON = LanguageSpec(
    key="python",
    extensions=(".py", ".pyi", ".pyw"),
    grammar_module="tree_sitter_python",
    grammar_function="language",
    comment_prefix="#",
    elision=" ...",
    definitions={
        "function_definition": named("function"),
        "class_definition": named("class", container=True),
        "expression_statement": _py_constant,
        "type_alias_statement": _py_type_alias,
    },
    wrappers={"decorated_definition": Wrapper("definition", in_signature=False)},
    transparent=frozenset(
        {
            "if_statement",
            "elif_clause",
            "else_clause",
            "try_statement",
            "except_clause",
            "finally_clause",
            "with_statement",
            "block",
        }
    ),
    imports={
        "import_statement": _py_imports,
        "import_from_statement": _py_imports,
        "future_import_statement": _py_imports,
    },
    attach_comments=False,  # Python documents inside the definition; matches inspect.getsourcelines
    trivial=frozenset({"pass_statement"}),
    assigned_names=_py_assigned,
    lexer=PYTHON_LEXER,
    keywords=PYTHON_KEYWORDS,
)


# --------------------------------------------------------------------------------------------------
# JavaScript / TypeScript / TSX


def _js_variable(node: Node, in_container: bool) -> Sequence[DefMatch]:
    """`const f = () => {}`, `const A = class {}`, `const MAX = 3` at module level."""
    if in_container:
        return ()
    declarators = [c for c in node.named_children if c.type == "variable_declarator"]
    if len(declarators) != 1:
        return ()
    name_node = declarators[0].child_by_field_name("name")
    if name_node is None or name_node.type != "identifier":
        return ()
    name = node_text(name_node)
    value = declarators[0].child_by_field_name("value")
    if value is not None:
        if value.type in _FUNCTION_VALUES:
            return (DefMatch("function", name, node, value.child_by_field_name("body")),)
        if value.type == "class":
            body = value.child_by_field_name("body")
            return (DefMatch("class", name, node, body, container=body is not None),)
    first = node.child(0)
    if first is not None and first.type == "const" and is_constant_name(name):
        return (DefMatch("constant", name, node),)
    return ()


def _js_assignment(node: Node, in_container: bool) -> Sequence[DefMatch]:
    """`Foo.prototype.bar = function () {}`, `exports.baz = () => {}`, `handler = function () {}`."""
    if in_container:
        return ()
    expr = node.named_child(0)
    if expr is None or expr.type != "assignment_expression":
        return ()
    left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
    if left is None or right is None or right.type not in _FUNCTION_VALUES:
        return ()
    parts = [p.strip() for p in node_text(left).split(".")]
    name = parts[-1]
    if not re.fullmatch(r"[A-Za-z_$][\w$]*", name) or name == "exports":
        return ()
    owner = tuple(p for p in parts[:-1] if p not in ("prototype", "module", "exports", "this", "window"))
    kind = "method" if "prototype" in parts[:-1] else "function"
    return (DefMatch(kind, name, node, right.child_by_field_name("body"), qualifier=owner),)


def _js_field(node: Node, in_container: bool) -> Sequence[DefMatch]:
    """A class field holding an arrow function (`handle = () => {...}`) is a method."""
    if not in_container:
        return ()
    value = node.child_by_field_name("value")
    name = node.child_by_field_name("property") or node.child_by_field_name("name")
    if value is None or name is None or value.type not in _FUNCTION_VALUES:
        return ()
    return (DefMatch("function", node_text(name), node, value.child_by_field_name("body")),)


def _ts_namespace(node: Node) -> tuple[str, Node] | None:
    target = node.named_child(0) if node.type == "expression_statement" else node
    if target is None or target.type != "internal_module":
        return None
    name, body = target.child_by_field_name("name"), target.child_by_field_name("body")
    if name is None or body is None:
        return None
    return node_text(name), body


def _js_imports(node: Node) -> list[str]:
    source = _string_content(node.child_by_field_name("source"))
    return [source] if source else []


_REQUIRE = re.compile(rb"""\b(?:require|import)\s*\(\s*(?:'([^'\n]+)'|"([^"\n]+)")\s*\)""")


def _js_source_imports(source: bytes) -> list[str]:
    return [(a or b).decode("utf-8", "replace") for a, b in _REQUIRE.findall(source)]


def _js_assigned(node: Node) -> list[str]:
    if node.type == "export_statement":
        declaration = node.child_by_field_name("declaration")
        return _js_assigned(declaration) if declaration is not None else []
    if node.type not in ("lexical_declaration", "variable_declaration"):
        return []
    out = []
    for declarator in node.named_children:
        name = declarator.child_by_field_name("name") if declarator.type == "variable_declarator" else None
        if name is not None and name.type == "identifier":
            out.append(node_text(name))
    return out


_JS_DEFINITIONS: dict[str, Handler] = {
    "function_declaration": named("function"),
    "generator_function_declaration": named("function"),
    "class_declaration": named("class", container=True),
    "method_definition": named("function"),
    "lexical_declaration": _js_variable,
    "variable_declaration": _js_variable,
    "expression_statement": _js_assignment,
    "field_definition": _js_field,
}
_TS_DEFINITIONS: dict[str, Handler] = {
    **{k: v for k, v in _JS_DEFINITIONS.items() if k != "field_definition"},
    "abstract_class_declaration": named("class", container=True),
    "interface_declaration": named("interface"),
    "type_alias_declaration": top_level(named("type", body_field=None)),
    "enum_declaration": named("enum"),
    "public_field_definition": _js_field,
}
_JS_WRAPPERS = {"export_statement": Wrapper("declaration", in_signature=True)}
_TS_WRAPPERS = {**_JS_WRAPPERS, "ambient_declaration": Wrapper(None, in_signature=True)}
_JS_IDENTIFIERS = frozenset(
    {
        "identifier",
        "property_identifier",
        "shorthand_property_identifier",
        "shorthand_property_identifier_pattern",
        "private_property_identifier",
    }
)

JAVASCRIPT = LanguageSpec(
    key="javascript",
    extensions=(".js", ".mjs", ".cjs", ".jsx"),
    grammar_module="tree_sitter_javascript",
    grammar_function="language",
    comment_prefix="//",
    elision=" { ... }",
    definitions=_JS_DEFINITIONS,
    wrappers=_JS_WRAPPERS,
    transparent=frozenset(),
    imports={"import_statement": _js_imports, "export_statement": _js_imports},
    source_imports=_js_source_imports,
    comments=frozenset({"comment", "html_comment"}),
    trivial=frozenset({"empty_statement"}),
    assigned_names=_js_assigned,
    identifiers=_JS_IDENTIFIERS,
    lexer=JS_LEXER,
    keywords=JS_KEYWORDS,
)
TYPESCRIPT = LanguageSpec(
    key="typescript",
    extensions=(".ts", ".mts", ".cts"),
    grammar_module="tree_sitter_typescript",
    grammar_function="language_typescript",
    comment_prefix="//",
    elision=" { ... }",
    definitions=_TS_DEFINITIONS,
    wrappers=_TS_WRAPPERS,
    scopes={"expression_statement": _ts_namespace, "internal_module": _ts_namespace},
    imports={"import_statement": _js_imports, "export_statement": _js_imports},
    source_imports=_js_source_imports,
    comments=frozenset({"comment", "html_comment"}),
    trivial=frozenset({"empty_statement"}),
    assigned_names=_js_assigned,
    identifiers=_JS_IDENTIFIERS | {"type_identifier"},
    lexer=JS_LEXER,
    keywords=TS_KEYWORDS,
)
TSX = LanguageSpec(
    key="tsx",
    extensions=(".tsx",),
    grammar_module="tree_sitter_typescript",
    grammar_function="language_tsx",
    comment_prefix="//",
    elision=" { ... }",
    definitions=_TS_DEFINITIONS,
    wrappers=_TS_WRAPPERS,
    scopes={"expression_statement": _ts_namespace, "internal_module": _ts_namespace},
    imports={"import_statement": _js_imports, "export_statement": _js_imports},
    source_imports=_js_source_imports,
    comments=frozenset({"comment", "html_comment"}),
    trivial=frozenset({"empty_statement"}),
    assigned_names=_js_assigned,
    identifiers=_JS_IDENTIFIERS | {"type_identifier"},
    lexer=JS_LEXER,
    keywords=TS_KEYWORDS,
)


# --------------------------------------------------------------------------------------------------
# Go


def _go_receiver_type(node: Node) -> str | None:
    receiver = node.child_by_field_name("receiver")
    parameter = _first_named(receiver, "parameter_declaration") if receiver is not None else None
    type_node = parameter.child_by_field_name("type") if parameter is not None else None
    if type_node is None:
        return None
    text = node_text(type_node).lstrip("*( ").split("[", 1)[0].strip(") ")
    return text or None


def _go_method(node: Node, in_container: bool) -> Sequence[DefMatch]:
    name = node.child_by_field_name("name")
    if name is None:
        return ()
    owner = _go_receiver_type(node)
    return (
        DefMatch(
            "method" if owner else "function",
            node_text(name),
            node,
            node.child_by_field_name("body"),
            qualifier=(owner,) if owner else (),
        ),
    )


def _go_types(node: Node, in_container: bool) -> Sequence[DefMatch]:
    specs = [c for c in node.named_children if c.type in ("type_spec", "type_alias")]
    out = []
    for spec in specs:
        name = spec.child_by_field_name("name")
        if name is None:
            continue
        type_node = spec.child_by_field_name("type")
        kind, body = "type", None
        if spec.type == "type_spec" and type_node is not None:
            if type_node.type == "struct_type":
                kind, body = "struct", _first_named(type_node, "field_declaration_list")
            elif type_node.type == "interface_type":
                kind = "interface"
        if len(specs) == 1:
            out.append(DefMatch(kind, node_text(name), node, body))
        else:  # `type ( A int; B struct {...} )`: one chunk per spec, signed as if declared alone
            signature = "type " + _first_line(spec).rstrip("{ ")
            out.append(DefMatch(kind, node_text(name), spec, body, signature=signature))
    return out


def _first_line(node: Node) -> str:
    return node_text(node).split("\n", 1)[0].rstrip()


def _go_spec_names(node: Node, spec_type: str) -> list[str]:
    out = []
    specs = [c for c in node.named_children if c.type == spec_type]
    for holder in node.named_children:
        if holder.type == f"{spec_type}_list":  # `var ( ... )` groups
            specs.extend(c for c in holder.named_children if c.type == spec_type)
    for spec in specs:
        out.extend(node_text(n) for n in spec.children_by_field_name("name"))
    return out


def _go_constants(node: Node, in_container: bool) -> Sequence[DefMatch]:
    names = _go_spec_names(node, "const_spec")
    if not names:
        return ()
    first = _first_named(node, "const_spec")
    signature = "const " + _first_line(first) if first is not None else None
    return (DefMatch("constant", names[0], node, names=tuple(names[1:]), signature=signature),)


def _go_imports(node: Node) -> list[str]:
    out = []
    stack = [node]
    while stack:
        current = stack.pop()
        for child in current.named_children:
            if child.type == "import_spec":
                path = _string_content(child.child_by_field_name("path"))
                if path:
                    out.append(path)
            elif child.type == "import_spec_list":
                stack.append(child)
    return out


def _go_assigned(node: Node) -> list[str]:
    return _go_spec_names(node, "var_spec") if node.type == "var_declaration" else []


GO = LanguageSpec(
    key="go",
    extensions=(".go",),
    grammar_module="tree_sitter_go",
    grammar_function="language",
    comment_prefix="//",
    elision=" { ... }",
    definitions={
        "function_declaration": named("function"),
        "method_declaration": _go_method,
        "type_declaration": _go_types,
        "const_declaration": _go_constants,
    },
    imports={"import_declaration": _go_imports},
    trivial=frozenset({"package_clause"}),
    assigned_names=_go_assigned,
    identifiers=frozenset({"identifier", "field_identifier", "type_identifier", "package_identifier"}),
    lexer=GO_LEXER,
    keywords=GO_KEYWORDS,
)


# --------------------------------------------------------------------------------------------------
# Rust


def _rust_type_name(node: Node | None) -> str | None:
    if node is None:
        return None
    text = re.sub(r"<.*", "", node_text(node), flags=re.S)
    text = text.replace("&", " ").replace("mut ", " ").replace("dyn ", " ")
    text = re.sub(r"'\w+", " ", text).strip()
    name = text.split("::")[-1].strip()
    return name or None


def _rust_impl(node: Node, in_container: bool) -> Sequence[DefMatch]:
    name = _rust_type_name(node.child_by_field_name("type"))
    if name is None:
        return ()
    body = node.child_by_field_name("body")
    return (DefMatch("impl", name, node, body, container=body is not None),)


def _rust_mod(node: Node) -> tuple[str, Node] | None:
    name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
    if name is None or body is None:
        return None
    return node_text(name), body


def _rust_use_paths(node: Node, prefix: str) -> list[str]:
    kind = node.type
    if kind == "use_as_clause":
        return _rust_use_paths(node.child_by_field_name("path") or node, prefix)
    if kind == "scoped_use_list":
        path = node.child_by_field_name("path")
        base = prefix + (node_text(path) + "::" if path is not None else "")
        use_list = node.child_by_field_name("list")
        return _rust_use_paths(use_list, base) if use_list is not None else [base.rstrip(":")]
    if kind == "use_list":
        out = []
        for child in node.named_children:
            out.extend(_rust_use_paths(child, prefix))
        return out
    text = node_text(node).replace(" ", "")
    if text == "self" and prefix:  # `use std::fmt::{self, Display}` imports std::fmt itself
        return [prefix.removesuffix("::")]
    return [prefix + text]


def _rust_imports(node: Node) -> list[str]:
    if node.type == "extern_crate_declaration":
        name = node.child_by_field_name("name")
        return [node_text(name)] if name is not None else []
    argument = node.child_by_field_name("argument")
    return _rust_use_paths(argument, "") if argument is not None else []


RUST = LanguageSpec(
    key="rust",
    extensions=(".rs",),
    grammar_module="tree_sitter_rust",
    grammar_function="language",
    comment_prefix="//",
    elision=" { ... }",
    definitions={
        "function_item": named("function"),
        "struct_item": named("struct"),
        "union_item": named("struct"),
        "enum_item": named("enum"),
        "trait_item": named("interface", container=True),
        "impl_item": _rust_impl,
        "type_item": top_level(named("type", body_field=None)),
        "const_item": top_level(named("constant", body_field=None)),
        "static_item": top_level(named("constant", body_field=None)),
        "macro_definition": top_level(named("function", body_field=None)),
    },
    scopes={"mod_item": _rust_mod},
    imports={"use_declaration": _rust_imports, "extern_crate_declaration": _rust_imports},
    comments=frozenset({"line_comment", "block_comment"}),
    decorations=frozenset({"attribute_item"}),
    trivial=frozenset({"inner_attribute_item", "mod_item", "empty_statement"}),
    identifiers=frozenset({"identifier", "field_identifier", "type_identifier", "shorthand_field_identifier"}),
    lexer=RUST_LEXER,
    keywords=RUST_KEYWORDS,
)


# --------------------------------------------------------------------------------------------------
# Java


def _java_imports(node: Node) -> list[str]:
    text = node_text(node).strip().removeprefix("import").strip().rstrip(";").strip()
    return [re.sub(r"\s+", "", text.removeprefix("static"))] if text else []


JAVA = LanguageSpec(
    key="java",
    extensions=(".java",),
    grammar_module="tree_sitter_java",
    grammar_function="language",
    comment_prefix="//",
    elision=" { ... }",
    definitions={
        "class_declaration": named("class", container=True),
        "record_declaration": named("class", container=True),
        "interface_declaration": named("interface", container=True),
        "enum_declaration": named("enum", container=True),
        "annotation_type_declaration": named("interface"),
        "method_declaration": named("function"),
        "constructor_declaration": named("function"),
        "compact_constructor_declaration": named("function"),
    },
    transparent=frozenset({"enum_body_declarations"}),
    imports={"import_declaration": _java_imports},
    comments=frozenset({"line_comment", "block_comment"}),
    trivial=frozenset({"package_declaration", "module_declaration"}),
    identifiers=frozenset({"identifier", "type_identifier"}),
    lexer=JAVA_LEXER,
    keywords=JAVA_KEYWORDS,
)


# --------------------------------------------------------------------------------------------------
# C / C++

_DECLARATOR_LAYERS = frozenset(
    {
        "pointer_declarator",
        "reference_declarator",
        "function_declarator",
        "parenthesized_declarator",
        "attributed_declarator",
        "array_declarator",
        "init_declarator",
    }
)


def _declarator_name(node: Node) -> str | None:
    """The declared name under a C/C++ declarator chain (`*add(int)` -> `add`, `A::b()` -> `A::b`)."""
    current = node.child_by_field_name("declarator")
    for _ in range(16):
        if current is None:
            return None
        if current.type not in _DECLARATOR_LAYERS:
            return node_text(current)
        inner = current.child_by_field_name("declarator")
        if inner is None:
            named_children = [
                c for c in current.named_children if c.type not in ("type_qualifier", "ms_pointer_modifier")
            ]
            inner = named_children[-1] if named_children else None
        current = inner
    return None


def _split_qualified(text: str) -> tuple[tuple[str, ...], str]:
    text = re.sub(r"\s+", "", text)
    while re.search(r"<[^<>]*>", text):
        text = re.sub(r"<[^<>]*>", "", text)
    parts = [p for p in text.split("::") if p]
    if not parts:
        return (), text
    return tuple(parts[:-1]), parts[-1]


def _c_function(node: Node, in_container: bool) -> Sequence[DefMatch]:
    text = _declarator_name(node)
    if not text:
        return ()
    owner, name = _split_qualified(text)
    kind = "method" if owner and not in_container else "function"
    return (DefMatch(kind, name, node, node.child_by_field_name("body"), qualifier=owner),)


def _c_record(kind: str, *, container: bool) -> Handler:
    """`struct x { ... }` with a body and a name; forward declarations are not definitions."""

    def handler(node: Node, in_container: bool) -> Sequence[DefMatch]:
        name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
        if name is None or body is None:
            return ()
        return (DefMatch(kind, _split_qualified(node_text(name))[1], node, body, container),)

    handler.__qualname__ = f"c_record({kind}, container={container})"
    return handler


def _c_typedef(node: Node, in_container: bool) -> Sequence[DefMatch]:
    if in_container:
        return ()
    name = _declarator_name(node)
    if not name:
        return ()
    type_node = node.child_by_field_name("type")
    body = type_node.child_by_field_name("body") if type_node is not None else None
    kind = "type"
    signature = None
    if body is not None and type_node is not None:
        kind = "enum" if type_node.type == "enum_specifier" else "struct"
        source = node.text or b""
        head = source[: body.start_byte - node.start_byte].decode("utf-8", "replace")
        tail = source[body.end_byte - node.start_byte :].decode("utf-8", "replace")
        signature = re.sub(r"\s+", " ", f"{head.strip()} {{ ... }} {tail.strip()}")
    return (DefMatch(kind, _split_qualified(name)[1], node, None, signature=signature),)


def _c_macro(kind: str) -> Handler:
    def handler(node: Node, in_container: bool) -> Sequence[DefMatch]:
        name = node.child_by_field_name("name")
        if in_container or name is None:
            return ()
        if kind == "constant" and node.child_by_field_name("value") is None:
            return ()  # include guards and flags (`#define FOO_H`)
        return (DefMatch(kind, node_text(name), node),)

    handler.__qualname__ = f"c_macro({kind})"
    return handler


def _c_include(node: Node) -> list[str]:
    path = node.child_by_field_name("path")
    if path is None:
        return []
    text = node_text(path).strip()
    return [text.strip('"') if text.startswith('"') else text]


def _c_declared_names(node: Node) -> list[str]:
    if node.type != "declaration":
        return []
    out = []
    for declarator in node.children_by_field_name("declarator"):
        if declarator.type == "identifier":
            out.append(node_text(declarator))
            continue
        name = _declarator_name_of(declarator)
        if name:
            out.append(_split_qualified(name)[1])
    return out


def _declarator_name_of(declarator: Node) -> str | None:
    current: Node | None = declarator
    for _ in range(16):
        if current is None or current.type not in _DECLARATOR_LAYERS:
            break
        current = current.child_by_field_name("declarator")
    return node_text(current) if current is not None else None


def _cpp_namespace(node: Node) -> tuple[str, Node] | None:
    body = node.child_by_field_name("body")
    if body is None:
        return None
    name = node.child_by_field_name("name")
    return (node_text(name).replace(" ", "").replace("::", ".") if name is not None else ""), body


def _cpp_linkage(node: Node) -> tuple[str, Node] | None:
    body = node.child_by_field_name("body")
    return ("", body) if body is not None else None


_C_DEFINITIONS: dict[str, Handler] = {
    "function_definition": _c_function,
    "struct_specifier": _c_record("struct", container=False),
    "union_specifier": _c_record("struct", container=False),
    "enum_specifier": _c_record("enum", container=False),
    "type_definition": _c_typedef,
    "preproc_def": _c_macro("constant"),
    "preproc_function_def": _c_macro("function"),
}
_C_TRANSPARENT = frozenset(
    {"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef", "declaration_list"}
)
_C_TRIVIAL = frozenset({"preproc_def", "preproc_call"})
_C_IDENTIFIERS = frozenset({"identifier", "field_identifier", "type_identifier", "statement_identifier"})

C = LanguageSpec(
    key="c",
    extensions=(".c", ".h"),
    grammar_module="tree_sitter_c",
    grammar_function="language",
    comment_prefix="//",
    elision=" { ... }",
    definitions=_C_DEFINITIONS,
    scopes={"linkage_specification": _cpp_linkage},
    transparent=_C_TRANSPARENT,
    imports={"preproc_include": _c_include},
    trivial=_C_TRIVIAL,
    assigned_names=_c_declared_names,
    identifiers=_C_IDENTIFIERS,
    lexer=C_LEXER,
    keywords=C_KEYWORDS,
)
CPP = LanguageSpec(
    key="cpp",
    extensions=(".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".c++", ".h++"),
    grammar_module="tree_sitter_cpp",
    grammar_function="language",
    comment_prefix="//",
    elision=" { ... }",
    definitions={
        **_C_DEFINITIONS,
        "class_specifier": _c_record("class", container=True),
        "struct_specifier": _c_record("struct", container=True),
        "union_specifier": _c_record("struct", container=True),
        "alias_declaration": top_level(named("type", body_field=None)),
    },
    wrappers={"template_declaration": Wrapper(None, in_signature=True)},
    scopes={"namespace_definition": _cpp_namespace, "linkage_specification": _cpp_linkage},
    transparent=_C_TRANSPARENT,
    imports={"preproc_include": _c_include},
    trivial=_C_TRIVIAL | {"using_declaration", "namespace_alias_definition"},
    assigned_names=_c_declared_names,
    identifiers=_C_IDENTIFIERS | {"namespace_identifier"},
    lexer=C_LEXER,
    keywords=CPP_KEYWORDS,
)


# --------------------------------------------------------------------------------------------------
# The table and its lookups

LANGUAGES: dict[str, LanguageSpec] = {
    spec.key: spec for spec in (PYTHON, JAVASCRIPT, TYPESCRIPT, TSX, GO, RUST, JAVA, C, CPP)
}
EXTENSIONS: dict[str, str] = {ext: spec.key for spec in LANGUAGES.values() for ext in spec.extensions}


def language_for_path(path: str | PurePath) -> str | None:
    """The language key for a file name by its extension, or None when no grammar applies."""
    suffix = PurePath(path).suffix.lower()
    return EXTENSIONS.get(suffix) if suffix else None


def spec_for(language: str) -> LanguageSpec:
    """The table entry for a language key (KeyError for an unknown key)."""
    return LANGUAGES[language]


@functools.cache
def get_language(language: str) -> tree_sitter.Language:
    """The grammar for a language key, loaded once per process."""
    spec = LANGUAGES[language]
    module = importlib.import_module(spec.grammar_module)
    return tree_sitter.Language(getattr(module, spec.grammar_function)())


_local = threading.local()


def parser_for(language: str) -> tree_sitter.Parser:
    """A parser for a language key; one per thread (parsers are not thread-safe)."""
    parsers: dict[str, tree_sitter.Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = tree_sitter.Parser(get_language(language))
    return parser


def imports_of(language: str, node: Node) -> list[str]:
    """Module paths an import node names (empty when the node is not an import)."""
    reader = LANGUAGES[language].imports.get(node.type)
    return _dedupe(reader(node)) if reader is not None else []


def fingerprint() -> str:
    """A stable description of the table (no memory addresses): stored indexes built with another
    table are rebuilt. Grammar versions are the caller's to add."""
    rows = []
    for spec in LANGUAGES.values():
        rows.append(
            "|".join(
                [
                    spec.key,
                    ",".join(spec.extensions),
                    f"{spec.grammar_module}.{spec.grammar_function}",
                    ",".join(f"{t}:{getattr(h, '__qualname__', '?')}" for t, h in sorted(spec.definitions.items())),
                    ",".join(f"{t}:{w.field}:{w.in_signature}" for t, w in sorted(spec.wrappers.items())),
                    ",".join(sorted(spec.scopes)),
                    ",".join(sorted(spec.transparent)),
                    ",".join(sorted(spec.imports)),
                    ",".join(sorted(spec.comments | spec.decorations | spec.trivial)),
                    str(spec.attach_comments),
                    spec.lexer.pattern.decode("latin-1"),
                    ",".join(sorted(k.decode() for k in spec.keywords)),
                ]
            )
        )
    return "\n".join(rows)
