"""The language table: extensions, grammar loading, per-thread parsers, and node types that exist."""

from __future__ import annotations

import threading

import pytest
import tree_sitter

from indexer import languages
from indexer.languages import LANGUAGES, get_language, language_for_path, parser_for, spec_for


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a.py", "python"),
        ("stubs/a.pyi", "python"),
        ("a.js", "javascript"),
        ("a.mjs", "javascript"),
        ("a.cjs", "javascript"),
        ("ui/App.jsx", "javascript"),
        ("a.ts", "typescript"),
        ("a.mts", "typescript"),
        ("a.cts", "typescript"),
        ("types/index.d.ts", "typescript"),
        ("ui/App.tsx", "tsx"),
        ("main.go", "go"),
        ("src/lib.rs", "rust"),
        ("src/Main.java", "java"),
        ("list.c", "c"),
        ("list.h", "c"),
        ("a.cc", "cpp"),
        ("a.cpp", "cpp"),
        ("a.cxx", "cpp"),
        ("a.hpp", "cpp"),
        ("a.hh", "cpp"),
        ("a.hxx", "cpp"),
        ("UPPER.PY", "python"),
        ("windows\\path\\x.go", "go"),
    ],
)
def test_language_for_path(path: str, language: str) -> None:
    assert language_for_path(path) == language


@pytest.mark.parametrize("path", ["README.md", "Makefile", "data.json", ".gitignore", "noext", "a.py.bak"])
def test_language_for_path_unknown(path: str) -> None:
    assert language_for_path(path) is None


def test_every_grammar_loads_and_parses() -> None:
    snippets = {
        "python": b"def f():\n    return 1\n",
        "javascript": b"function f() { return 1; }\n",
        "typescript": b"function f(): number { return 1; }\n",
        "tsx": b"const A = () => <div>hi</div>;\n",
        "go": b"package main\nfunc f() int { return 1 }\n",
        "rust": b"fn f() -> i32 { 1 }\n",
        "java": b"class A { int f() { return 1; } }\n",
        "c": b"int f(void) { return 1; }\n",
        "cpp": b"namespace n { int f() { return 1; } }\n",
    }
    assert set(snippets) == set(LANGUAGES)
    for key, source in snippets.items():
        language = get_language(key)
        assert isinstance(language, tree_sitter.Language)
        assert get_language(key) is language  # cached
        tree = parser_for(key).parse(source)
        assert not tree.root_node.has_error, key


def test_node_types_in_the_table_exist_in_their_grammars() -> None:
    """A misspelt node type would silently never match: check every name against the grammar."""
    for key, spec in LANGUAGES.items():
        language = get_language(key)
        names = (
            set(spec.definitions)
            | set(spec.wrappers)
            | set(spec.scopes)
            | set(spec.transparent)
            | set(spec.imports)
            | set(spec.comments)
            | set(spec.decorations)
            | set(spec.trivial)
            | set(spec.identifiers)
            | set(spec.import_statements or ())
            | set(spec.function_scopes)
            | set(spec.class_scopes)
        )
        missing = sorted(n for n in names if not language.id_for_node_kind(n, True))
        assert not missing, f"{key}: {missing}"


def test_parser_is_cached_per_thread() -> None:
    mine = parser_for("python")
    assert parser_for("python") is mine
    other: list[tree_sitter.Parser] = []
    thread = threading.Thread(target=lambda: other.append(parser_for("python")))
    thread.start()
    thread.join()
    assert other and other[0] is not mine
    assert parser_for("go") is not mine


def test_spec_for_and_unknown_language() -> None:
    assert spec_for("rust").extensions == (".rs",)
    with pytest.raises(KeyError):
        spec_for("cobol")


def test_extensions_are_unique_and_lowercase() -> None:
    seen: dict[str, str] = {}
    for key, spec in LANGUAGES.items():
        for ext in spec.extensions:
            assert ext == ext.lower() and ext.startswith(".")
            assert ext not in seen, f"{ext} in {seen.get(ext)} and {key}"
            seen[ext] = key


def test_fingerprint_is_stable_and_names_every_language() -> None:
    first = languages.fingerprint()
    assert first == languages.fingerprint()
    assert "0x" not in first  # no memory addresses
    for key in LANGUAGES:
        assert f"\n{key}|" in "\n" + first


def test_every_module_of_the_package_is_a_language() -> None:
    """Adding a language is one file: the registry finds each module's SPECS without a list to edit."""
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(languages.__path__)} - {"base"}
    found = {spec.key.split("_")[0] for spec in LANGUAGES.values()}
    assert modules <= found | {"typescript"}  # typescript.py holds the typescript and tsx dialects
    assert set(LANGUAGES) == {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp"}


def test_lsp_language_ids_and_comment_syntax_come_from_the_specs() -> None:
    assert languages.language_for_lsp_id("typescriptreact") == "tsx"
    assert languages.language_for_lsp_id("javascriptreact") == "javascript"
    assert languages.language_for_lsp_id("cobol") is None
    assert spec_for("python").line_comment == "#"
    assert spec_for("go").line_comment == "//" and spec_for("go").block_comment == ("/*", "*/")


def test_noise_words_are_keywords_and_builtins() -> None:
    python = spec_for("python")
    assert {"def", "self", "len", "ValueError"} <= python.noise_words
    assert "len" not in python.keywords  # builtins are recorded in chunks, never looked up
    assert b"def" in python.keyword_bytes
    assert "console" in spec_for("javascript").noise_words


@pytest.mark.parametrize(
    ("language", "source", "expected"),
    [
        (
            "python",
            b"from . import a, b as c\nfrom ..m import X as Y\nimport os.path as osp\nfrom z import *\n",
            [("a", ".", "a"), ("c", ".", "b"), ("Y", "..m", "X"), ("osp", "os.path", ""), ("*", "z", "*")],
        ),
        (
            "javascript",
            b"import D, { a, b as c } from './m.js';\nimport * as ns from 'x';\nconst { r } = require('./q');\n",
            [
                ("D", "./m.js", "default"),
                ("a", "./m.js", "a"),
                ("c", "./m.js", "b"),
                ("ns", "x", ""),
                ("r", "./q", "r"),
            ],
        ),
        ("go", b'package p\nimport (\n  "fmt"\n  h "net/http"\n)\n', [("fmt", "fmt", ""), ("h", "net/http", "")]),
        (
            "rust",
            b"use std::fmt::{self, Display};\nuse crate::a::B as C;\n",
            [("fmt", "std", "fmt"), ("Display", "std::fmt", "Display"), ("C", "crate::a", "B")],
        ),
        ("java", b"import java.util.Map;\nimport static a.B.m;\n", [("Map", "java.util", "Map"), ("m", "a.B", "m")]),
        ("c", b'#include "list.h"\n#include <stdio.h>\n', [("*", "list.h", "*"), ("*", "<stdio.h>", "*")]),
    ],
)
def test_one_import_reader_per_language(language: str, source: bytes, expected: list[tuple[str, str, str]]) -> None:
    root = parser_for(language).parse(source).root_node
    found = []
    for node in root.children:
        found.extend((b.local, b.module, b.name) for b in languages.import_bindings(language, node))
    assert found == expected
