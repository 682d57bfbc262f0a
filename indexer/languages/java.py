"""Java: its grammar, definitions (classes, records, interfaces, enums and their members), imports."""

from __future__ import annotations

import posixpath
import re

from indexer.languages.base import (
    C_COMMENTS,
    C_SKIP,
    CHAR,
    DQ,
    IDENT,
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    named,
    text_of,
    with_paths,
    words,
)


def _bindings(node: Node) -> list[ImportBinding]:
    """``import a.b.C;`` binds C; ``import static a.b.C.m;`` binds m; ``import a.b.*;`` binds everything."""
    row = node.start_point.row
    target = next((c for c in node.children if c.type in ("scoped_identifier", "identifier")), None)
    if target is None:
        return []
    dotted = re.sub(r"\s+", "", text_of(target))
    if any(c.type == "asterisk" for c in node.children):
        return [ImportBinding("*", dotted, "*", row)]
    module, _, name = dotted.rpartition(".")
    return [ImportBinding(name, module, name, row)]


def _import_path(binding: ImportBinding) -> str:
    return f"{binding.module}.{binding.name}" if binding.module else binding.name


def _resolve(files: WorkspaceFiles, importer: str, binding: ImportBinding) -> ImportBinding:
    """``a.b.C`` -> ``a/b/C.java``; a static import's class; ``a.b.*`` -> the files of ``a/b``."""
    if binding.name == "*":
        directory = binding.module.replace(".", "/")
        found = sorted(p for p in files.paths() if posixpath.dirname(p).endswith(directory))[:20]
        return with_paths(binding, found)
    parts = [*binding.module.split("."), binding.name]
    for cut in (len(parts), len(parts) - 1):
        hit = files.tail_match("/".join(parts[:cut]) + ".java")
        if hit:
            return with_paths(binding, hit)
    return binding


SPEC = LanguageSpec(
    key="java",
    extensions=(".java",),
    grammar_module="tree_sitter_java",
    grammar_function="language",
    line_comment="//",
    block_comment=("/*", "*/"),
    lsp_ids=("java",),
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
    imports={"import_declaration": _bindings},
    import_path=_import_path,
    comments=frozenset({"line_comment", "block_comment"}),
    trivial=frozenset({"package_declaration", "module_declaration"}),
    identifiers=frozenset({"identifier", "type_identifier"}),
    lexer=re.compile(
        C_SKIP + rb'"""(?:[^"\\]|\\.|"(?!""))*"""|' + C_COMMENTS + rb"|" + DQ + rb"|" + CHAR + rb"|" + IDENT, re.S
    ),
    keywords=words(
        "abstract assert boolean break byte case catch char class const continue default do double else enum "
        "extends final finally float for goto if implements import instanceof int interface long native new "
        "package private protected public return short static strictfp super switch synchronized this throw "
        "throws transient try void volatile while true false null var record yield sealed permits"
    ),
    builtins=words("String Object Integer Long Double Boolean System Math List Map Set Override Exception"),
    resolve=_resolve,
    function_scopes=frozenset({"method_declaration", "constructor_declaration", "lambda_expression"}),
    class_scopes=frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration"}),
    member_header=re.compile(
        r"^[ \t]+(?:public|private|protected|static|final|abstract|\s)+[\w<>\[\], ]+\s+\w+\s*\("
    ),
)
SPECS = (SPEC,)
