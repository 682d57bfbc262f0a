"""The language registry: every module of this package is a language; this module finds and serves them.

Each language module (``python.py``, ``javascript.py``, ...) defines ``SPECS``, a tuple of
:class:`~indexer.languages.base.LanguageSpec` (one per dialect: ``typescript.py`` holds TypeScript and TSX).
The registry imports every module here except ``base``, so adding a language is one new file (plus its
grammar wheel in ``pyproject.toml``): see "Adding a language" in the README. Everything else in the project
asks the spec (``spec_for(key)``) and never branches on a language key.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import threading
from pathlib import PurePath

import tree_sitter

from indexer.languages.base import (
    CALLABLE_KINDS,
    DEFINITION_KINDS,
    TEXT_LEXER,
    TYPE_KINDS,
    BindingContext,
    DefMatch,
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    Wrapper,
    dedupe,
    is_constant_name,
    node_text,
    with_paths,
)

__all__ = [
    "CALLABLE_KINDS",
    "DEFINITION_KINDS",
    "EXTENSIONS",
    "LANGUAGES",
    "LSP_IDS",
    "TEXT_LEXER",
    "TYPE_KINDS",
    "BindingContext",
    "DefMatch",
    "ImportBinding",
    "LanguageSpec",
    "WorkspaceFiles",
    "Wrapper",
    "fingerprint",
    "get_language",
    "import_bindings",
    "imports_of",
    "is_constant_name",
    "language_for_lsp_id",
    "language_for_path",
    "node_text",
    "parser_for",
    "spec_for",
    "with_paths",
]


def _discover() -> dict[str, LanguageSpec]:
    found: dict[str, LanguageSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for spec in getattr(module, "SPECS", ()):
            if spec.key in found:
                raise RuntimeError(f"language {spec.key!r} is defined twice ({info.name})")
            found[spec.key] = spec
    return found


LANGUAGES: dict[str, LanguageSpec] = _discover()
EXTENSIONS: dict[str, str] = {ext: spec.key for spec in LANGUAGES.values() for ext in spec.extensions}
LSP_IDS: dict[str, str] = {lsp_id: spec.key for spec in LANGUAGES.values() for lsp_id in spec.lsp_ids}


def language_for_path(path: str | PurePath) -> str | None:
    """The language key for a file name by its extension, or None when no grammar applies."""
    suffix = PurePath(path).suffix.lower()
    return EXTENSIONS.get(suffix) if suffix else None


def language_for_lsp_id(language_id: str | None) -> str | None:
    """The language key for an LSP ``languageId`` (``typescriptreact`` -> ``tsx``), or None."""
    return LSP_IDS.get(language_id or "")


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


def import_bindings(language: str, node: Node) -> list[ImportBinding]:
    """The names an import node binds (empty when the node binds none)."""
    reader = LANGUAGES[language].imports.get(node.type)
    return reader(node) if reader is not None else []


def imports_of(language: str, node: Node) -> list[str]:
    """Module paths an import statement names, as the chunker records them (empty when it is none)."""
    spec = LANGUAGES[language]
    if spec.import_statements is not None and node.type not in spec.import_statements:
        return []
    return dedupe([spec.import_path(b) for b in import_bindings(language, node)])


def fingerprint() -> str:
    """A stable description of what the chunker reads from the table (no memory addresses): stored indexes
    built with another table are rebuilt. Grammar versions are the caller's to add."""
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
                    ",".join(sorted(spec.imports if spec.import_statements is None else spec.import_statements)),
                    ",".join(sorted(spec.comments | spec.decorations | spec.trivial)),
                    str(spec.attach_comments),
                    spec.lexer.pattern.decode("latin-1"),
                    ",".join(sorted(spec.keywords)),
                ]
            )
        )
    return "\n".join(rows)
