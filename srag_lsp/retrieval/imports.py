"""A file's import statements, read from its syntax tree: one ``ImportBinding`` per name an import binds.

``extract_imports(language, root, scopes)`` reads the import statements at the top level, one level into
``try``/``if`` blocks, and inside the given enclosing functions, with the language spec's reader (the one the
chunker uses too); :mod:`srag_lsp.retrieval.workspace_modules` resolves the bindings to files.
"""

from __future__ import annotations

from collections.abc import Iterable

from tree_sitter import Node

from indexer.languages import LANGUAGES, ImportBinding

__all__ = ["ImportBinding", "extract_imports"]


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
    spec = LANGUAGES.get(language or "")
    if spec is None or not spec.imports:
        return []
    readers = spec.imports
    out: list[ImportBinding] = []
    seen: set[tuple[int, int]] = set()

    def visit(node: Node, depth: int) -> None:
        for child in node.children:
            reader = readers.get(child.type)
            if reader is not None:
                key = (child.start_byte, child.end_byte)
                if key not in seen:
                    seen.add(key)
                    out.extend(b for b in reader(child) if b.local)  # a re-export binds no name here
            elif depth < 3 and child.type in _CONTAINERS:
                visit(child, depth + 1)

    visit(root, 0)
    for scope in scopes:
        body = scope.child_by_field_name("body") or scope
        visit(body, 1)
    out.sort(key=lambda b: b.line)
    return out
