"""The chunker on real grammars: definitions, qualified names, line ranges, signatures, class summaries,
module chunks, splitting, imports, syntax errors, stable ids, incremental parsing."""

from __future__ import annotations

import inspect
import sysconfig
import textwrap
from pathlib import Path

import pytest

from indexer import chunker
from indexer.chunker import chunk_file, parse
from indexer.model import Chunk, FileChunks

PYTHON = '''"""Shapes and their areas."""

from __future__ import annotations

import math
from .units import Unit, convert

PI_ISH = 3.14159
registry: dict[str, type] = {}


def register(cls):
    """Remember a shape class."""
    registry[cls.__name__] = cls
    return cls


@register
class Circle(Shape):
    """A circle."""

    sides = 0

    def __init__(self, radius: float) -> None:
        self.radius = radius

    @property
    def area(self) -> float:
        return math.pi * self.radius ** 2

    def scaled(self,
               factor: float,
               unit: Unit | None = None) -> Circle:
        return Circle(convert(self.radius * factor, unit))


if __name__ == "__main__":
    print(Circle(2).area)
'''

TYPESCRIPT = """import { EventEmitter } from "events";
import type { Item } from "./model";
import * as path from "node:path";

/** How many items a store keeps. */
export const MAX_ITEMS = 100;

export interface Store {
  get(id: string): Item | undefined;
  put(item: Item): void;
}

export type ItemId = string;

export enum Level {
  Low,
  High,
}

/**
 * A store kept in memory.
 */
export class MemoryStore extends EventEmitter implements Store {
  private items = new Map<ItemId, Item>();

  constructor(private readonly limit: number = MAX_ITEMS) {
    super();
  }

  get(id: string): Item | undefined {
    return this.items.get(id);
  }

  put(item: Item): void {
    this.items.set(item.id, item);
    this.emit("put", item);
  }
}

export function createStore(limit?: number): Store {
  return new MemoryStore(limit);
}

export const normalize = (id: string): ItemId =>
  id.trim().toLowerCase();
"""

JAVASCRIPT = """const express = require("express");
import { helper } from "./helper.js";

const PORT = 3000;

function start(port) {
  const app = express();
  app.listen(port);
  return app;
}

class Router {
  constructor() {
    this.routes = [];
  }

  add(route) {
    this.routes.push(route);
  }
}

Router.prototype.remove = function (route) {
  this.routes = this.routes.filter((r) => r !== route);
};

module.exports = { start, Router };
"""

GO = """// Package server serves items.
package server

import (
\t"fmt"
\t"net/http"
)

// DefaultPort is used when none is given.
const DefaultPort = 8080

// Server answers requests.
type Server struct {
\tPort  int
\titems map[string]string
}

// Handler handles one request.
type Handler interface {
\tHandle(w http.ResponseWriter, r *http.Request)
}

// New makes a server.
func New(port int) *Server {
\treturn &Server{Port: port, items: map[string]string{}}
}

// Get returns an item.
func (s *Server) Get(key string) (string, error) {
\tvalue, ok := s.items[key]
\tif !ok {
\t\treturn "", fmt.Errorf("no item %q", key)
\t}
\treturn value, nil
}
"""

RUST = """use std::collections::HashMap;
use std::fmt::{self, Display};

/// A key-value cache.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<String, u64>,
}

pub trait Store {
    fn get(&self, key: &str) -> Option<u64>;
    fn put(&mut self, key: String, value: u64);
}

impl Cache {
    /// Makes an empty cache.
    pub fn new() -> Self {
        Cache { entries: HashMap::new() }
    }
}

impl Store for Cache {
    fn get(&self, key: &str) -> Option<u64> {
        self.entries.get(key).copied()
    }

    fn put(&mut self, key: String, value: u64) {
        self.entries.insert(key, value);
    }
}

impl Display for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} entries", self.entries.len())
    }
}

pub const CAPACITY: usize = 64;

pub enum Policy {
    Lru,
    Fifo,
}
"""

