"""Read, chunk and redact files into picklable results: the unit of work of the builder's process pool.

Kept free of LanceDB and pyarrow imports so that pool processes start fast. Nothing here raises for a bad
file: a skip (binary, too large, unreadable, vanished) or a chunker failure comes back as a result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.chunker import chunk_file
from indexer.files import read_source
from indexer.model import Chunk
from indexer.secrets import redact_chunks


@dataclass(slots=True)
class FileResult:
    path: str  # workspace-relative
    size: int = 0
    mtime_ns: int = 0
    content_hash: str = ""
    chunks: list[Chunk] | None = None  # None: nothing to write (skipped, failed, or unchanged)
    unchanged: bool = False  # the content hash equals the one already recorded
    skipped: str | None = None  # why the file was not indexed (binary, too large, vanished...)
    error: str | None = None  # a chunker failure (the file is recorded without chunks)
    note: str | None = None  # a parse problem worth a debug line (syntax errors still give chunks)


def content_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def extract_file(
    root: str,
    rel: str,
    *,
    max_bytes: int,
    max_chunk_lines: int,
    known_hash: str | None = None,
) -> FileResult:
    """Read ``root/rel``, hash it, and chunk it unless its hash equals ``known_hash``."""
    path = Path(root) / rel
    try:
        source = read_source(path, max_bytes)  # logs its own skips
    except Exception as exc:  # read_source should not raise, but a file must not stop a build
        return FileResult(rel, skipped=f"unreadable: {exc}")
    text = getattr(source, "text", None)
    if not isinstance(text, str):
        skipped = FileResult(rel, skipped=str(getattr(source, "reason", None) or "skipped"))
        try:  # remembered with its stat, so that a restart does not read it again
            st = os.stat(path)
            skipped.size, skipped.mtime_ns = st.st_size, st.st_mtime_ns
        except OSError:
            pass
        return skipped
    result = FileResult(rel, size=source.size, mtime_ns=source.mtime_ns)
    result.content_hash = getattr(source, "sha1", None) or content_hash(text)
    if known_hash is not None and result.content_hash == known_hash:
        result.unchanged = True
        return result
    try:
        chunked = chunk_file(rel, text, max_chunk_lines=max_chunk_lines)
    except Exception as exc:  # a chunker bug costs one file, not the build
        result.error = f"chunker failed: {type(exc).__name__}: {exc}"
        return result
    result.chunks = list(chunked.chunks)
    result.note = chunked.error
    return result


def init_pool_process(level: int, fmt: str | None) -> None:
    """Pool initializer: log warnings (and skips, at the parent's level) to stderr like the parent does."""
    logging.basicConfig(stream=sys.stderr, level=level, format=fmt or logging.BASIC_FORMAT)


def extract_files(
    root: str,
    items: Iterable[tuple[str, str | None]],
    *,
    max_bytes: int,
    max_chunk_lines: int,
) -> Iterator[FileResult]:
    """:func:`extract_file` of each (relative path, known hash or None), one after another, with secrets redacted
    from the chunks before anything stores them. The one extraction loop: the builder runs it in its own process
    for a few files (and after a pool died), and each pool task runs it (:func:`extract_task`)."""
    for rel, known in items:
        result = extract_file(root, rel, max_bytes=max_bytes, max_chunk_lines=max_chunk_lines, known_hash=known)
        if result.chunks:
            result.chunks = redact_chunks(result.chunks)
        yield result


def extract_task(
    root: str, items: list[tuple[str, str | None]], max_bytes: int, max_chunk_lines: int
) -> list[FileResult]:
    """The builder's pool entry point: :func:`extract_files` in the pool process (so that redaction runs in
    parallel too)."""
    return list(extract_files(root, items, max_bytes=max_bytes, max_chunk_lines=max_chunk_lines))
