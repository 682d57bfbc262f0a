"""A file's import statements, read from its syntax tree: one ``ImportBinding`` per name an import binds.

``extract_imports(language, root, scopes)`` reads the import statements at the top level, one level into
``try``/``if`` blocks, and inside the given enclosing functions. Python, JavaScript/TypeScript, Go, Rust,
Java and C/C++ are understood; :mod:`srag_lsp.retrieval.workspace_modules` resolves the bindings to files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tree_sitter import Node


@dataclass(frozen=True, slots=True)
class ImportBinding:
    """One name an import statement binds in the importing file."""

    local: str  # the name bound here ("Request", "osp", "os.path", "utils"); "*" for star imports
    module: str  # the module as written (".models", "os.path", "./util", "crate::a::b")
    name: str  # the imported name inside the module; "" when the binding is the module itself
    line: int  # 0-based line of the statement
    paths: tuple[str, ...] = ()  # workspace files the module (or the submodule ``name``) resolves to
    is_module: bool = False  # ``local`` names a module: ``import m``, ``from pkg import submodule``


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _string_content(node: Node) -> str:
    text = _text(node)
    return text.strip("\"'`")


def _python_imports(node: Node) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    row = node.start_point.row
    if node.type == "import_statement":
        for child in node.children_by_field_name("name"):
            if child.type == "aliased_import":
                dotted = _text(child.child_by_field_name("name"))
                out.append(ImportBinding(_text(child.child_by_field_name("alias")), dotted, "", row, (), True))
            else:
                dotted = _text(child)
                out.append(ImportBinding(dotted, dotted, "", row, (), True))
    elif node.type == "import_from_statement":
        module = _text(node.child_by_field_name("module_name")).replace(" ", "")
        names = node.children_by_field_name("name")
        if not names and any(c.type == "wildcard_import" for c in node.children):
            out.append(ImportBinding("*", module, "*", row))
        for child in names:
            if child.type == "aliased_import":
                name = _text(child.child_by_field_name("name"))
                out.append(ImportBinding(_text(child.child_by_field_name("alias")), module, name, row))
            else:
                name = _text(child)
                out.append(ImportBinding(name, module, name, row))
    return out


def _js_imports(node: Node) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    row = node.start_point.row
    if node.type == "import_statement":
        source = node.child_by_field_name("source")
        if source is None:
            return out
        module = _string_content(source)
        clause = next((c for c in node.children if c.type == "import_clause"), None)
        if clause is None:
            return [ImportBinding("*", module, "*", row)]
        for part in clause.children:
            if part.type == "identifier":
                out.append(ImportBinding(_text(part), module, "default", row))
            elif part.type == "namespace_import":
                alias = next((c for c in part.children if c.type == "identifier"), None)
                out.append(ImportBinding(_text(alias), module, "", row, (), True))
            elif part.type == "named_imports":
                for spec in part.children:
                    if spec.type != "import_specifier":
                        continue
                    name = _text(spec.child_by_field_name("name"))
                    alias = spec.child_by_field_name("alias")
                    out.append(ImportBinding(_text(alias) if alias else name, module, name, row))
    elif node.type in ("lexical_declaration", "variable_declaration"):
        for declarator in node.children:
            if declarator.type != "variable_declarator":
                continue
            value = declarator.child_by_field_name("value")
            if value is None or value.type != "call_expression":
                continue
            if _text(value.child_by_field_name("function")) != "require":
                continue
            args = value.child_by_field_name("arguments")
            source = next((c for c in args.children if c.type == "string"), None) if args else None
            if source is None:
                continue
            module = _string_content(source)
            target = declarator.child_by_field_name("name")
            if target is not None and target.type == "identifier":
                out.append(ImportBinding(_text(target), module, "", row, (), True))
            elif target is not None and target.type == "object_pattern":
                for prop in target.children:
                    if prop.type == "shorthand_property_identifier_pattern":
                        out.append(ImportBinding(_text(prop), module, _text(prop), row))
                    elif prop.type == "pair_pattern":
                        key = _text(prop.child_by_field_name("key"))
                        val = _text(prop.child_by_field_name("value"))
                        out.append(ImportBinding(val or key, module, key, row))
    return out


def _go_imports(node: Node) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    specs = [node] if node.type == "import_spec" else []
    for child in node.children:
        if child.type == "import_spec":
            specs.append(child)
        elif child.type == "import_spec_list":
            specs.extend(c for c in child.children if c.type == "import_spec")
    for spec in specs:
        module = _string_content(spec.child_by_field_name("path")) if spec.child_by_field_name("path") else ""
        if not module:
            continue
        alias = _text(spec.child_by_field_name("name"))
        local = alias or module.rsplit("/", 1)[-1]
        out.append(ImportBinding(local, module, "", spec.start_point.row, (), True))
    return out


def _rust_use_paths(node: Node, prefix: str, row: int, out: list[ImportBinding]) -> None:
    kind = node.type
    if kind in ("scoped_identifier", "identifier", "crate", "self", "super"):
        full = _text(node) if not prefix else f"{prefix}::{_text(node)}"
        module, _, name = full.rpartition("::")
        out.append(ImportBinding(name, module, name, row))
    elif kind == "use_as_clause":
        full = _text(node.child_by_field_name("path"))
        full = f"{prefix}::{full}" if prefix else full
        module, _, name = full.rpartition("::")
        out.append(ImportBinding(_text(node.child_by_field_name("alias")), module, name, row))
    elif kind == "scoped_use_list":
        path = _text(node.child_by_field_name("path"))
        inner = f"{prefix}::{path}" if prefix and path else (path or prefix)
        use_list = node.child_by_field_name("list")
        if use_list is not None:
            for child in use_list.children:
                _rust_use_paths(child, inner, row, out)
    elif kind == "use_list":
        for child in node.children:
            _rust_use_paths(child, prefix, row, out)
    elif kind == "use_wildcard":
        path = _text(node).rstrip("*").rstrip(":")
        out.append(ImportBinding("*", f"{prefix}::{path}" if prefix else path, "*", row))


def _rust_imports(node: Node) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    argument = node.child_by_field_name("argument")
    if argument is not None:
        _rust_use_paths(argument, "", node.start_point.row, out)
    return out


def _java_imports(node: Node) -> list[ImportBinding]:
    row = node.start_point.row
    target = next((c for c in node.children if c.type in ("scoped_identifier", "identifier")), None)
    if target is None:
        return []
    dotted = _text(target)
    if any(c.type == "asterisk" for c in node.children):
        return [ImportBinding("*", dotted, "*", row)]
    module, _, name = dotted.rpartition(".")
    return [ImportBinding(name, module, name, row)]


def _c_imports(node: Node) -> list[ImportBinding]:
    path = node.child_by_field_name("path")
    if path is None or path.type != "string_literal":
        return []  # <system> includes are not in the workspace
    return [ImportBinding("*", _string_content(path), "*", node.start_point.row)]


_EXTRACTORS = {
    "python": ({"import_statement", "import_from_statement"}, _python_imports),
    "javascript": ({"import_statement", "lexical_declaration", "variable_declaration"}, _js_imports),
    "typescript": ({"import_statement", "lexical_declaration", "variable_declaration"}, _js_imports),
    "tsx": ({"import_statement", "lexical_declaration", "variable_declaration"}, _js_imports),
    "go": ({"import_declaration"}, _go_imports),
    "rust": ({"use_declaration"}, _rust_imports),
    "java": ({"import_declaration"}, _java_imports),
    "c": ({"preproc_include"}, _c_imports),
    "cpp": ({"preproc_include"}, _c_imports),
}
# Containers whose direct statements are still "top level" for imports (try/except ImportError, if TYPE_CHECKING).
_CONTAINERS = frozenset(
    {
        "try_statement",
        "if_statement",
        "else_clause",
        "except_clause",
        "finally_clause",
        "block",
        "elif_clause",
        "with_statement",
        "preproc_ifdef",
        "preproc_if",
        "preproc_else",
        "mod_item",
        "declaration_list",
        "export_statement",
    }
)


def extract_imports(language: str | None, root: Node, scopes: Iterable[Node] = ()) -> list[ImportBinding]:
    """Import bindings at the top level of ``root`` (and inside each node of ``scopes``), in source order."""
    spec = _EXTRACTORS.get(language or "")
    if spec is None:
        return []
    types, extract = spec
    out: list[ImportBinding] = []
    seen: set[tuple[int, int]] = set()

    def visit(node: Node, depth: int) -> None:
        for child in node.children:
            if child.type in types:
                key = (child.start_byte, child.end_byte)
                if key not in seen:
                    seen.add(key)
                    out.extend(extract(child))
            elif depth < 3 and child.type in _CONTAINERS:
                visit(child, depth + 1)

    visit(root, 0)
    for scope in scopes:
        body = scope.child_by_field_name("body") or scope
        visit(body, 1)
    out.sort(key=lambda b: b.line)
    return out
