"""``srag-lsp retrieve``: show what retrieval would put into the prompt at a cursor, or for a batch of cursors.

    srag-lsp retrieve [--workspace DIR] FILE:LINE:COL [--json] [-k N] [--index-dir DIR]
    srag-lsp retrieve [--workspace DIR] --batch CASES.jsonl [-k N] [--index-dir DIR]

LINE and COL are 1-based. ``--batch`` reads one ``{"file", "line", "col"}`` object per line (``file``
relative to the workspace; an optional ``"text"`` is the unsaved buffer to use instead of the file on
disk) and writes one JSON line per case, in order:
``{"chunks": [{"path", "start_line", "end_line", "symbol", "kind", "source", "score"}], "ms": {source: ms}}``
with paths relative to the workspace (a case that cannot be run gets empty lists and an ``"error"``).
These field names are a contract used by outside evaluations. A missing index is built first (said on
stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from srag_lsp.retrieval.index_access import default_index_dir, open_or_build
from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.types import ContextChunk, CursorQuery, RetrievalResult

CLI_DEADLINE_MS = 1000.0  # generous: the CLI shows what retrieval finds, not what a busy keystroke gets
MAX_FILE_BYTES = 5_000_000


class CaseError(ValueError):
    """A cursor that cannot be retrieved for; the message says why."""


@dataclass(slots=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    text: str | None = None


def parse_location(value: str) -> Location:
    parts = value.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise CaseError(f"expected FILE:LINE:COL, got {value!r}")
    try:
        return Location(parts[0], int(parts[1]), int(parts[2]))
    except ValueError:
        raise CaseError(f"LINE and COL must be numbers in {value!r}") from None


def build_context(workspace: Path, location: Location) -> CursorQuery:
    """The cursor for a location; CaseError for a file outside the workspace, binary, or a bad position."""
    if location.line < 1 or location.col < 1:
        raise CaseError(f"line and column are 1-based, got {location.line}:{location.col}")
    candidate = Path(location.file)
    absolute = (candidate if candidate.is_absolute() else workspace / candidate).resolve()
    try:
        rel = absolute.relative_to(workspace).as_posix()
    except ValueError:
        raise CaseError(f"{location.file} is outside the workspace {workspace}") from None
    if location.text is not None:
        if not isinstance(location.text, str):
            raise CaseError('"text" must be a string')
        text = location.text
    else:
        try:
            size = absolute.stat().st_size
        except OSError as exc:
            raise CaseError(f"cannot read {rel}: {exc.strerror or exc}") from None
        if size > MAX_FILE_BYTES:
            raise CaseError(f"{rel} is too large ({size} bytes)")
        try:
            data = absolute.read_bytes()
        except OSError as exc:
            raise CaseError(f"cannot read {rel}: {exc.strerror or exc}") from None
        if b"\x00" in data[:8192]:
            raise CaseError(f"{rel} is a binary file")
        text = data.decode("utf-8", "replace")
    if "\x00" in text[:8192]:
        raise CaseError(f"{rel} is a binary file")
    lines = text.split("\n")
    if location.line > len(lines):
        raise CaseError(f"line {location.line} is past the end of {rel} ({len(lines)} lines)")
    line_text = lines[location.line - 1]
    if location.col > len(line_text) + 1:
        raise CaseError(
            f"column {location.col} is past the end of line {location.line} of {rel} ({len(line_text)} characters)"
        )
    return CursorQuery(rel, text, location.line - 1, location.col - 1, None)


def chunk_record(chunk: ContextChunk) -> dict[str, Any]:
    """The contract's fields for one chunk (paths are workspace-relative already)."""
    from indexer.query import location_record

    return {**location_record(chunk), "source": chunk.source, "score": round(float(chunk.score), 6)}


def result_record(result: RetrievalResult, k: int) -> dict[str, Any]:
    return {
        "chunks": [chunk_record(c) for c in result.chunks[:k]],
        "ms": {name: round(ms, 3) for name, ms in result.ms.items()},
    }


def _print_human(out: TextIO, location: str, result: RetrievalResult, k: int, scope: str) -> None:
    chunks = result.chunks[:k]
    out.write(f"{location}  scope: {scope or '(module)'}  {len(chunks)} chunks in {result.total_ms:.1f} ms\n")
    for i, chunk in enumerate(chunks, start=1):
        label = chunk.qualified_name or chunk.symbol or "(module code)"
        compact = " [signature]" if chunk.compact else ""
        out.write(
            f"{i:3d}. {chunk.path}:{chunk.start_line}-{chunk.end_line}  {label} ({chunk.kind})  "
            f"{chunk.source} {chunk.score:.4f}{compact}\n"
        )
    timing = ", ".join(f"{name} {ms:.1f} ms" for name, ms in result.ms.items()) or "none"
    out.write(f"sources: {timing}\n")
    if result.dropped:
        out.write(f"dropped (past the deadline or failed): {', '.join(result.dropped)}\n")