JAVA = """package com.example.cache;

import java.util.HashMap;
import java.util.Map;
import static java.util.Objects.requireNonNull;

/**
 * A simple cache.
 */
public class Cache<K, V> implements Store<K, V> {
    private static final int CAPACITY = 16;
    private final Map<K, V> entries = new HashMap<>();

    public Cache() {
        super();
    }

    @Override
    public V get(K key) {
        return entries.get(requireNonNull(key));
    }

    public void put(K key, V value) {
        entries.put(key, value);
    }

    interface Listener {
        void onPut(Object key);
    }
}
"""

C = """#include <stdlib.h>
#include "list.h"

#define LIST_MAX 1024

/* A node of the list. */
struct node {
    int value;
    struct node *next;
};

typedef struct node node_t;

static int count = 0;

/* Prepend a value. */
node_t *
list_push(node_t *head, int value)
{
    node_t *n = malloc(sizeof *n);
    n->value = value;
    n->next = head;
    count++;
    return n;
}

int list_length(const node_t *head) {
    int length = 0;
    for (; head; head = head->next) length++;
    return length;
}
"""

CPP = """#include <string>
#include "shape.hpp"

namespace geo {

// A shape with an area.
class Shape {
public:
    virtual ~Shape() = default;
    virtual double area() const = 0;
    std::string name() const { return name_; }

private:
    std::string name_;
};

double Circle::area() const {
    return 3.14159 * r_ * r_;
}

template <typename T>
T clamp(T v, T lo, T hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace geo
"""

Row = tuple[str, str, int, int]  # kind, qualified name, start line, end line


def _rows(result: FileChunks) -> list[Row]:
    return [(c.kind, c.qualified_name, c.start_line, c.end_line) for c in result.chunks]


def _by_name(result: FileChunks, qualified_name: str, kind: str | None = None) -> Chunk:
    found = [c for c in result.chunks if c.qualified_name == qualified_name and (kind is None or c.kind == kind)]
    assert len(found) == 1, (qualified_name, [(c.kind, c.start_line) for c in found])
    return found[0]


def _source_lines(source: str, chunk: Chunk) -> str:
    return "\n".join(source.split("\n")[chunk.start_line - 1 : chunk.end_line])


# ---- one realistic sample per language ----------------------------------------------------------------


def test_python_sample() -> None:
    result = chunk_file("pkg/shapes.py", PYTHON)
    assert result.language == "python" and result.error is None
    assert _rows(result) == [
        ("module", "", 1, 6),
        ("constant", "PI_ISH", 8, 8),
        ("module", "", 9, 9),
        ("function", "register", 12, 15),
        ("class", "Circle", 18, 34),
        ("method", "Circle.__init__", 24, 25),
        ("method", "Circle.area", 27, 29),
        ("method", "Circle.scaled", 31, 34),
        ("module", "", 37, 38),
    ]
    assert result.imports == ["__future__", "math", ".units"]
    assert _by_name(result, "register").signature == "def register(cls):"
    assert _by_name(result, "Circle", "class").signature == "class Circle(Shape):"
    scaled = _by_name(result, "Circle.scaled")
    assert scaled.signature == (
        "def scaled(self,\n               factor: float,\n               unit: Unit | None = None) -> Circle:"
    )
    assert (scaled.symbol, scaled.scope) == ("scaled", "Circle")
    area = _by_name(result, "Circle.area")
    assert area.text.startswith("    @property\n    def area(self) -> float:")
    assert area.defines == ["area"] and {"math", "pi", "radius"} <= set(area.uses)
    assert "self" not in area.uses and "return" not in area.uses
    module_start = result.chunks[0]
    assert module_start.text.startswith('"""Shapes and their areas."""') and module_start.symbol == ""
    assert _by_name(result, "PI_ISH").signature == "PI_ISH = 3.14159"
    assert result.chunks[2].defines == ["registry"]
    assert result.chunks[-1].text == 'if __name__ == "__main__":\n    print(Circle(2).area)'


