"""An Ollama-compatible HTTP server in front of the embedded model, for tests of the real `ollama` client.

It speaks `/api/version`, `/api/tags`, `/api/show` and streaming `/api/generate` (raw prompts, NDJSON lines
with `response`/`done` and timing fields on the last one), generating real tokens with llama.cpp. When the
client closes the connection, generation stops at the next token.

Fault injection (the only fakes, for tests of failure handling):
- `stall`: accept a generate request, then never answer;
- `die_after=N`: stream N tokens, then drop the connection;
- `error`: answer a generate request with an `{"error": ...}` line.
A model name the server does not have gets a 404, as from Ollama.

    python -m tests.support.ollama_server --port 0 [--model qwen2.5-coder-0.5b] [--fault stall|die_after=3|error]

prints its base URL on stdout once it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.catalog import CATALOG
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.settings import default_model_dir


@dataclass
class ServerState:
    models: dict[str, EmbeddedBackend]
    fault: str = ""
    generations_started: int = 0
    generations_stopped_early: int = 0  # the client went away before the end
    stall_release: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/api/version":
            self._json(200, {"version": "0.12.0-srag-test"})
        elif self.path == "/api/tags":
            self._json(200, {"models": [{"name": n, "model": n, "size": 0} for n in state.models]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        try:
            body = self._body()
        except json.JSONDecodeError:
            self._json(400, {"error": "invalid JSON"})
            return
        name = body.get("model") or body.get("name") or ""
        if self.path == "/api/show":
            backend = state.models.get(name)
            if backend is None:
                self._json(404, {"error": f"model '{name}' not found"})
                return
            capabilities = ["completion"] + (["insert"] if backend.info.fim else [])
            self._json(200, {"modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
                             "details": {"family": backend.info.model, "format": "gguf"},
                             "model_info": {"general.architecture": backend.info.model},
                             "capabilities": capabilities})
        elif self.path == "/api/generate":
            backend = state.models.get(name)
            if backend is None:
                self._json(404, {"error": f"model '{name}' not found, try pulling it first"})
                return
            self._generate(backend, body)
        else:
            self._json(404, {"error": "not found"})

    def _generate(self, backend: EmbeddedBackend, body: dict[str, Any]) -> None:
        state = self.server.state
        fault = state.fault
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault == "stall":
            state.stall_release.wait(600)
            return
        if fault == "error":
            self._chunk({"error": "model runner has unexpectedly stopped"})
            self._chunk_end()
            return
        die_after = int(fault.split("=", 1)[1]) if fault.startswith("die_after=") else None
        options = body.get("options") or {}
        request = GenerationRequest(
            prompt=str(body.get("prompt", "")), max_tokens=int(options.get("num_predict", 128)),
            stop=list(options.get("stop") or []), temperature=float(options.get("temperature", 0.0)),
            num_ctx=int(options.get("num_ctx", 4096)),
        )
        stats = GenerationStats()
        state.generations_started += 1
        started = time.perf_counter()
        sent = 0
        try:
            for piece in self._pieces(backend, request, stats):
                if die_after is not None and sent >= die_after:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._chunk({"model": backend.info.model, "response": piece, "done": False})
                sent += 1
        except (BrokenPipeError, ConnectionResetError, OSError):
            state.generations_stopped_early += 1
            return
        total = int((time.perf_counter() - started) * 1e9)
        self._chunk({"model": backend.info.model, "response": "", "done": True,
                     "done_reason": "stop" if stats.finish_reason == "stop" else "length",
                     "total_duration": total, "load_duration": 0,
                     "prompt_eval_count": stats.prompt_evaluated,
                     "prompt_eval_duration": int(stats.prompt_eval_ms * 1e6),
                     "eval_count": stats.generated_tokens, "eval_duration": int(stats.generation_ms * 1e6)})
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

    def _chunk(self, payload: dict[str, Any]) -> None:
        data = (json.dumps(payload) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _chunk_end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState


@contextlib.contextmanager
def serve(models: list[str] | None = None, fault: str = "", port: int = 0) -> Iterator[tuple[str, ServerState]]:
    """Start the server on 127.0.0.1 in this process; yield (base URL, state)."""
    state = ServerState(models={}, fault=fault)
    loop_thread = threading.Thread(target=state.loop.run_forever, daemon=True)
    loop_thread.start()
    for name in models or ["qwen2.5-coder-0.5b"]:
        backend = EmbeddedBackend(name, model_dir=default_model_dir(), slot="ollama-test")
        asyncio.run_coroutine_threadsafe(backend.start(), state.loop).result(300)
        state.models[name] = backend
    server = _Server(("127.0.0.1", port), Handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        state.stall_release.set()
        server.shutdown()
        server.server_close()
        state.loop.call_soon_threadsafe(state.loop.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ollama-compatible test server in front of the embedded model")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", action="append", choices=sorted(CATALOG), help="models to serve")
    parser.add_argument("--fault", default="", help="stall | die_after=N | error")
    args = parser.parse_args(argv)
    with serve(args.model, args.fault, args.port) as (url, _state):
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while sys.stdin.readable():
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