def _read_batch(path: str) -> list[Location | CaseError]:
    cases: list[Location | CaseError] = []
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    try:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
                if not isinstance(item, dict):
                    raise CaseError(f"line {number}: expected a JSON object")
                file, line, col = item.get("file"), item.get("line"), item.get("col")
                if not isinstance(file, str) or not isinstance(line, int) or not isinstance(col, int):
                    raise CaseError(f'line {number}: "file" (string), "line" and "col" (integers) are required')
                text = item.get("text")
                if text is not None and not isinstance(text, str):
                    raise CaseError(f'line {number}: "text" must be a string')
                cases.append(Location(file, line, col, text))
            except json.JSONDecodeError as exc:
                cases.append(CaseError(f"line {number}: not JSON ({exc.msg})"))
            except CaseError as exc:
                cases.append(exc)
    finally:
        if stream is not sys.stdin:
            stream.close()
    return cases


async def _run(args: argparse.Namespace, workspace: Path) -> int:
    index_dir = default_index_dir(workspace, args.index_dir)

    def say(message: str) -> None:
        print(f"srag-lsp retrieve: {message}", file=sys.stderr)

    loop = asyncio.get_running_loop()
    reader = await loop.run_in_executor(None, lambda: open_or_build(workspace, index_dir, say=say))
    if reader is None:
        say("retrieving without an index (only the buffer itself is searched)")
    retriever = Retriever(workspace, reader=reader, index_dir=index_dir)
    embedder = _embedder(say)
    try:
        # the file list and the index's handles: the first query would pay for opening them
        await asyncio.wrap_future(retriever.warm())
        if embedder is not None:
            try:
                await loop.run_in_executor(None, embedder.warm)
                retriever.set_embedder(embedder)
            except Exception as exc:
                say(f"no vector source: {exc}")
        if args.batch:
            try:
                cases = _read_batch(args.batch)
            except OSError as exc:
                say(f"cannot read {args.batch}: {exc.strerror or exc}")
                return 2
            failures = 0
            for case in cases:
                record: dict[str, Any]
                try:
                    if isinstance(case, CaseError):
                        raise case
                    ctx = build_context(workspace, case)
                    result = await retriever.retrieve(
                        ctx, deadline_ms=args.deadline_ms, budget_tokens=args.budget_tokens
                    )
                    record = result_record(result, args.k)
                except CaseError as exc:
                    failures += 1
                    record = {"chunks": [], "ms": {}, "error": str(exc)}
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            if failures:
                say(f'{failures} of {len(cases)} cases could not be run (see their "error")')
            return 0
        try:
            location = parse_location(args.location)
            ctx = build_context(workspace, location)
        except CaseError as exc:
            say(str(exc))
            return 2
        started = time.perf_counter()
        result = await retriever.retrieve(ctx, deadline_ms=args.deadline_ms, budget_tokens=args.budget_tokens)
        if args.json:
            sys.stdout.write(json.dumps(result_record(result, args.k)) + "\n")
        else:
            analysis = await retriever.analyze(ctx)
            result.total_ms = result.total_ms or (time.perf_counter() - started) * 1000
            _print_human(sys.stdout, f"{ctx.path}:{location.line}:{location.col}", result, args.k, analysis.scope)
        return 0
    finally:
        retriever.close()


def _embedder(say: Any) -> Any:
    """The query embedder the ``embeddings`` setting (``SRAG_EMBEDDINGS``) asks for, as the daemon uses it."""
    from indexer.embedding import EmbeddingError, make_embedder
    from srag_lsp.settings import from_environment

    settings = from_environment(say)
    try:
        return make_embedder(settings.embeddings, model=settings.embedding_model, host=settings.ollama_host,
                             model_dir=settings.model_dir)
    except EmbeddingError as exc:
        say(f"embeddings are off: {exc}")
        return None


def run_retrieve_cli(argv: list[str]) -> int:
    """Entry point of ``srag-lsp retrieve``; returns the process exit status."""
    from srag_lsp.settings import Settings

    defaults = Settings()
    parser = argparse.ArgumentParser(prog="srag-lsp retrieve", description=__doc__.split("\n\n")[0])
    parser.add_argument("location", nargs="?", help="FILE:LINE:COL (1-based line and column)")
    parser.add_argument("--workspace", default=".", help="the workspace folder (default: the current folder)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("-k", type=int, default=10, help="show at most N chunks (default 10)")
    parser.add_argument("--batch", metavar="CASES.jsonl", help="run every cursor in a JSON-lines file ('-': stdin)")
    parser.add_argument("--index-dir", help="the index folder (default: the workspace's folder in the cache)")
    parser.add_argument(
        "--deadline-ms",
        type=float,
        default=CLI_DEADLINE_MS,
        help=f"drop sources slower than this (default {CLI_DEADLINE_MS:.0f}; the editor uses "
        f"{defaults.retrieval_deadline_ms})",
    )
    parser.add_argument(
        "--budget-tokens",
        type=int,
        default=defaults.context_budget_tokens,
        help=f"the prompt's context budget (default {defaults.context_budget_tokens})",
    )
    args = parser.parse_args(argv)
    if not args.batch and not args.location:
        parser.error("give FILE:LINE:COL or --batch CASES.jsonl")
    if args.k < 1:
        parser.error("-k must be at least 1")
    workspace = Path(args.workspace).expanduser().resolve()
    if not workspace.is_dir():
        print(f"srag-lsp retrieve: workspace {args.workspace} is not a folder", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, workspace))
