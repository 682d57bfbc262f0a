"""Rust: its grammar, definitions (impl blocks as containers, `mod` as scopes), `use` trees, module files."""

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
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    named,
    node_text,
    text_of,
    top_level,
    with_paths,
    words,
)

# --------------------------------------------------------------------------------------------------
# Definitions


def _type_name(node: Node | None) -> str | None:
    if node is None:
        return None
    text = re.sub(r"<.*", "", node_text(node), flags=re.S)
    text = text.replace("&", " ").replace("mut ", " ").replace("dyn ", " ")
    text = re.sub(r"'\w+", " ", text).strip()
    name = text.split("::")[-1].strip()
    return name or None


def _impl(node: Node, in_container: bool) -> Sequence[DefMatch]:
    name = _type_name(node.child_by_field_name("type"))
    if name is None:
        return ()
    body = node.child_by_field_name("body")
    return (DefMatch("impl", name, node, body, container=body is not None),)


def _mod(node: Node) -> tuple[str, Node] | None:
    name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
    if name is None or body is None:
        return None
    return node_text(name), body


# --------------------------------------------------------------------------------------------------
# Imports: one binding per leaf of a `use` tree; `extern crate` binds the crate


def _join(prefix: str, path: str) -> str:
    return f"{prefix}::{path}" if prefix and path else (path or prefix)


def _leaf(full: str, alias: str, row: int) -> ImportBinding:
    module, _, name = full.rpartition("::")
    if name == "self" and module:  # `use std::fmt::{self, Display}` binds std::fmt itself
        module, _, name = module.rpartition("::")
    return ImportBinding(alias or name, module, name, row)


def _use_tree(node: Node, prefix: str, row: int, out: list[ImportBinding]) -> None:
    kind = node.type
    if kind == "use_as_clause":
        full = _join(prefix, text_of(node.child_by_field_name("path")).replace(" ", ""))
        out.append(_leaf(full, text_of(node.child_by_field_name("alias")), row))
    elif kind == "scoped_use_list":
        inner = _join(prefix, text_of(node.child_by_field_name("path")).replace(" ", ""))
        use_list = node.child_by_field_name("list")
        if use_list is not None:
            _use_tree(use_list, inner, row, out)
        else:
            out.append(_leaf(inner, "", row))
    elif kind == "use_list":
        for child in node.named_children:
            _use_tree(child, prefix, row, out)
    elif kind == "use_wildcard":
        path = node_text(node).replace(" ", "").removesuffix("*").removesuffix("::")
        out.append(ImportBinding("*", _join(prefix, path), "*", row))
    elif node.is_named:
        out.append(_leaf(_join(prefix, node_text(node).replace(" ", "")), "", row))


def _bindings(node: Node) -> list[ImportBinding]:
    row = node.start_point.row
    if node.type == "extern_crate_declaration":
        name = text_of(node.child_by_field_name("name"))
        alias = text_of(node.child_by_field_name("alias"))
        return [ImportBinding(alias or name, "", name, row, (), True)] if name else []
    out: list[ImportBinding] = []
    argument = node.child_by_field_name("argument")
    if argument is not None:
        _use_tree(argument, "", row, out)
    return out


def _import_path(binding: ImportBinding) -> str:
    return _join(binding.module, binding.name)


def _resolve(files: WorkspaceFiles, importer: str, binding: ImportBinding) -> ImportBinding:
    """``crate::a::b`` -> ``src/a/b.rs`` or ``src/a/b/mod.rs``; ``super::``/``self::`` from the importer."""
    parts = [p for p in binding.module.split("::") if p]
    if not parts:
        return binding
    if parts[0] == "crate":
        base = importer.split("src/", 1)[0] + "src" if "src/" in importer else "src"
        parts = parts[1:]
    elif parts[0] in ("super", "self"):
        base = posixpath.dirname(importer)
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = posixpath.dirname(base)
            parts = parts[1:]
    else:
        return binding
    paths = files.paths()
    for cut in range(len(parts), 0, -1):
        stem = posixpath.join(base, *parts[:cut])
        for candidate in (f"{stem}.rs", f"{stem}/mod.rs"):
            if candidate in paths:
                return with_paths(binding, [candidate])
    return binding


SPEC = LanguageSpec(
    key="rust",
    extensions=(".rs",),
    grammar_module="tree_sitter_rust",
    grammar_function="language",
    line_comment="//",
    block_comment=("/*", "*/"),
    lsp_ids=("rust",),
    elision=" { ... }",
    definitions={
        "function_item": named("function"),
        "struct_item": named("struct"),
        "union_item": named("struct"),
        "enum_item": named("enum"),
        "trait_item": named("interface", container=True),
        "impl_item": _impl,
        "type_item": top_level(named("type", body_field=None)),
        "const_item": top_level(named("constant", body_field=None)),
        "static_item": top_level(named("constant", body_field=None)),
        "macro_definition": top_level(named("function", body_field=None)),
    },
    scopes={"mod_item": _mod},
    imports={"use_declaration": _bindings, "extern_crate_declaration": _bindings},
    import_path=_import_path,
    comments=frozenset({"line_comment", "block_comment"}),
    decorations=frozenset({"attribute_item"}),
    trivial=frozenset({"inner_attribute_item", "mod_item", "empty_statement"}),
    identifiers=frozenset({"identifier", "field_identifier", "type_identifier", "shorthand_field_identifier"}),
    lexer=re.compile(C_SKIP + C_COMMENTS + rb"|" + DQ + rb"|" + CHAR + rb"|" + IDENT, re.S),
    keywords=words(
        "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match "
        "mod move mut pub ref return self Self static struct super trait true type unsafe use where while "
        "i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str"
    ),
    builtins=words("Option Some None Ok Err Result Box Vec String println format vec panic assert assert_eq"),
    resolve=_resolve,
    function_scopes=frozenset({"function_item", "closure_expression"}),
    class_scopes=frozenset({"impl_item", "trait_item", "struct_item"}),
    member_header=re.compile(r"^[ \t]+(?:pub(?:\([^)]*\))?[ \t]+)?(?:async[ \t]+)?fn[ \t]+\w+"),
)
SPECS = (SPEC,)
