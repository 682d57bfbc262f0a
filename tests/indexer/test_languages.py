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
