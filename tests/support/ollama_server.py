"""An Ollama-compatible HTTP server in front of the embedded model, for tests of the real `ollama` client.

It speaks `GET /`, `/api/version`, `/api/tags`, `/api/show` (with `model_info` and `capabilities`, `insert`
for FIM-capable models) and streaming `/api/generate` (raw prompts; options num_predict, stop, temperature,
num_ctx; NDJSON lines with `response`/`done` and Ollama's timing fields on the last one), generating real
tokens with llama.cpp; and `/api/embed` (`input` a string or a list) with real vectors from the local ONNX
embedding model, under whatever names ``embed_models`` gives it. The server looks for a closed client
connection before each token, so a client that goes away stops generation at the next token. A model name
the server does not have gets a 404, as from Ollama.

Fault injection (these are the only fakes, for tests of failure handling):
- `stall`: accept a generate request, then never answer (not even the status line);
- `die_after=N`: stream N tokens, then drop the connection;
- `slow_first=S`: wait S seconds (a float) before answering a generate request (a slow first token);
- `error`: answer a generate request with an `{"error": ...}` line;
- `embed_error`: answer an embed request with status 500 and an `{"error": ...}` body;
- `embed_die`: drop the connection of an embed request without an answer.
``state.fault`` may be changed while the server runs (a server that fails, then recovers).

From pytest: ``with serve(["qwen2.5-coder-0.5b"]) as (url, state): ...``; embeddings only:
``with serve([], embed_models=["all-minilm"]) as (url, state): ...``. As a script:

    python -m tests.support.ollama_server --port 0 [--model qwen2.5-coder-0.5b] [--embed-model all-minilm]
        [--fault stall|die_after=3|error|embed_error|embed_die]

prints its base URL on stdout once it is ready, and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from indexer.embedding.onnx import OnnxEmbedder
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.catalog import CATALOG
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.settings import default_model_dir

VERSION = "0.12.0-srag-test"
FAULTS = ("", "stall", "error", "embed_error", "embed_die", "unauthorized", "server_error")  # and die_after=N


class ClientGone(Exception):
    """The client closed its connection while we were streaming."""


@dataclass
class Served:
    """One generate request as the server saw it."""

    stats: GenerationStats
    client_left: bool = False  # the client closed the connection before the end
    ended: threading.Event = field(default_factory=threading.Event)  # the handler is done with it


@dataclass
class ServerState:
    models: dict[str, EmbeddedBackend]
    fault: str = ""
    embedders: dict[str, OnnxEmbedder] = field(default_factory=dict)
    embed_requests: int = 0  # /api/embed calls answered with vectors
    embedded_texts: int = 0
    generations_started: int = 0
    generations_stopped_early: int = 0  # the client went away before the end
    generations: list[Served] = field(default_factory=list)  # one per generate request, in order
    stalled: int = 0  # generate requests the `stall` fault has held (counted when held)
    stall_release: threading.Event = field(default_factory=threading.Event)
    api_key: str = ""  # the OpenAI routes (tests.support.openai_server) want ``Bearer <api_key>`` when set
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # OpenAI routes: (path, headers)
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # OpenAI routes: (path, body)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        body = json.loads(raw or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        return body

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/api/version":
            self._json(200, {"version": VERSION})
        elif self.path == "/api/tags":
            names = [*state.models, *state.embedders]
            self._json(
                200,
                {"models": [{"name": n, "model": n, "size": 0, "details": {"format": "gguf"}} for n in names]},
            )
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        try:
            body = self._body()
        except ValueError as exc:
            self._json(400, {"error": f"invalid request: {exc}"})
            return
        name = str(body.get("model") or body.get("name") or "")
        if self.path == "/api/embed":
            self._embed(name, body)
            return
        if self.path not in ("/api/show", "/api/generate"):
            self._json(404, {"error": "not found"})
            return
        backend = state.models.get(name)
        if backend is None:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        if self.path == "/api/show":
            capabilities = ["completion"] + (["insert"] if backend.info.fim else [])
            self._json(
                200,
                {
                    "modelfile": "",
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": {"family": backend.info.model, "format": "gguf"},
                    "model_info": {"general.architecture": backend.info.model, "general.file": backend.info.detail},
                    "capabilities": capabilities,
                },
            )
        else:
            self._generate(name, backend, body)

    def _embed(self, name: str, body: dict[str, Any]) -> None:
        state = self.server.state
        embedder = state.embedders.get(name)
        if embedder is None:
            self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
            return
        if state.fault == "embed_die":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if state.fault == "embed_error":
            self._json(500, {"error": "llama runner process has terminated: signal: killed"})
            return
        raw = body.get("input", "")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self._json(400, {"error": "invalid input type"})
            return
        started = time.perf_counter()
        vectors = embedder.embed(texts)
        state.embed_requests += 1
        state.embedded_texts += len(texts)
        total = int((time.perf_counter() - started) * 1e9)
        self._json(
            200,
            {"model": name, "embeddings": vectors, "total_duration": total, "load_duration": 0,
             "prompt_eval_count": sum(len(t.split()) for t in texts)},
        )

    def _generate(self, name: str, backend: EmbeddedBackend, body: dict[str, Any]) -> None:
        state = self.server.state
        fault = state.fault
        if fault == "stall":
            state.stalled += 1
            state.stall_release.wait(600)
            self.close_connection = True
            return
        if fault.startswith("slow_first="):
            time.sleep(float(fault.split("=", 1)[1]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault == "error":
            self._chunk({"error": "model runner has unexpectedly stopped"})
            self._chunk_end()
            return
        die_after = int(fault.split("=", 1)[1]) if fault.startswith("die_after=") else None
        options = body.get("options") or {}
        num_predict = int(options.get("num_predict", -1))
        request = GenerationRequest(
            prompt=str(body.get("prompt", "")),
            max_tokens=num_predict if num_predict > 0 else 1 << 20,
            stop=[str(s) for s in options.get("stop") or []],
            temperature=float(options.get("temperature", 0.8)),
            num_ctx=int(options.get("num_ctx", 4096)),
        )
        served = Served(GenerationStats())
        state.generations_started += 1
        state.generations.append(served)
        try:
            self._stream(name, backend, request, served, die_after)
        finally:
            served.ended.set()

    def _stream(
        self, name: str, backend: EmbeddedBackend, request: GenerationRequest, served: Served, die_after: int | None
    ) -> None:
        stats = served.stats
        started = time.perf_counter()
        sent = 0
        try:
            with contextlib.closing(self._pieces(backend, request, stats)) as pieces:
                for piece in pieces:
                    if die_after is not None and sent >= die_after:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self._chunk({"model": name, "created_at": _now(), "response": piece, "done": False})
                    sent += 1
        except (ClientGone, OSError):
            served.client_left = True
            self.server.state.generations_stopped_early += 1
            self.close_connection = True
            return
        total = int((time.perf_counter() - started) * 1e9)
        self._chunk(
            {
                "model": name,
                "created_at": _now(),
                "response": "",
                "done": True,
                "done_reason": "length" if stats.finish_reason == "length" else "stop",
                "total_duration": total,
                "load_duration": int(stats.load_ms * 1e6),
                "prompt_eval_count": stats.prompt_evaluated,
                "prompt_eval_duration": int(stats.prompt_eval_ms * 1e6),
                "eval_count": stats.generated_tokens,
                "eval_duration": int(stats.generation_ms * 1e6),
            }
        )
        self._chunk_end()

    def _pieces(self, backend: EmbeddedBackend, request: GenerationRequest, stats: GenerationStats) -> Iterator[str]:
        """Run the async token stream on the server's loop, one piece at a time (closing it stops generation)."""
        loop = self.server.state.loop
        agen = backend.stream(request, stats)
        try:
            while True:
                try:
                    piece = asyncio.run_coroutine_threadsafe(agen.__anext__(), loop).result()
                except StopAsyncIteration:
                    return
                yield piece
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(agen.aclose(), loop).result(30)

    def _client_gone(self) -> bool:
        """The client closed the connection (readable with nothing to read), seen without blocking."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _chunk(self, payload: dict[str, Any]) -> None:
        if self._client_gone():
            raise ClientGone
        data = (json.dumps(payload) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _chunk_end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState


def _check_fault(fault: str) -> str:
    if fault in FAULTS:
        return fault
    if fault.startswith("die_after="):
        with contextlib.suppress(ValueError):
            if int(fault.split("=", 1)[1]) >= 0:
                return fault
    if fault.startswith("slow_first="):
        with contextlib.suppress(ValueError):
            if float(fault.split("=", 1)[1]) >= 0:
                return fault
    raise ValueError(f"unknown fault {fault!r}: use stall, die_after=N, slow_first=S, error, embed_error, embed_die, "
                     "unauthorized or server_error")


@contextlib.contextmanager
def serve(
    models: list[str] | None = None, fault: str = "", port: int = 0, embed_models: list[str] | None = None,
    handler: type[Handler] | None = None,
) -> Iterator[tuple[str, ServerState]]:
    """Start the server on 127.0.0.1 in this process (models loaded first); yield (base URL, state).

    ``models``: generation models (None: qwen2.5-coder-0.5b; [] none); ``embed_models``: names under which
    ``/api/embed`` answers with the local ONNX embedding model (it must be installed)."""
    state = ServerState(models={}, fault=_check_fault(fault))
    loop_thread = threading.Thread(target=state.loop.run_forever, name="ollama-test-loop", daemon=True)
    loop_thread.start()
    server: _Server | None = None
    try:
        for name in ["qwen2.5-coder-0.5b"] if models is None else models:
            backend = EmbeddedBackend(name, model_dir=default_model_dir(), slot="ollama-test")
            asyncio.run_coroutine_threadsafe(backend.start(), state.loop).result(600)
            state.models[name] = backend
        if embed_models:
            embedder = OnnxEmbedder(default_model_dir())
            embedder.warm()
            state.embedders = dict.fromkeys(embed_models, embedder)
        server = _Server(("127.0.0.1", port), handler or Handler)
        server.state = state
        threading.Thread(target=server.serve_forever, name="ollama-test-http", daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        state.stall_release.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        state.loop.call_soon_threadsafe(state.loop.stop)
        loop_thread.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ollama-compatible test server in front of the embedded model")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--model",
        action="append",
        choices=sorted(CATALOG),
        help="a model to serve (repeatable; default qwen2.5-coder-0.5b)",
    )
    parser.add_argument("--embed-model", action="append", default=None, help="a name /api/embed answers to")
    parser.add_argument(
        "--fault", default="", help="stall | die_after=N | slow_first=S | error | embed_error | embed_die"
    )
    args = parser.parse_args(argv)
    try:
        _check_fault(args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with serve(args.model, args.fault, args.port, args.embed_model) as (url, _state):
        print(url, flush=True)
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