def test_python_class_chunk_is_a_summary() -> None:
    result = chunk_file("pkg/shapes.py", PYTHON)
    circle = _by_name(result, "Circle", "class")
    assert circle.text == (
        "@register\n"
        "class Circle(Shape):\n"
        '    """A circle."""\n'
        "\n"
        "    sides = 0\n"
        "\n"
        "    def __init__(self, radius: float) -> None: ...\n"
        "    @property\n"
        "    def area(self) -> float: ...\n"
        "    def scaled(self,\n"
        "               factor: float,\n"
        "               unit: Unit | None = None) -> Circle: ..."
    )
    assert circle.defines == ["Circle", "__init__", "area", "scaled"]
    assert "radius" not in circle.text.split("def __init__")[1].split("\n", 1)[1]  # no method bodies


def test_typescript_sample() -> None:
    result = chunk_file("src/store.ts", TYPESCRIPT)
    assert result.language == "typescript" and result.error is None
    assert _rows(result) == [
        ("constant", "MAX_ITEMS", 5, 6),  # with its doc comment
        ("interface", "Store", 8, 11),
        ("type", "ItemId", 13, 13),
        ("enum", "Level", 15, 18),
        ("class", "MemoryStore", 20, 38),
        ("method", "MemoryStore.constructor", 26, 28),
        ("method", "MemoryStore.get", 30, 32),
        ("method", "MemoryStore.put", 34, 37),
        ("function", "createStore", 40, 42),
        ("function", "normalize", 44, 45),
    ]
    assert result.imports == ["events", "./model", "node:path"]
    assert _by_name(result, "MemoryStore").signature == (
        "export class MemoryStore extends EventEmitter implements Store"
    )
    assert _by_name(result, "MemoryStore.get").signature == "get(id: string): Item | undefined"
    assert _by_name(result, "createStore").signature == "export function createStore(limit?: number): Store"
    assert _by_name(result, "normalize").signature == "export const normalize = (id: string): ItemId =>"
    summary = _by_name(result, "MemoryStore").text
    assert "  get(id: string): Item | undefined { ... }" in summary
    assert "private items = new Map<ItemId, Item>();" in summary
    assert "this.emit" not in summary and summary.endswith("}")


def test_tsx_uses_the_tsx_grammar() -> None:
    source = "export function App({ name }: Props) {\n  return <div className='x'>{name}</div>;\n}\n"
    result = chunk_file("ui/App.tsx", source)
    assert result.language == "tsx" and result.error is None
    assert _rows(result) == [("function", "App", 1, 3)]
    assert chunk_file("ui/App.ts", source).error is not None  # the same text is not TypeScript


def test_javascript_sample() -> None:
    result = chunk_file("web/app.js", JAVASCRIPT)
    assert result.language == "javascript" and result.error is None
    assert _rows(result) == [
        ("module", "", 1, 2),
        ("constant", "PORT", 4, 4),
        ("function", "start", 6, 10),
        ("class", "Router", 12, 20),
        ("method", "Router.constructor", 13, 15),
        ("method", "Router.add", 17, 19),
        ("method", "Router.remove", 22, 24),
        ("module", "", 26, 26),
    ]
    assert result.imports == ["./helper.js", "express"]
    assert _by_name(result, "Router.remove").signature == "Router.prototype.remove = function (route)"


def test_go_sample() -> None:
    result = chunk_file("server/server.go", GO)
    assert result.language == "go" and result.error is None
    assert _rows(result) == [
        ("constant", "DefaultPort", 9, 10),
        ("struct", "Server", 12, 16),
        ("interface", "Handler", 18, 21),
        ("function", "New", 23, 26),
        ("method", "Server.Get", 28, 35),
    ]
    assert result.imports == ["fmt", "net/http"]
    get = _by_name(result, "Server.Get")
    assert (get.symbol, get.scope) == ("Get", "Server")
    assert get.signature == "func (s *Server) Get(key string) (string, error)"
    assert get.text.startswith("// Get returns an item.\nfunc (s *Server)")
    assert _by_name(result, "Server").signature == "type Server struct"


