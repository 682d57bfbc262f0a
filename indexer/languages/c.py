"""C: its grammar, definitions (functions, records, typedefs, macros), ``#include`` and local headers.

C++ (``cpp.py``) builds on the handlers here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from indexer.languages.base import (
    C_COMMENTS,
    C_SKIP,
    CHAR,
    DQ,
    IDENT,
    DefMatch,
    Handler,
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    node_text,
    with_paths,
    words,
)

# --------------------------------------------------------------------------------------------------
# Definitions

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


def split_qualified(text: str) -> tuple[tuple[str, ...], str]:
    text = re.sub(r"\s+", "", text)
    while re.search(r"<[^<>]*>", text):
        text = re.sub(r"<[^<>]*>", "", text)
    parts = [p for p in text.split("::") if p]
    if not parts:
        return (), text
    return tuple(parts[:-1]), parts[-1]


def _function(node: Node, in_container: bool) -> Sequence[DefMatch]:
    text = _declarator_name(node)
    if not text:
        return ()
    owner, name = split_qualified(text)
    kind = "method" if owner and not in_container else "function"
    return (DefMatch(kind, name, node, node.child_by_field_name("body"), qualifier=owner),)


def record(kind: str, *, container: bool) -> Handler:
    """`struct x { ... }` with a body and a name; forward declarations are not definitions."""

    def handler(node: Node, in_container: bool) -> Sequence[DefMatch]:
        name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
        if name is None or body is None:
            return ()
        return (DefMatch(kind, split_qualified(node_text(name))[1], node, body, container),)

    handler.__qualname__ = f"c_record({kind}, container={container})"
    return handler


def _typedef(node: Node, in_container: bool) -> Sequence[DefMatch]:
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
    return (DefMatch(kind, split_qualified(name)[1], node, None, signature=signature),)


def _macro(kind: str) -> Handler:
    def handler(node: Node, in_container: bool) -> Sequence[DefMatch]:
        name = node.child_by_field_name("name")
        if in_container or name is None:
            return ()
        if kind == "constant" and node.child_by_field_name("value") is None:
            return ()  # include guards and flags (`#define FOO_H`)
        return (DefMatch(kind, node_text(name), node),)

    handler.__qualname__ = f"c_macro({kind})"
    return handler


def declared_names(node: Node) -> list[str]:
    if node.type != "declaration":
        return []
    out = []
    for declarator in node.children_by_field_name("declarator"):
        if declarator.type == "identifier":
            out.append(node_text(declarator))
            continue
        name = _declarator_name_of(declarator)
        if name:
            out.append(split_qualified(name)[1])
    return out


def _declarator_name_of(declarator: Node) -> str | None:
    current: Node | None = declarator
    for _ in range(16):
        if current is None or current.type not in _DECLARATOR_LAYERS:
            break
        current = current.child_by_field_name("declarator")
    return node_text(current) if current is not None else None


def linkage(node: Node) -> tuple[str, Node] | None:
    body = node.child_by_field_name("body")
    return ("", body) if body is not None else None


DEFINITIONS: dict[str, Handler] = {
    "function_definition": _function,
    "struct_specifier": record("struct", container=False),
    "union_specifier": record("struct", container=False),
    "enum_specifier": record("enum", container=False),
    "type_definition": _typedef,
    "preproc_def": _macro("constant"),
    "preproc_function_def": _macro("function"),
}
TRANSPARENT = frozenset(
    {"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef", "declaration_list"}
)
TRIVIAL = frozenset({"preproc_def", "preproc_call"})
IDENTIFIERS = frozenset({"identifier", "field_identifier", "type_identifier", "statement_identifier"})


# --------------------------------------------------------------------------------------------------
# Includes: ``#include "x.h"`` binds everything in x.h; ``<system>`` headers are outside the workspace


def bindings(node: Node) -> list[ImportBinding]:
    path = node.child_by_field_name("path")
    if path is None:
        return []
    text = node_text(path).strip()
    header = text.strip('"') if text.startswith('"') else text
    return [ImportBinding("*", header, "*", node.start_point.row)] if header else []


def resolve(files: WorkspaceFiles, importer: str, binding: ImportBinding) -> ImportBinding:
    """A quoted include: next to the importer, else the file whose path ends with it."""
    header = binding.module
    if header.startswith("<"):
        return binding
    local = posixpath.normpath(posixpath.join(posixpath.dirname(importer), header))
    if local in files.paths():
        return with_paths(binding, [local])
    return with_paths(binding, files.tail_match(header))


KEYWORDS = words(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while NULL bool true false define include ifdef ifndef endif elif pragma undef defined"
)
BUILTINS = words("size_t ssize_t uint8_t uint16_t uint32_t uint64_t int8_t int16_t int32_t int64_t printf malloc free")
LEXER = re.compile(C_SKIP + C_COMMENTS + rb"|" + DQ + rb"|" + CHAR + rb"|" + IDENT, re.S)

SPEC = LanguageSpec(
    key="c",
    extensions=(".c", ".h"),
    grammar_module="tree_sitter_c",
    grammar_function="language",
    line_comment="//",
    block_comment=("/*", "*/"),
    lsp_ids=("c",),
    elision=" { ... }",
    definitions=DEFINITIONS,
    scopes={"linkage_specification": linkage},
    transparent=TRANSPARENT,
    imports={"preproc_include": bindings},
    trivial=TRIVIAL,
    assigned_names=declared_names,
    identifiers=IDENTIFIERS,
    lexer=LEXER,
    keywords=KEYWORDS,
    builtins=BUILTINS,
    resolve=resolve,
    function_scopes=frozenset({"function_definition"}),
    class_scopes=frozenset({"struct_specifier"}),
)
SPECS = (SPEC,)
