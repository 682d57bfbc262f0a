"""``srag-index``: build, watch, inspect and query a workspace index without an editor.

    srag-index build DIR [--embeddings off|local|ollama]   index DIR (incremental when an index exists)
    srag-index watch DIR [--embeddings off|local|ollama]   index DIR, then keep it fresh until interrupted
    srag-index status DIR           what the index holds
    srag-index query DIR (--symbol NAME | --prefix P | --text QUERY | --semantic TEXT) [--json] [-k N]

Common options: ``--index-dir`` (default: ``$SRAG_INDEX_DIR`` or a per-workspace folder under the user's cache
directory), ``-v``/``-vv``. ``--embeddings`` defaults to ``$SRAG_EMBEDDINGS`` (else off); ``build`` with
embeddings on embeds every chunk whose text has no vector before it exits. ``query --semantic`` embeds the
text with the model whose vectors the index has. Results go to stdout (``--json``: one JSON document),
progress and messages to stderr. Exit status: 0 success, 1 nothing found (query) or no index (status), 2 bad
usage, 3 the index cannot be written or read (another writer holds it, an unwritable location) or the
embeddings asked for could not be made.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from indexer.build_options import BuildOptions
from indexer.builder import BuildReport, IndexBuilder
from indexer.cli_shared import shared_publish, shared_status
from indexer.embedding import MODES, Embedder, EmbeddingError, embedder_for_model_id, make_embedder
from indexer.embedding.background import BackgroundEmbedder
from indexer.location import ensure_index_dir, is_local, local_path, resolve_index_dir
from indexer.object_store import is_object_uri
from indexer.opening import open_index
from indexer.query import Hit, IndexReader
from indexer.status import index_status, stale_reason
from indexer.vectors import VectorStore
from indexer.writer import IndexService
from indexer.writer_lock import LockHeld, WriterLock

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_INDEX = 3

log = logging.getLogger("srag-index")


class Progress:
    """A progress bar on a terminal; plain lines (at phase changes and every 10%) otherwise."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self._phase = ""
        self._last_draw = 0.0
        self._last_decile = -1
        self._drawn = False

    def __call__(self, done: int, total: int, phase: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        new_phase = phase != self._phase
        self._phase = phase
        if self.tty:
            if not new_phase and done != total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            if total > 0:
                width = 30
                filled = int(width * done / total)
                bar = "#" * filled + "." * (width - filled)
                unit = "chunks" if phase == "embed" else "files"
                line = f"\r{phase:<9} [{bar}] {done}/{total} {unit}"
            else:
                line = f"\r{phase:<9} ..."
            self.stream.write(line.ljust(60))
            self.stream.flush()
            self._drawn = True
            return
        decile = int(10 * done / total) if total else 0
        if new_phase or decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(f"srag-index: {phase} {done}/{total}\n" if total else f"srag-index: {phase}\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _say(message: str) -> None:
    print(f"srag-index: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", help="index location (default: $SRAG_INDEX_DIR or the cache folder)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser = argparse.ArgumentParser(
        prog="srag-index", description="Build, watch, inspect and query a workspace index.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", parents=[common], help="index a workspace (incrementally)")
    build.add_argument("dir")
    build.add_argument("--json", action="store_true", help="print the build report as JSON")
    build.add_argument("--max-file-bytes", type=int, default=None, help="skip larger files")
    for command in (build, status := sub.add_parser("status", parents=[common], help="show what the index holds")):
        command.add_argument("--index-uri", default=None, metavar="URI",
                             help="a shared index on object storage (s3://BUCKET/PREFIX): build publishes the "
                                  "local build there, writing what changed; status says what it holds")
        command.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                             help="a LanceDB storage option (over the AWS_* variables), e.g. allow_http=true")
    watch = sub.add_parser("watch", parents=[common], help="index, then keep the index fresh")
    watch.add_argument("dir")
    for command in (build, watch):
        command.add_argument(
            "--embeddings",
            choices=MODES,
            default=None,
            help="embed chunks: the local ONNX model or an Ollama server (default: $SRAG_EMBEDDINGS, else off)",
        )
        command.add_argument("--embedding-model", default=None, help="the Ollama embedding model (nomic-embed-text)")
        command.add_argument("--ollama-host", default=None, help="default: $OLLAMA_HOST or http://127.0.0.1:11434")
    status.add_argument("dir", nargs="?", help="the workspace (not needed with --index-uri)")
    status.add_argument("--json", action="store_true")
    query = sub.add_parser("query", parents=[common], help="look up symbols or search text")
    query.add_argument("dir")
    what = query.add_mutually_exclusive_group(required=True)
    what.add_argument("--symbol", help="exact symbol or qualified name (comma-separated for several)")
    what.add_argument("--prefix", help="symbols starting with this")
    what.add_argument("--text", help="full-text search over identifiers")
    what.add_argument("--semantic", help="nearest chunks by meaning (needs an index built with embeddings)")
    query.add_argument("--ollama-host", default=None, help="for --semantic on vectors made by Ollama")
    query.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    query.add_argument("--json", action="store_true", help="print the hits as a JSON list")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        for noisy in ("watchdog", "lancedb"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "status" and getattr(args, "index_uri", None):
        return shared_status(args.index_uri, args.storage_option, as_json=args.json)
    if args.dir is None:
        _say("a folder is needed (or --index-uri URI for a shared index's status)")
        return EXIT_USAGE
    root = Path(args.dir).expanduser()
    if not root.is_dir():
        _say(f"{args.dir} is not a folder")
        return EXIT_USAGE
    root = root.resolve()
    index_dir = resolve_index_dir(root, args.index_dir)
    if args.command == "build":
        return _cmd_build(root, index_dir, args)
    if args.command == "watch":
        return _cmd_watch(root, index_dir, args)
    if args.command == "status":
        return _cmd_status(root, index_dir, args)
    return _cmd_query(root, index_dir, args)


# -- build -------------------------------------------------------------------------------------------------
def _embedding_settings(args: argparse.Namespace) -> dict[str, str]:
    """``--embeddings`` and friends over ``$SRAG_EMBEDDINGS``, ``$SRAG_EMBEDDING_MODEL`` and ``$OLLAMA_HOST``."""
    mode = (getattr(args, "embeddings", None) or os.environ.get("SRAG_EMBEDDINGS") or "off").strip().lower()
    if mode not in MODES:
        raise ValueError(f"SRAG_EMBEDDINGS must be one of {', '.join(MODES)}, got {mode!r}")
    return {
        "embeddings": mode,
        "embedding_model": getattr(args, "embedding_model", None) or os.environ.get("SRAG_EMBEDDING_MODEL") or "",
        "ollama_host": getattr(args, "ollama_host", None) or os.environ.get("OLLAMA_HOST") or "",
    }


def _build(
    root: Path, index_dir: str, options: BuildOptions, *, quiet: bool = False, embedder: Embedder | None = None
) -> tuple[BuildReport, dict[str, Any] | None] | None:
    """Build (or update) the index under the writer lock, then embed what has no vector when ``embedder`` is
    given; None when the index cannot be written (said why)."""
    if not is_local(index_dir):
        _say(f"cannot write {index_dir}: only local index folders are supported")
        return None
    try:
        lock = WriterLock(ensure_index_dir(index_dir))
        lock.acquire()
    except LockHeld as exc:
        _say(f"{exc}; try again when it has finished")
        return None
    except OSError as exc:
        _say(f"cannot use the index folder {index_dir}: {exc}")
        return None
    progress = Progress(enabled=not quiet)
    try:
        opened = open_index(index_dir, cleanup_age=options.cleanup_age)
        if opened.rebuilt:
            _say(f"rebuilding the index in {index_dir}: {opened.rebuilt}")
        builder = IndexBuilder(root, opened, options)
        interrupted = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            interrupted.set()
            builder.stop_event.set()

        previous = signal.signal(signal.SIGINT, on_signal)
        embedded: dict[str, Any] | None = None
        try:
            report = builder.build(progress)
            progress.finish()
            if embedder is not None and not interrupted.is_set():
                embedded = _embed(opened, index_dir, embedder, options, progress, interrupted)
        finally:
            signal.signal(signal.SIGINT, previous)
        progress.finish()
        if interrupted.is_set():
            _say("interrupted; what was indexed (and embedded) so far is kept")
        report.rebuilt = opened.rebuilt
        return report, embedded
    finally:
        progress.finish()
        lock.release()


def _embed(
    opened: Any, index_dir: str, embedder: Embedder, options: BuildOptions, progress: Progress, stop: threading.Event
) -> dict[str, Any]:
    """Embed every chunk text that has no vector yet; a summary for the report (``error`` when it failed)."""
    started = time.perf_counter()
    try:
        vectors = VectorStore(index_dir, embedder.model_id, cleanup_age=options.cleanup_age)
    except Exception as exc:
        return {"model": embedder.model_id, "complete": False, "error": f"cannot open the vectors table: {exc}"}
    queue = BackgroundEmbedder(embedder, lambda: opened.store, vectors, backoff_s=(1.0, 2.0, 4.0))
    complete = queue.run_until_done(progress, stop=stop)
    status = queue.status()
    return {
        "model": embedder.model_id,
        "complete": complete,
        "embedded_now": status["embeddings_made"],
        "embedded": status["embedded"],
        "pending": status["embeddings_pending"],
        "vectors": status["vectors"],
        "vector_index_rows": status["vector_index_rows"],
        "chunks_per_s": status["chunks_per_s"],
        "seconds": round(time.perf_counter() - started, 1),
        "error": status["embedding_error"],
    }


def _cmd_build(root: Path, index_dir: str, args: argparse.Namespace) -> int:
    options = BuildOptions()
    if args.max_file_bytes:
        options.max_file_bytes = args.max_file_bytes
    try:
        settings = _embedding_settings(args)
    except ValueError as exc:
        _say(str(exc))
        return EXIT_USAGE
    embedder: Embedder | None = None
    unavailable: str | None = None
    try:
        embedder = make_embedder(
            settings["embeddings"], model=settings["embedding_model"], host=settings["ollama_host"]
        )
    except EmbeddingError as exc:  # index anyway; say why there are no vectors
        unavailable = str(exc)
        _say(f"embeddings are off: {exc}")
    if args.index_uri and not is_object_uri(args.index_uri):
        _say(f"--index-uri takes an object storage URI such as s3://BUCKET/PREFIX, not {args.index_uri!r}")
        return EXIT_USAGE
    result = _build(root, index_dir, options, embedder=embedder)
    if result is None:
        return EXIT_INDEX
    report, embedded = result
    if args.index_uri:
        code = shared_publish(root, index_dir, args.index_uri, args.storage_option, report, as_json=args.json)
        problem = unavailable or (embedded or {}).get("error")
        if code == EXIT_OK and problem:
            _say(f"published, but the embeddings are incomplete: {problem}")
            return EXIT_INDEX
        return code
    if unavailable is not None:
        embedded = {"model": None, "complete": False, "error": unavailable}
    if args.json:
        out: dict[str, Any] = {"root": str(root), "index_dir": index_dir, **report.as_dict()}
        if embedded is not None:
            out["embeddings"] = embedded
        print(json.dumps(out, indent=2))
    else:
        print(
            f"indexed {root}: {report.files_total} files ({report.indexed} indexed, {report.unchanged} unchanged, "
            f"{report.removed} removed, {report.skipped} skipped, {report.errors} errors), "
            f"{report.chunks_written} chunks written in {report.seconds:.1f}s -> {index_dir}"
        )
        if embedded is not None and embedded.get("model"):
            rate = f" ({embedded['chunks_per_s']} chunks/s)" if embedded.get("chunks_per_s") else ""
            print(
                f"embedded {embedded['embedded_now']} chunk texts with {embedded['model']} in "
                f"{embedded['seconds']:.1f}s{rate}; {embedded['embedded']} have vectors, {embedded['pending']} pending"
            )
    if embedded is not None and embedded.get("error"):
        _say(f"embeddings incomplete: {embedded['error']}")
        return EXIT_INDEX
    return EXIT_OK


# -- watch -------------------------------------------------------------------------------------------------
def _cmd_watch(root: Path, index_dir: str, args: argparse.Namespace) -> int:
    progress = Progress()
    stop = threading.Event()

    def emit(message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "progress":
            progress(message["done"], message["total"], message["phase"])
            if message["phase"] == "done":
                progress.finish()
        elif kind == "indexed":
            paths = message["paths"]
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            _say(f"indexed {message['chunks']} chunks from {shown}")
        elif kind == "error":
            _say(f"error: {message['message']}")
        elif kind == "status" and message.get("initial_build_done"):
            if message.get("embedding_model"):
                _say(f"embedding in the background with {message['embedding_model']}")
            _say(f"{message['files']} files, {message['chunks']} chunks; watching {root} (Ctrl-C to stop)")

    try:
        settings = _embedding_settings(args)
    except ValueError as exc:
        _say(str(exc))
        return EXIT_USAGE
    service = IndexService(root, index_dir, settings, emit=emit)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service.start()
    while not stop.wait(0.5):
        if service.status().get("phase") == "stopped":
            _say("the index writer stopped")
            service.stop()
            return EXIT_INDEX
    _say("stopping")
    service.stop()
    return EXIT_OK


# -- status ------------------------------------------------------------------------------------------------
def _cmd_status(root: Path, index_dir: str, args: argparse.Namespace) -> int:
    info = index_status(root, index_dir)
    stale = info.get("needs_rebuild")
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    elif not info["exists"]:
        print(f"no index for {root} at {index_dir} (run: srag-index build {root})")
    else:
        print(f"index of {root}")
        print(f"  {'location':<18} {index_dir}")
        for key in ("files", "chunks", "overlay_chunks", "versions", "fragments", "bytes", "initial_build_done"):
            if key in info:
                print(f"  {key:<18} {info[key]}")
        print(f"  {'indexes':<18} {', '.join(info.get('indexes', [])) or 'none'}")
        for model_id, vectors in (info.get("vectors") or {}).items():
            line = f"{vectors.get('rows', 0)} vectors"
            if "embedded" in vectors:
                line += f", {vectors['embedded']} chunk texts embedded, {vectors['embeddings_pending']} pending"
            ivf = vectors.get("ivf_index_rows")
            line += f", IVF index on {ivf} rows" if ivf else ", no vector index (brute force)"
            print(f"  {'embeddings':<18} {model_id}: {line}")
        writer = f"pid {info['writer_pid']}" if info["writer_pid"] else "none running"
        print(f"  {'writer':<18} {writer}")
        if stale:
            print(f"  needs a rebuild: {stale}")
        if "error" in info:
            print(f"  {'error':<18} {info['error']}")
    return EXIT_OK if info["exists"] else EXIT_NOT_FOUND


# -- query -------------------------------------------------------------------------------------------------
def _cmd_query(root: Path, index_dir: str, args: argparse.Namespace) -> int:
    if args.k <= 0:
        _say("-k must be positive")
        return EXIT_USAGE
    reader = IndexReader.open(index_dir)
    problem = None
    if reader is None:
        exists = is_local(index_dir) and (local_path(index_dir) / "chunks.lance").exists()
        problem = f"the index at {index_dir} is damaged" if exists else f"no index for {root} yet"
    else:
        problem = reader.health() or stale_reason(index_dir)
        if problem:
            reader.close()
    if problem:
        _say(f"{problem}; building it first")
        if _build(root, index_dir, BuildOptions()) is None:
            return EXIT_INDEX
        reader = IndexReader.open(index_dir)
        if reader is None:
            _say(f"the index at {index_dir} cannot be opened after a build")
            return EXIT_INDEX
    assert reader is not None
    if args.symbol:
        hits = reader.symbols([s.strip() for s in args.symbol.split(",")], args.k)
    elif args.prefix:
        hits = reader.symbol_prefix(args.prefix, args.k)
    elif args.semantic:
        found = _semantic(reader, args.semantic, args.k, host=args.ollama_host or os.environ.get("OLLAMA_HOST") or "")
        if isinstance(found, int):
            reader.close()
            return found
        hits = found
    else:
        hits = reader.text_search(args.text, args.k)
    reader.close()
    if args.json:
        print(json.dumps([_hit_json(h) for h in hits], indent=2))
    else:
        for hit in hits:
            name = hit.qualified_name or hit.symbol or "<module>"
            print(f"{hit.path}:{hit.start_line}-{hit.end_line}  {hit.kind:<8} {name}  {hit.signature.strip()}")
        if not hits:
            _say("no matches")
    return EXIT_OK if hits else EXIT_NOT_FOUND


def _semantic(reader: IndexReader, text: str, k: int, *, host: str) -> list[Hit] | int:
    """Hits nearest to ``text`` with the model whose vectors the index has; an exit status when impossible."""
    models = reader.vector_models()
    if not models:
        _say(f"the index at {reader.index_dir} has no vectors: build it with --embeddings local (or ollama)")
        return EXIT_NOT_FOUND
    wanted = os.environ.get("SRAG_EMBEDDINGS", "").strip().lower()
    try:
        preferred = make_embedder(wanted, model=os.environ.get("SRAG_EMBEDDING_MODEL", ""), host=host, check=False)
    except ValueError:
        preferred = None
    model_id = preferred.model_id if preferred is not None and preferred.model_id in models else models[0]
    if len(models) > 1:
        _say(f"this index has vectors of {', '.join(models)}; using {model_id}")
    try:
        embedder = embedder_for_model_id(model_id, host=host)
        vector = embedder.embed_query(text)
    except (EmbeddingError, ValueError) as exc:
        _say(f"cannot embed the query: {exc}")
        return EXIT_INDEX
    return reader.vector_search(vector, k, model_id=model_id)


def _hit_json(hit: Hit) -> dict[str, Any]:
    from indexer.query import location_record

    return {**location_record(hit), "qualified_name": hit.qualified_name, "signature": hit.signature,
            "score": round(hit.score, 4)}


if __name__ == "__main__":
    sys.exit(main())