def test_rust_sample() -> None:
    result = chunk_file("src/lib.rs", RUST)
    assert result.language == "rust" and result.error is None
    assert _rows(result) == [
        ("struct", "Cache", 4, 8),  # doc comment and attribute belong to it
        ("interface", "Store", 10, 13),
        ("impl", "Cache", 15, 20),
        ("method", "Cache.new", 16, 19),
        ("impl", "Cache", 22, 30),
        ("method", "Cache.get", 23, 25),
        ("method", "Cache.put", 27, 29),
        ("impl", "Cache", 32, 36),
        ("method", "Cache.fmt", 33, 35),
        ("constant", "CAPACITY", 38, 38),
        ("enum", "Policy", 40, 43),
    ]
    assert result.imports == ["std::collections::HashMap", "std::fmt", "std::fmt::Display"]
    impls = [c for c in result.chunks if c.kind == "impl"]
    assert [c.signature for c in impls] == ["impl Cache", "impl Store for Cache", "impl Display for Cache"]
    assert len({c.id for c in impls}) == 3
    assert _by_name(result, "Cache.fmt").signature == "fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result"
    trait = _by_name(result, "Store")
    assert "fn get(&self, key: &str) -> Option<u64>;" in trait.text  # signatures without bodies stay


def test_java_sample() -> None:
    result = chunk_file("src/main/java/com/example/cache/Cache.java", JAVA)
    assert result.language == "java" and result.error is None
    assert _rows(result) == [
        ("class", "Cache", 7, 30),
        ("method", "Cache.Cache", 14, 16),
        ("method", "Cache.get", 18, 21),
        ("method", "Cache.put", 23, 25),
        ("interface", "Cache.Listener", 27, 29),
    ]
    assert result.imports == ["java.util.HashMap", "java.util.Map", "java.util.Objects.requireNonNull"]
    assert _by_name(result, "Cache.put").signature == "public void put(K key, V value)"
    summary = _by_name(result, "Cache", "class").text
    assert "    public void put(K key, V value) { ... }" in summary
    assert "private static final int CAPACITY = 16;" in summary


def test_c_sample() -> None:
    result = chunk_file("src/list.c", C)
    assert result.language == "c" and result.error is None
    assert _rows(result) == [
        ("constant", "LIST_MAX", 4, 4),
        ("struct", "node", 6, 10),
        ("type", "node_t", 12, 12),
        ("module", "", 14, 14),
        ("function", "list_push", 16, 25),
        ("function", "list_length", 27, 31),
    ]
    assert result.imports == ["<stdlib.h>", "list.h"]
    assert _by_name(result, "list_push").signature == "node_t *\nlist_push(node_t *head, int value)"
    assert result.chunks[3].defines == ["count"]


def test_cpp_sample() -> None:
    result = chunk_file("src/shape.cpp", CPP)
    assert result.language == "cpp" and result.error is None
    assert _rows(result) == [
        ("class", "geo.Shape", 6, 15),
        ("method", "geo.Shape.name", 11, 11),
        ("method", "geo.Circle.area", 17, 19),
        ("function", "geo.clamp", 21, 24),
    ]
    assert result.imports == ["<string>", "shape.hpp"]
    area = _by_name(result, "geo.Circle.area")
    assert (area.symbol, area.scope, area.signature) == ("area", "geo.Circle", "double Circle::area() const")
    assert _by_name(result, "geo.clamp").signature == "template <typename T>\nT clamp(T v, T lo, T hi)"
    assert "    std::string name() const { ... }" in _by_name(result, "geo.Shape").text


def test_c_header_guard_and_typedef_struct() -> None:
    source = (
        "#ifndef POINT_H\n#define POINT_H\n\n"
        "typedef struct {\n    int x;\n    int y;\n} point_t;\n\n"
        "int point_add(point_t a, point_t b);\n\n#endif\n"
    )
    result = chunk_file("point.h", source)
    assert _rows(result) == [("struct", "point_t", 4, 7), ("module", "", 9, 9)]
    assert result.chunks[0].signature == "typedef struct { ... } point_t;"
    assert result.chunks[1].defines == ["point_add"]


