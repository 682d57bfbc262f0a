"""JavaScript: its grammar, definitions, ES-module and ``require`` imports, and how they resolve.

TypeScript and TSX (``typescript.py``) build on the handlers here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from indexer.languages.base import (
    BACKTICK,
    C_COMMENTS,
    C_SKIP,
    DQ,
    FUNCTION_VALUES,
    IDENT,
    SQ,
    BindingContext,
    DefMatch,
    Handler,
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    Wrapper,
    annotation_class,
    class_of_call,
    is_constant_name,
    named,
    node_text,
    string_content,
    text_of,
    with_paths,
    words,
)

# --------------------------------------------------------------------------------------------------
# Definitions


def _variable(node: Node, in_container: bool) -> Sequence[DefMatch]:
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
        if value.type in FUNCTION_VALUES:
            return (DefMatch("function", name, node, value.child_by_field_name("body")),)
        if value.type == "class":
            body = value.child_by_field_name("body")
            return (DefMatch("class", name, node, body, container=body is not None),)
    first = node.child(0)
    if first is not None and first.type == "const" and is_constant_name(name):
        return (DefMatch("constant", name, node),)
    return ()


def _assignment(node: Node, in_container: bool) -> Sequence[DefMatch]:
    """`Foo.prototype.bar = function () {}`, `exports.baz = () => {}`, `handler = function () {}`."""
    if in_container:
        return ()
    expr = node.named_child(0)
    if expr is None or expr.type != "assignment_expression":
        return ()
    left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
    if left is None or right is None or right.type not in FUNCTION_VALUES:
        return ()
    parts = [p.strip() for p in node_text(left).split(".")]
    name = parts[-1]
    if not re.fullmatch(r"[A-Za-z_$][\w$]*", name) or name == "exports":
        return ()
    owner = tuple(p for p in parts[:-1] if p not in ("prototype", "module", "exports", "this", "window"))
    kind = "method" if "prototype" in parts[:-1] else "function"
    return (DefMatch(kind, name, node, right.child_by_field_name("body"), qualifier=owner),)


def js_field(node: Node, in_container: bool) -> Sequence[DefMatch]:
    """A class field holding an arrow function (`handle = () => {...}`) is a method."""
    if not in_container:
        return ()
    value = node.child_by_field_name("value")
    name = node.child_by_field_name("property") or node.child_by_field_name("name")
    if value is None or name is None or value.type not in FUNCTION_VALUES:
        return ()
    return (DefMatch("function", node_text(name), node, value.child_by_field_name("body")),)


_REQUIRE = re.compile(rb"""\b(?:require|import)\s*\(\s*(?:'([^'\n]+)'|"([^"\n]+)")\s*\)""")


def source_imports(source: bytes) -> list[str]:
    return [(a or b).decode("utf-8", "replace") for a, b in _REQUIRE.findall(source)]


def assigned_names(node: Node) -> list[str]:
    if node.type == "export_statement":
        declaration = node.child_by_field_name("declaration")
        return assigned_names(declaration) if declaration is not None else []
    if node.type not in ("lexical_declaration", "variable_declaration"):
        return []
    out = []
    for declarator in node.named_children:
        name = declarator.child_by_field_name("name") if declarator.type == "variable_declarator" else None
        if name is not None and name.type == "identifier":
            out.append(node_text(name))
    return out


DEFINITIONS: dict[str, Handler] = {
    "function_declaration": named("function"),
    "generator_function_declaration": named("function"),
    "class_declaration": named("class", container=True),
    "method_definition": named("function"),
    "lexical_declaration": _variable,
    "variable_declaration": _variable,
    "expression_statement": _assignment,
    "field_definition": js_field,
}
WRAPPERS = {"export_statement": Wrapper("declaration", in_signature=True)}
IDENTIFIERS = frozenset(
    {
        "identifier",
        "property_identifier",
        "shorthand_property_identifier",
        "shorthand_property_identifier_pattern",
        "private_property_identifier",
    }
)


# --------------------------------------------------------------------------------------------------
# Imports: ``import`` statements, re-exports (``export ... from``) and ``require`` declarations


