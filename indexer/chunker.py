"""Cutting one source file into index chunks: a chunk per definition, class summaries, module-level runs.

`chunk_file` parses the file with tree-sitter and walks only its structure (module level, class bodies,
namespaces, `if`/`try` and preprocessor blocks), never every node. Each definition (function, method,
class, struct, interface, enum, type alias, top-level constant) becomes a chunk with its signature, its
qualified name and the identifiers it defines and uses; a class-like chunk is a summary (its header and
members with method bodies elided) while each method is a chunk of its own. Module-level code between
definitions becomes `module` chunks. Oversized chunks are split into parts, each opening with a comment
that names the parent. Bad input never raises: syntax errors still yield what parsed (and an error note),
and a failure of the chunker itself falls back to plain line windows.

The walk is :mod:`indexer.chunk_walk`, the making of chunks from it :mod:`indexer.chunk_emit` (and
:mod:`indexer.chunk_record` for one chunk's id and identifiers); this module parses and puts them together.
"""

from __future__ import annotations

import logging

import tree_sitter

from indexer.chunk_emit import ChunkEmitter, plan_parts
from indexer.chunk_record import make_chunk
from indexer.chunk_walk import DefinitionWalk, Node
from indexer.languages import LANGUAGES, LanguageSpec, language_for_path, parser_for
from indexer.model import Chunk, FileChunks

log = logging.getLogger(__name__)

DEFAULT_MAX_CHUNK_LINES = 120
PLAIN_TEXT = "text"  # FileChunks.language for files without a grammar
_MIN_CHUNK_LINES = 4


def parse(language: str, source_bytes: bytes, old_tree: tree_sitter.Tree | None = None) -> tree_sitter.Tree:
    """Parse source with the language's grammar; pass the previous tree (after `Tree.edit`) to re-parse
    incrementally. Never fails on bad code: errors become ERROR/MISSING nodes in the tree."""
    parser = parser_for(language)
    if old_tree is None:
        return parser.parse(source_bytes)
    return parser.parse(source_bytes, old_tree)


def chunk_file(
    path: str,
    text: str,
    language: str | None = None,
    *,
    max_chunk_lines: int = DEFAULT_MAX_CHUNK_LINES,
    tree: tree_sitter.Tree | None = None,
) -> FileChunks:
    """Chunk one file. `path` is workspace-relative; `language` is inferred from the extension when None
    (files without a grammar become plain-text windows, language "text"); `tree` may be a tree already
    parsed from exactly `text`. Raises nothing on bad input."""
    path = path.replace("\\", "/")
    max_lines = max(_MIN_CHUNK_LINES, int(max_chunk_lines))
    source = text.encode("utf-8", "surrogatepass")
    key = language or language_for_path(path)
    if key is None or key not in LANGUAGES:
        if language is not None:
            log.warning("no grammar for language %r (%s); chunking it as plain text", language, path)
        return _plain_chunks(path, source, max_lines)
    try:
        if tree is None:
            tree = parse(key, source)
        return _chunk_tree(path, LANGUAGES[key], source, tree, max_lines)
    except Exception as exc:  # a bug or a grammar surprise must not lose the file
        log.warning("chunking %s failed (%s: %s); indexing it as plain text", path, type(exc).__name__, exc)
        result = _plain_chunks(path, source, max_lines)
        result.language = key
        result.error = f"chunker failed: {type(exc).__name__}: {exc}"
        return result


def _chunk_tree(path: str, spec: LanguageSpec, source: bytes, tree: tree_sitter.Tree, max_lines: int) -> FileChunks:
    """The chunks of a parsed file: walk its structure, emit definitions then module-level runs, in line order."""
    root = tree.root_node
    walk = DefinitionWalk(spec, source)
    walk.run(root)
    emitter = ChunkEmitter(path, spec, source, max_lines)
    for definition in walk.defs:
        emitter.definition(definition)
    emitter.module_runs(walk.defs, walk.loose)
    chunks = emitter.chunks
    chunks.sort(key=lambda c: (c.start_line, -c.end_line))
    error = _syntax_error(root) if root.has_error else None
    if error:
        log.debug("%s: %s", path, error)
    return FileChunks(
        path=path,
        language=spec.key,
        chunks=chunks,
        imports=list(dict.fromkeys(i for i in walk.imports if i)),
        error=error,
    )


def _syntax_error(root: Node) -> str:
    """A short description of the first syntax error in a tree (the innermost error node on the way)."""
    node = root
    for _ in range(10_000):
        descend = None
        for child in node.children:
            if child.is_missing:
                row, column = child.start_point
                return f"syntax error: missing {child.type!r} at line {row + 1}, column {column + 1}"
            if child.has_error:
                descend = child
                break
        if descend is None:
            break
        node = descend
    row, column = node.start_point
    return f"syntax error at line {row + 1}, column {column + 1}"


def _plain_chunks(path: str, source: bytes, max_lines: int) -> FileChunks:
    """Line windows (cut at blank lines where possible) for files without a grammar."""
    lines = source.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    boundaries = [i for i in range(1, len(lines)) if not lines[i - 1].strip()]
    chunks: list[Chunk] = []
    ids: set[str] = set()
    if lines:
        for first, stop in plan_parts(len(lines), boundaries, max_lines):
            while first < stop and not lines[first].strip():
                first += 1
            if first >= stop:
                continue
            body = b"\n".join(lines[first:stop])
            chunks.append(make_chunk(path, PLAIN_TEXT, None, ids, "module", "", "", "", "", first + 1, stop, body, []))
    return FileChunks(path=path, language=PLAIN_TEXT, chunks=chunks, imports=[])
