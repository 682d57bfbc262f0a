"""C++: C's handlers and includes, plus classes, namespaces, templates and `using` aliases."""

from __future__ import annotations

import re

from indexer.languages import c
from indexer.languages.base import LanguageSpec, Node, Wrapper, named, node_text, top_level, words


def _namespace(node: Node) -> tuple[str, Node] | None:
    body = node.child_by_field_name("body")
    if body is None:
        return None
    name = node.child_by_field_name("name")
    return (node_text(name).replace(" ", "").replace("::", ".") if name is not None else ""), body


KEYWORDS = c.KEYWORDS | words(
    "alignas alignof and asm catch class constexpr consteval constinit const_cast decltype delete "
    "dynamic_cast explicit export friend mutable namespace new noexcept not nullptr operator or override "
    "private protected public reinterpret_cast static_assert static_cast template this throw try typeid "
    "typename using virtual final concept requires co_await co_return co_yield std"
)

SPEC = LanguageSpec(
    key="cpp",
    extensions=(".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".c++", ".h++"),
    grammar_module="tree_sitter_cpp",
    grammar_function="language",
    line_comment="//",
    block_comment=("/*", "*/"),
    lsp_ids=("cpp", "cuda-cpp"),
    elision=" { ... }",
    definitions={
        **c.DEFINITIONS,
        "class_specifier": c.record("class", container=True),
        "struct_specifier": c.record("struct", container=True),
        "union_specifier": c.record("struct", container=True),
        "alias_declaration": top_level(named("type", body_field=None)),
    },
    wrappers={"template_declaration": Wrapper(None, in_signature=True)},
    scopes={"namespace_definition": _namespace, "linkage_specification": c.linkage},
    transparent=c.TRANSPARENT,
    imports={"preproc_include": c.bindings},
    trivial=c.TRIVIAL | {"using_declaration", "namespace_alias_definition"},
    assigned_names=c.declared_names,
    identifiers=c.IDENTIFIERS | {"namespace_identifier"},
    lexer=c.LEXER,
    keywords=KEYWORDS,
    builtins=c.BUILTINS | words("string vector map unique_ptr shared_ptr cout endl size_t"),
    resolve=c.resolve,
    function_scopes=frozenset({"function_definition", "lambda_expression"}),
    class_scopes=frozenset({"class_specifier", "struct_specifier"}),
    member_header=re.compile(r"^[ \t]+(?:virtual[ \t]+|static[ \t]+|inline[ \t]+)*[\w:<>,*& ]+[ \t]+[~\w]+[ \t]*\("),
)
SPECS = (SPEC,)