# ---- chunk text and metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("a.py", PYTHON),
        ("a.ts", TYPESCRIPT),
        ("a.js", JAVASCRIPT),
        ("a.go", GO),
        ("a.rs", RUST),
        ("A.java", JAVA),
        ("a.c", C),
        ("a.cpp", CPP),
    ],
)
def test_chunk_contract(path: str, source: str) -> None:
    """Every chunk: its text is its source lines (or a summary of them), ids unique, tokens lowercase."""
    result = chunk_file(path, source)
    assert result.chunks
    assert len({c.id for c in result.chunks}) == len(result.chunks)
    for chunk in result.chunks:
        assert chunk.path == path and chunk.language == result.language
        assert 1 <= chunk.start_line <= chunk.end_line <= source.count("\n") + 1
        if chunk.kind in ("class", "struct", "interface", "enum", "impl"):
            assert chunk.text.split("\n")[0] == source.split("\n")[chunk.start_line - 1]
        else:
            assert chunk.text == _source_lines(source, chunk)
        if chunk.symbol:
            assert chunk.qualified_name.split(".")[-1] == chunk.symbol
            assert chunk.symbol in chunk.defines
            assert chunk.scope == ".".join(chunk.qualified_name.split(".")[:-1])
        assert chunk.tokens == chunk.tokens.lower()
        assert not set(chunk.defines) & set(chunk.uses)
        for name in chunk.defines:
            assert name.lower() in chunk.tokens.split() or name.strip("_").lower() in chunk.tokens.split()


def test_identifiers_skip_comments_and_strings() -> None:
    source = 'def f(alpha):\n    # gamma in a comment\n    return alpha + beta("delta in a string")\n'
    chunk = chunk_file("f.py", source).chunks[0]
    assert chunk.uses == ["alpha", "beta"]
    assert chunk.tokens.split() == ["f", "alpha", "beta"]


# ---- module-level code -------------------------------------------------------------------------------------


def test_import_only_and_blank_runs_make_no_chunk() -> None:
    source = "import os\nimport sys\n\n\ndef main():\n    return os.getcwd()\n\n\n# trailing comment\n"
    result = chunk_file("main.py", source)
    assert _rows(result) == [("function", "main", 5, 6)]
    assert result.imports == ["os", "sys"]


def test_definitions_inside_module_level_if_and_try() -> None:
    source = (
        "try:\n"
        "    from _speedups import scan\n"
        "except ImportError:\n"
        "    def scan(text):\n"
        "        return text.split()\n"
        "\n"
        "if TYPE_CHECKING:\n"
        "    from typing import Any\n"
        "\n"
        "DEBUG = False\n"
        "handlers = {}\n"
    )
    result = chunk_file("scan.py", source)
    assert _rows(result) == [("function", "scan", 4, 5), ("constant", "DEBUG", 10, 10), ("module", "", 11, 11)]
    assert result.imports == ["_speedups", "typing"]


def test_module_docstring_alone_is_kept() -> None:
    result = chunk_file("pkg/__init__.py", '"""The package."""\n\nfrom .core import run\n')
    assert _rows(result) == [("module", "", 1, 3)]
    assert result.imports == [".core"]


def test_python_relative_imports_keep_their_form() -> None:
    source = "from . import alpha, beta as b\nfrom ..pkg.mod import name\nimport a.b.c as abc\nimport x, y\n"
    assert chunk_file("m.py", source).imports == [".alpha", ".beta", "..pkg.mod", "a.b.c", "x", "y"]


# ---- splitting ---------------------------------------------------------------------------------------------


def _long_python_method(statements: int) -> str:
    body = "".join(f"        total += step_{i}(value)\n" for i in range(statements))
    return f"class Outer:\n    def long_method(self, value):\n        total = 0\n{body}        return total\n"


def test_oversized_definition_is_split_into_parts_with_a_parent_header() -> None:
    source = _long_python_method(250)
    result = chunk_file("long.py", source, max_chunk_lines=100)
    parts = [c for c in result.chunks if c.qualified_name == "Outer.long_method"]
    assert len(parts) == 3
    for number, part in enumerate(parts, 1):
        header, _, rest = part.text.partition("\n")
        assert header == f"# (part {number} of Outer.long_method)"
        assert rest == _source_lines(source, part)
        assert part.end_line - part.start_line + 1 <= 100
        assert part.kind == "method" and part.signature == "def long_method(self, value):"
    assert parts[0].start_line == 2 and parts[-1].end_line == 254
    assert [p.start_line for p in parts[1:]] == [p.end_line + 1 for p in parts[:-1]]  # no gaps, no overlap
    assert len({p.id for p in parts}) == 3
    outer = _by_name(result, "Outer", "class")
    assert outer.text == "class Outer:\n    def long_method(self, value): ..."


