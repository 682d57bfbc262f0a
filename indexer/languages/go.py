"""Go: its grammar, definitions (methods by receiver type), imports of package folders, local bindings."""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.languages.base import (
    C_COMMENTS,
    C_SKIP,
    CHAR,
    DQ,
    IDENT,
    BindingContext,
    DefMatch,
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    first_named,
    named,
    node_text,
    string_content,
    text_of,
    with_paths,
    words,
)

# --------------------------------------------------------------------------------------------------
# Definitions


def _receiver_type(node: Node) -> str | None:
    receiver = node.child_by_field_name("receiver")
    parameter = first_named(receiver, "parameter_declaration") if receiver is not None else None
    type_node = parameter.child_by_field_name("type") if parameter is not None else None
    if type_node is None:
        return None
    text = node_text(type_node).lstrip("*( ").split("[", 1)[0].strip(") ")
    return text or None


def _method(node: Node, in_container: bool) -> Sequence[DefMatch]:
    name = node.child_by_field_name("name")
    if name is None:
        return ()
    owner = _receiver_type(node)
    return (
        DefMatch(
            "method" if owner else "function",
            node_text(name),
            node,
            node.child_by_field_name("body"),
            qualifier=(owner,) if owner else (),
        ),
    )


def _types(node: Node, in_container: bool) -> Sequence[DefMatch]:
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
                kind, body = "struct", first_named(type_node, "field_declaration_list")
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


def _spec_names(node: Node, spec_type: str) -> list[str]:
    out = []
    specs = [c for c in node.named_children if c.type == spec_type]
    for holder in node.named_children:
        if holder.type == f"{spec_type}_list":  # `var ( ... )` groups
            specs.extend(c for c in holder.named_children if c.type == spec_type)
    for spec in specs:
        out.extend(node_text(n) for n in spec.children_by_field_name("name"))
    return out


def _constants(node: Node, in_container: bool) -> Sequence[DefMatch]:
    names = _spec_names(node, "const_spec")
    if not names:
        return ()
    first = first_named(node, "const_spec")
    signature = "const " + _first_line(first) if first is not None else None
    return (DefMatch("constant", names[0], node, names=tuple(names[1:]), signature=signature),)


def _assigned(node: Node) -> list[str]:
    return _spec_names(node, "var_spec") if node.type == "var_declaration" else []


# --------------------------------------------------------------------------------------------------
# Imports: each spec binds its package (by alias or the path's last part)


def _bindings(node: Node) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    stack = [node]
    while stack:
        current = stack.pop()
        for child in current.named_children:
            if child.type == "import_spec":
                module = string_content(child.child_by_field_name("path")) or ""
                if module:
                    alias = text_of(child.child_by_field_name("name"))
                    local = alias or module.rsplit("/", 1)[-1]
                    out.append(ImportBinding(local, module, "", child.start_point.row, (), True))
            elif child.type == "import_spec_list":
                stack.append(child)
    out.sort(key=lambda b: b.line)
    return out


def _resolve(files: WorkspaceFiles, importer: str, binding: ImportBinding) -> ImportBinding:
    """A package is a folder: the one whose path ends with the most of the import path."""
    dirs = files.directories()
    parts = binding.module.split("/")
    for i in range(len(parts)):
        tail = "/".join(parts[i:])
        matches = [d for d in dirs if d == tail or d.endswith("/" + tail)]
        if matches:
            directory = sorted(matches, key=len)[0]
            found = sorted(p for p in dirs[directory] if p.endswith(".go") and not p.endswith("_test.go"))
            return with_paths(binding, found)
    return binding


# --------------------------------------------------------------------------------------------------
# Local bindings: ``x := Cls{...}`` / ``x := &Cls{`` / ``var x Cls``

_DECL = re.compile(r"\b([A-Za-z_]\w*)[ \t]*:=[ \t]*&?([A-Za-z_][\w.]*)[ \t]*[{(]")
_VAR = re.compile(r"\bvar[ \t]+([A-Za-z_]\w*)[ \t]+\*?([A-Z][\w.]*)")


def _local_bindings(ctx: BindingContext) -> tuple[set[str], dict[str, str]]:
    names: set[str] = set()
    types: dict[str, str] = {}
    for text in ctx.region():
        for match in _DECL.finditer(text):
            names.add(match.group(1))
            cls = match.group(2).rsplit(".", 1)[-1]
            if cls[:1].isupper():
                types[match.group(1)] = cls
        for match in _VAR.finditer(text):
            names.add(match.group(1))
            types[match.group(1)] = match.group(2).rsplit(".", 1)[-1]
    return names, types


KEYWORDS = words(
    "break case chan const continue default defer else fallthrough for func go goto if import interface map "
    "package range return select struct switch type var nil true false iota"
)
BUILTINS = words(
    "int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr float32 float64 complex64 complex128 "
    "string bool byte rune error any append cap close copy delete len make new panic print println recover "
    "min max clear"
)

SPEC = LanguageSpec(
    key="go",
    extensions=(".go",),
    grammar_module="tree_sitter_go",
    grammar_function="language",
    line_comment="//",
    block_comment=("/*", "*/"),
    lsp_ids=("go",),
    elision=" { ... }",
    definitions={
        "function_declaration": named("function"),
        "method_declaration": _method,
        "type_declaration": _types,
        "const_declaration": _constants,
    },
    imports={"import_declaration": _bindings},
    trivial=frozenset({"package_clause"}),
    assigned_names=_assigned,
    identifiers=frozenset({"identifier", "field_identifier", "type_identifier", "package_identifier"}),
    lexer=re.compile(C_SKIP + C_COMMENTS + rb"|" + DQ + rb"|" + CHAR + rb"|`[^`]*`|" + IDENT, re.S),
    keywords=KEYWORDS,
    builtins=BUILTINS,
    resolve=_resolve,
    local_bindings=_local_bindings,
    function_scopes=frozenset({"function_declaration", "method_declaration", "func_literal"}),
    class_scopes=frozenset(),
    member_header=None,
    module_assignment=re.compile(r"^(?:var|const)[ \t]+([A-Za-z_]\w*)", re.M),
)
SPECS = (SPEC,)