def import_bindings(node: Node) -> list[ImportBinding]:
    """Names an ``import``/``export ... from`` statement or a ``const x = require("m")`` binds."""
    row = node.start_point.row
    if node.type in ("lexical_declaration", "variable_declaration"):
        return _require_bindings(node)
    source = node.child_by_field_name("source")
    if source is None:
        return []
    module = string_content(source) or ""
    if not module:
        return []
    if node.type == "export_statement":  # a re-export binds nothing here
        names = [
            text_of(spec.child_by_field_name("name"))
            for clause in node.children
            if clause.type == "export_clause"
            for spec in clause.children
            if spec.type == "export_specifier"
        ]
        return [ImportBinding("", module, name, row) for name in names] or [ImportBinding("", module, "*", row)]
    clause = next((c for c in node.children if c.type == "import_clause"), None)
    if clause is None:
        return [ImportBinding("*", module, "*", row)]
    out: list[ImportBinding] = []
    for part in clause.children:
        if part.type == "identifier":
            out.append(ImportBinding(text_of(part), module, "default", row))
        elif part.type == "namespace_import":
            alias = next((c for c in part.children if c.type == "identifier"), None)
            out.append(ImportBinding(text_of(alias), module, "", row, (), True))
        elif part.type == "named_imports":
            for spec in part.children:
                if spec.type != "import_specifier":
                    continue
                name = text_of(spec.child_by_field_name("name"))
                alias = spec.child_by_field_name("alias")
                out.append(ImportBinding(text_of(alias) if alias else name, module, name, row))
    return out or [ImportBinding("*", module, "*", row)]


def _require_bindings(node: Node) -> list[ImportBinding]:
    out: list[ImportBinding] = []
    row = node.start_point.row
    for declarator in node.children:
        if declarator.type != "variable_declarator":
            continue
        value = declarator.child_by_field_name("value")
        if value is None or value.type != "call_expression":
            continue
        if text_of(value.child_by_field_name("function")) != "require":
            continue
        args = value.child_by_field_name("arguments")
        source = next((c for c in args.children if c.type == "string"), None) if args else None
        module = string_content(source) if source is not None else None
        if not module:
            continue
        target = declarator.child_by_field_name("name")
        if target is not None and target.type == "identifier":
            out.append(ImportBinding(text_of(target), module, "", row, (), True))
        elif target is not None and target.type == "object_pattern":
            for prop in target.children:
                if prop.type == "shorthand_property_identifier_pattern":
                    out.append(ImportBinding(text_of(prop), module, text_of(prop), row))
                elif prop.type == "pair_pattern":
                    key = text_of(prop.child_by_field_name("key"))
                    val = text_of(prop.child_by_field_name("value"))
                    out.append(ImportBinding(val or key, module, key, row))
    return out


IMPORTS = {
    "import_statement": import_bindings,
    "export_statement": import_bindings,
    "lexical_declaration": import_bindings,
    "variable_declaration": import_bindings,
}
IMPORT_STATEMENTS = frozenset({"import_statement", "export_statement"})  # ``require`` stays module code


# --------------------------------------------------------------------------------------------------
# Module resolution: relative specifiers with the usual extensions and ``index`` files; ``@/`` and ``~/``
# as ``src/``. Bare specifiers are packages outside the workspace.