def test_split_cuts_between_statements() -> None:
    statements = "".join(f"  if (x > {i}) {{\n    y += {i};\n    z -= {i};\n  }}\n" for i in range(60))
    source = f"function big(x) {{\n  let y = 0, z = 0;\n{statements}  return y + z;\n}}\n"
    result = chunk_file("big.js", source, max_chunk_lines=50)
    parts = result.chunks
    assert len(parts) >= 5 and all(p.qualified_name == "big" for p in parts)
    for part in parts:
        assert part.text.startswith("// (part ")
        assert part.text.split("\n")[1].lstrip().startswith(("function big", "if (x >", "let y", "return"))


def test_oversized_module_code_is_split() -> None:
    source = "TABLE = {}\n" + "".join(f"TABLE['k{i}'] = {i}\n" for i in range(300))
    result = chunk_file("table.py", source, max_chunk_lines=100)
    modules = [c for c in result.chunks if c.kind == "module"]
    assert len(modules) == 3
    assert modules[0].text.startswith("# (part 1 of table.py)\n")
    assert (modules[0].start_line, modules[-1].end_line) == (2, 301)


# ---- bad input -----------------------------------------------------------------------------------------------


def test_syntax_error_still_chunks_what_parses() -> None:
    source = (
        "def good_one():\n    return 1\n\n\n"
        "def broken(:\n    return (\n\n\n"
        "class StillHere:\n    def method(self):\n        return 2\n"
    )
    result = chunk_file("broken.py", source)
    assert result.error is not None and result.error.startswith("syntax error")
    assert "line 5" in result.error
    names = {c.qualified_name for c in result.chunks}
    assert {"good_one", "StillHere.method"} <= names


@pytest.mark.parametrize("source", ["", "\n\n   \n", "# only a comment\n"])
def test_empty_files(source: str) -> None:
    result = chunk_file("empty.py", source)
    assert result.chunks == [] and result.imports == [] and result.error is None


def test_garbage_does_not_raise() -> None:
    noise = "".join(chr(c) for c in range(1, 0x3000, 7)) * 20
    for path in ("x.py", "x.js", "x.go", "x.rs", "x.java", "x.c", "x.cpp", "x.ts"):
        result = chunk_file(path, noise)
        assert result.error is not None
        assert all(c.text for c in result.chunks)


