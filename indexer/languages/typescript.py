"""TypeScript and TSX: JavaScript's handlers, imports and resolution, plus types, interfaces, enums and
namespaces."""

from __future__ import annotations

import re

from indexer.languages import javascript as js
from indexer.languages.base import Handler, LanguageSpec, Node, Wrapper, named, node_text, top_level, words


def _namespace(node: Node) -> tuple[str, Node] | None:
    target = node.named_child(0) if node.type == "expression_statement" else node
    if target is None or target.type != "internal_module":
        return None
    name, body = target.child_by_field_name("name"), target.child_by_field_name("body")
    if name is None or body is None:
        return None
    return node_text(name), body


DEFINITIONS: dict[str, Handler] = {
    **{k: v for k, v in js.DEFINITIONS.items() if k != "field_definition"},
    "abstract_class_declaration": named("class", container=True),
    "interface_declaration": named("interface"),
    "type_alias_declaration": top_level(named("type", body_field=None)),
    "enum_declaration": named("enum"),
    "public_field_definition": js.js_field,
}
WRAPPERS = {**js.WRAPPERS, "ambient_declaration": Wrapper(None, in_signature=True)}
KEYWORDS = js.KEYWORDS | words(
    "abstract any as asserts boolean declare enum implements interface is keyof module namespace never number "
    "object private protected public readonly string symbol type unknown infer override satisfies"
)
MEMBER_HEADER = re.compile(
    r"^[ \t]+(?:public[ \t]+|private[ \t]+|protected[ \t]+|static[ \t]+|readonly[ \t]+|async[ \t]+)*"
    r"[A-Za-z_$][\w$]*[ \t]*[(<:?]"
)


def _spec(key: str, extensions: tuple[str, ...], grammar_function: str, lsp_ids: tuple[str, ...]) -> LanguageSpec:
    return LanguageSpec(
        key=key,
        extensions=extensions,
        grammar_module="tree_sitter_typescript",
        grammar_function=grammar_function,
        line_comment="//",
        block_comment=("/*", "*/"),
        lsp_ids=lsp_ids,
        elision=" { ... }",
        definitions=DEFINITIONS,
        wrappers=WRAPPERS,
        scopes={"expression_statement": _namespace, "internal_module": _namespace},
        imports=js.IMPORTS,
        import_statements=js.IMPORT_STATEMENTS,
        source_imports=js.source_imports,
        comments=frozenset({"comment", "html_comment"}),
        trivial=frozenset({"empty_statement"}),
        assigned_names=js.assigned_names,
        identifiers=js.IDENTIFIERS | {"type_identifier"},
        lexer=js.LEXER,
        keywords=KEYWORDS,
        builtins=js.BUILTINS,
        resolve=js.resolve,
        local_bindings=js.local_bindings,
        function_scopes=js.FUNCTION_SCOPES,
        class_scopes=js.CLASS_SCOPES | {"abstract_class_declaration", "interface_declaration", "enum_declaration"},
        member_header=MEMBER_HEADER,
        module_assignment=js.MODULE_ASSIGNMENT,
    )


TYPESCRIPT = _spec("typescript", (".ts", ".mts", ".cts"), "language_typescript", ("typescript",))
TSX = _spec("tsx", (".tsx",), "language_tsx", ("typescriptreact",))
SPECS = (TYPESCRIPT, TSX)