_EXTENSIONS = ("", ".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_INDEX = ("/index.ts", "/index.tsx", "/index.js", "/index.jsx", "/index.mjs")


def resolve(files: WorkspaceFiles, importer: str, binding: ImportBinding) -> ImportBinding:
    specifier = binding.module
    if specifier.startswith((".", "/")):
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
    elif specifier.startswith(("@/", "~/")):
        base = "src/" + specifier[2:]
    else:
        return binding
    paths = files.paths()
    stem = base[:-3] if base.endswith((".js", ".jsx")) and base not in paths else base
    for candidate in [*(stem + ext for ext in _EXTENSIONS), *(base + idx for idx in _INDEX)]:
        if candidate in paths:
            return with_paths(binding, [candidate])
    return binding


# --------------------------------------------------------------------------------------------------
# Local bindings: ``const/let/var`` declarations (with a type annotation or ``new Cls(...)``) and the
# enclosing function's parameters.

_DECL = re.compile(r"\b(?:const|let|var)[ \t]+([A-Za-z_$][\w$]*)[ \t]*(?::[ \t]*([^=;\n]+?))?[ \t]*(?:=[ \t]*(.*))?$")
_TYPED_PARAM = re.compile(r"([A-Za-z_$][\w$]*)[ \t]*\??:[ \t]*([A-Z][\w.]*)")
_PARAMS = re.compile(r"\(([^()]*)\)")
_PARAM_NAME = re.compile(r"(?:^|,)\s*(?:\.\.\.)?([A-Za-z_$][\w$]*)")


def local_bindings(ctx: BindingContext) -> tuple[set[str], dict[str, str]]:
    names: set[str] = set()
    types: dict[str, str] = {}
    in_function = ctx.function_start is not None
    for text in ctx.region():
        for match in _DECL.finditer(text):
            if in_function:
                names.add(match.group(1))
            cls = annotation_class(match.group(2) or "") or class_of_call(match.group(3) or "")
            if cls:
                types[match.group(1)] = cls
    if in_function and ctx.function_start is not None and ctx.function_start < len(ctx.lines):
        header = ctx.lines[ctx.function_start]
        params = _PARAMS.search(header)
        if params:
            names.update(m.group(1) for m in _PARAM_NAME.finditer(params.group(1)))
        for match in _TYPED_PARAM.finditer(header):
            names.add(match.group(1))
            types[match.group(1)] = match.group(2).rsplit(".", 1)[-1]
    return names, types


KEYWORDS = words(
    "break case catch class const continue debugger default delete do else export extends false finally for "
    "function if import in instanceof let new null return super switch this throw true try typeof var void "
    "while with yield async await of static get set undefined require enum implements package protected "
    "interface private public from as"
)
BUILTINS = words(
    "console module exports Object Array String Number Boolean Promise JSON Math Error Symbol RegExp Date "
    "Map Set WeakMap WeakSet globalThis window document NaN Infinity parseInt parseFloat isNaN arguments"
)
FUNCTION_SCOPES = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "arrow_function",
        "function_expression",
        "generator_function",
    }
)
CLASS_SCOPES = frozenset({"class_declaration", "class"})
MEMBER_HEADER = re.compile(r"^[ \t]+(?:static[ \t]+|async[ \t]+|get[ \t]+|set[ \t]+)*[A-Za-z_$][\w$]*[ \t]*\(")
MODULE_ASSIGNMENT = re.compile(r"^(?:export[ \t]+)?(?:var|let|const)[ \t]+([A-Za-z_$][\w$]*)[ \t]*=", re.M)
LEXER = re.compile(C_SKIP + C_COMMENTS + rb"|" + DQ + rb"|" + SQ + rb"|" + BACKTICK + rb"|" + IDENT, re.S)

SPEC = LanguageSpec(
    key="javascript",
    extensions=(".js", ".mjs", ".cjs", ".jsx"),
    grammar_module="tree_sitter_javascript",
    grammar_function="language",
    line_comment="//",
    block_comment=("/*", "*/"),
    lsp_ids=("javascript", "javascriptreact"),
    elision=" { ... }",
    definitions=DEFINITIONS,
    wrappers=WRAPPERS,
    transparent=frozenset(),
    imports=IMPORTS,
    import_statements=IMPORT_STATEMENTS,
    source_imports=source_imports,
    comments=frozenset({"comment", "html_comment"}),
    trivial=frozenset({"empty_statement"}),
    assigned_names=assigned_names,
    identifiers=IDENTIFIERS,
    lexer=LEXER,
    keywords=KEYWORDS,
    builtins=BUILTINS,
    resolve=resolve,
    local_bindings=local_bindings,
    function_scopes=FUNCTION_SCOPES,
    class_scopes=CLASS_SCOPES,
    member_header=MEMBER_HEADER,
    module_assignment=MODULE_ASSIGNMENT,
)
SPECS = (SPEC,)