def test_chunker_failure_falls_back_to_plain_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: the walk raises; the file must still come back whole, with the error noted."""

    def explode(*args: object) -> FileChunks:
        raise RuntimeError("boom")

    monkeypatch.setattr(chunker, "_chunk_tree", explode)
    result = chunk_file("pkg/shapes.py", PYTHON)
    assert result.error == "chunker failed: RuntimeError: boom"
    assert result.language == "python"
    assert "\n".join(c.text for c in result.chunks).count("def ") == PYTHON.count("def ")


def test_unicode_source() -> None:
    source = (
        '"""Grüße — 挨拶."""\n\n'
        "def grüße(名前: str) -> str:\n"
        '    return f"héllo {名前} 👋"\n\n'
        "class Café:\n"
        "    def près(self):\n"
        "        return 'ü'\n"
    )
    result = chunk_file("unicode.py", source)
    assert result.error is None
    assert _rows(result) == [
        ("module", "", 1, 1),
        ("function", "grüße", 3, 4),
        ("class", "Café", 6, 8),
        ("method", "Café.près", 7, 8),
    ]
    greet = _by_name(result, "grüße")
    assert greet.text == _source_lines(source, greet)
    assert "名前" in greet.uses and "grüße" in greet.tokens.split()


def test_crlf_line_endings() -> None:
    source = PYTHON.replace("\n", "\r\n")
    assert _rows(chunk_file("crlf.py", source)) == _rows(chunk_file("lf.py", PYTHON))


def test_unknown_extension_is_plain_text() -> None:
    text = "# Title\n\nSome words about parseHTTPResponse.\n\nMore.\n"
    result = chunk_file("docs/README.md", text)
    assert result.language == "text" and result.error is None
    assert len(result.chunks) == 1 and result.chunks[0].text == text.rstrip("\n")
    assert "parsehttpresponse" in result.chunks[0].tokens.split()
    assert chunk_file("a.weird", "x = 1\n", language="cobol").language == "text"


# ---- ids and incremental parsing ---------------------------------------------------------------------------


def test_chunk_ids_are_stable_and_local_to_edits() -> None:
    first = {c.qualified_name or f"@{c.start_line}": c.id for c in chunk_file("s.py", PYTHON).chunks}
    again = {c.qualified_name or f"@{c.start_line}": c.id for c in chunk_file("s.py", PYTHON).chunks}
    assert first == again
    edited = PYTHON.replace("return cls\n", "return cls  # done\n")
    after = {c.qualified_name or f"@{c.start_line}": c.id for c in chunk_file("s.py", edited).chunks}
    changed = {name for name in first if first[name] != after.get(name)}
    assert changed == {"register"}
    moved = {c.qualified_name: c.id for c in chunk_file("other/s.py", PYTHON).chunks if c.qualified_name}
    assert not set(moved.values()) & set(first.values())  # the path is part of the id


def test_identical_definitions_get_distinct_ids() -> None:
    source = "if A:\n    def f():\n        pass\nelse:\n    def f():\n        pass\n"
    result = chunk_file("twice.py", source)
    assert [c.qualified_name for c in result.chunks] == ["f", "f"]
    assert result.chunks[0].text == result.chunks[1].text and result.chunks[0].id != result.chunks[1].id


def test_incremental_parse_matches_a_fresh_parse() -> None:
    source = PYTHON.encode()
    tree = parse("python", source)
    position = source.index(b"return cls")
    insert = b"x = 1\n    "
    edited = source[:position] + insert + source[position:]
    row = source[:position].count(b"\n")
    column = position - (source.rfind(b"\n", 0, position) + 1)
    tree.edit(
        start_byte=position,
        old_end_byte=position,
        new_end_byte=position + len(insert),
        start_point=(row, column),
        old_end_point=(row, column),
        new_end_point=(row + 1, 4),
    )
    incremental = parse("python", edited, tree)
    assert str(incremental.root_node) == str(parse("python", edited).root_node)
    text = edited.decode()
    assert _rows(chunk_file("s.py", text, tree=incremental)) == _rows(chunk_file("s.py", text))


# ---- the standard library ----------------------------------------------------------------------------------


def test_textwrap_from_the_stdlib_matches_inspect() -> None:
    path = Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"
    source = path.read_text(encoding="utf-8")
    result = chunk_file("textwrap.py", source)
    lines, start = inspect.getsourcelines(textwrap.TextWrapper)
    wrapper = _by_name(result, "TextWrapper", "class")
    assert (wrapper.start_line, wrapper.end_line) == (start, start + len(lines) - 1)
    assert wrapper.signature == "class TextWrapper:"
    for name in ("wrap", "fill", "_wrap_chunks", "_split", "__init__"):
        method = _by_name(result, f"TextWrapper.{name}")
        lines, start = inspect.getsourcelines(getattr(textwrap.TextWrapper, name))
        assert (method.start_line, method.end_line) == (start, start + len(lines) - 1)
        assert method.text == "".join(lines).rstrip("\n")
    for name in ("dedent", "indent", "shorten"):
        function = _by_name(result, name)
        lines, start = inspect.getsourcelines(getattr(textwrap, name))
        assert (function.start_line, function.end_line) == (start, start + len(lines) - 1)
    assert len(wrapper.text.split("\n")) <= 120
    assert "def _wrap_chunks(self, chunks): ..." in wrapper.text


def test_python_type_aliases_written_as_assignments_are_types() -> None:
    source = (
        "import typing\n\n_TYPE_BODY = typing.Union[bytes, str]\nContent = Union[str, bytes]\n"
        "Handler: TypeAlias = typing.Callable[[int], None]\nMAX_SIZE = 3\nregistry = {}\n"
    )
    kinds = [(c.kind, c.symbol) for c in chunk_file("types.py", source).chunks if c.symbol]
    assert kinds == [("type", "_TYPE_BODY"), ("type", "Content"), ("type", "Handler"), ("constant", "MAX_SIZE")]
