"""Helpers for index tests: small real workspaces, chunks from the real chunker, polling for "eventually"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from indexer.chunker import chunk_file
from indexer.model import Chunk
from tests.support import waiting

T = TypeVar("T")

SHAPES_PY = '''"""Shapes."""

import math


class Circle:
    """A circle."""

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def area(self) -> float:
        return math.pi * self.radius**2


def unit_circle() -> Circle:
    return Circle(1.0)
'''

GREETING_JS = """export function greetUser(name) {
  return `hello ${name}`;
}

export class Greeter {
  constructor(prefix) {
    this.prefix = prefix;
  }

  greet(name) {
    return this.prefix + greetUser(name);
  }
}
"""

PARSER_PY = '''def parse_http_response(raw: bytes) -> dict:
    """Parse a raw HTTP response into headers."""
    head, _, _ = raw.partition(b"\\r\\n\\r\\n")
    return {"head": head}


class ResponseParser:
    def feed(self, data: bytes) -> None:
        self.data = data
'''


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def small_workspace(root: Path) -> Path:
    write_files(root, {"shapes.py": SHAPES_PY, "web/greeting.js": GREETING_JS, "net/parser.py": PARSER_PY})
    return root


def chunks_of(path: str, text: str) -> list[Chunk]:
    return list(chunk_file(path, text).chunks)


def wait_until(predicate: Callable[[], T], timeout: float = 60.0, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after a generous ``timeout``
    (``tests.support.waiting.wait_until`` with this module's defaults)."""
    return waiting.wait_until(predicate, timeout, interval_s=interval)
