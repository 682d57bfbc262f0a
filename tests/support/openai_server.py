"""The scripted test server, extended to the APIs a team's model server speaks: OpenAI's `/v1/models` and
streamed `/v1/completions` (server-sent events), and llama-server's `/health`, `/infill` and `/completion`.

It is the Ollama test server (``tests.support.ollama_server``: same state, same real tokens from the embedded
model, same ``stall`` and ``die_after=N`` faults) with these routes added. Like vLLM, it rejects a request that
carries ``suffix`` (HTTP 400). ``/infill`` renders the Qwen repository-level FIM prompt from its parts, as
llama-server does. Faults besides the Ollama server's (the only fakes, for failure handling):
- ``unauthorized``: every request gets 401; so does one without ``Bearer <api_key>`` when ``api_key`` is set;
- ``server_error``: generation requests get 500;
- ``die_after=N``: N events, then half an event (a token cut off mid-way), then the connection drops;
- ``stall``: a generation request is accepted and never answered.

From pytest: ``with serve_openai(["qwen2.5-coder-0.5b"], api_key="k") as (url, state): ...``; the OpenAI API is
at ``url + "/v1"``, llama-server's at ``url``.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.prompts import ContextSnippet, PromptParts, build_prompt
from tests.support import ollama_server
from tests.support.ollama_server import ClientGone, Served, ServerState


class OpenAIHandler(ollama_server.Handler):
    """Ollama's routes, plus OpenAI's and llama-server's."""

    def _authorized(self) -> bool:
        state = self.server.state
        wanted = state.api_key
        if state.fault == "unauthorized" or (wanted and self.headers.get("Authorization") != f"Bearer {wanted}"):
            self._json(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": 401}})
            return False
        return True

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            if self._authorized():
                self._json(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in state.models]})
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if self.path not in ("/v1/completions", "/infill", "/completion"):
            super().do_POST()
            return
        state = self.server.state
        state.seen.append((self.path, dict(self.headers)))
        try:
            body = self._body()  # read first: an answer that leaves it unread would spoil the kept-alive connection
        except ValueError as exc:
            self._json(400, {"error": {"message": f"invalid request: {exc}", "code": 400}})
            return
        if not self._authorized():
            return
        state.bodies.append((self.path, body))
        if "suffix" in body:  # as vLLM and llama-server's /v1/completions do
            self._json(400, {"error": {"message": "suffix is not currently supported", "type": "BadRequestError",
                                       "code": 400}})
            return
        name = str(body.get("model") or next(iter(state.models), ""))
        backend = state.models.get(name)
        if backend is None:
            self._json(404, {"error": {"message": f"The model `{name}` does not exist.", "type": "NotFoundError",
                                       "code": 404}})
            return
        if state.fault == "server_error":
            self._json(500, {"error": {"message": "CUDA error: out of memory", "code": 500}})
            return
        if state.fault == "stall":
            state.stalled += 1
            state.stall_release.wait(600)
            self.close_connection = True
            return
        openai = self.path == "/v1/completions"
        prompt = str(body.get("prompt", "")) if self.path != "/infill" else _infill_prompt(body)
        limit = int(body.get("max_tokens" if openai else "n_predict", 16) or 0)
        stops = [str(s) for s in body.get("stop") or []]
        request = GenerationRequest(prompt=prompt, max_tokens=max(limit, 1), stop=stops,
                                    temperature=float(body.get("temperature", 0)))
        served = Served(GenerationStats())
        state.generations_started += 1
        state.generations.append(served)
        try:
            if body.get("stream"):
                self._sse(backend, request, served, openai)
            else:
                stats = served.stats
                text = "".join(self._pieces(backend, request, stats)) if limit > 0 else ""
                self._json(200, {"content": text, "stop": True, "timings": {"prompt_n": stats.prompt_evaluated,
                                                                            "predicted_n": stats.generated_tokens}})
        finally:
            served.ended.set()

    def _sse(self, backend: EmbeddedBackend, request: GenerationRequest, served: Served, openai: bool) -> None:
        fault = self.server.state.fault
        die_after = int(fault.split("=", 1)[1]) if fault.startswith("die_after=") else None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            with contextlib.closing(self._pieces(backend, request, served.stats)) as pieces:
                for piece in pieces:
                    event = ({"choices": [{"index": 0, "text": piece, "finish_reason": None}]} if openai else
                             {"content": piece, "stop": False})
                    if die_after is not None and sent >= die_after:
                        data = f"data: {json.dumps(event)}\n\n".encode()
                        self._raw(data[: len(data) // 2])  # a token cut off mid-way
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self._event(event)
                    sent += 1
            stats = served.stats
            if openai:
                reason = "length" if stats.finish_reason == "length" else "stop"
                self._event({"choices": [{"index": 0, "text": "", "finish_reason": reason}]})
                self._event({"choices": [], "usage": {"prompt_tokens": stats.prompt_tokens,
                                                      "completion_tokens": stats.generated_tokens}})
                self._raw(b"data: [DONE]\n\n")
            else:
                self._event({"content": "", "stop": True, "stop_type": "limit" if stats.finish_reason == "length"
                             else "eos", "timings": {"prompt_n": stats.prompt_evaluated,
                                                     "predicted_n": stats.generated_tokens}})
            self._chunk_end()
        except (ClientGone, OSError):
            served.client_left = True
            self.server.state.generations_stopped_early += 1
            self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        if self._client_gone():
            raise ClientGone
        self._raw(f"data: {json.dumps(payload)}\n\n".encode())

    def _raw(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def _infill_prompt(body: dict[str, Any]) -> str:
    extra = [ContextSnippet(str(c.get("filename", "tmp")), str(c.get("text", "")))
             for c in body.get("input_extra") or []]
    parts = PromptParts(prefix=str(body.get("input_prefix", "")), suffix=str(body.get("input_suffix", "")),
                        path="filename", language=None, context=extra, repo="myproject")
    return build_prompt("qwen", parts).text


@contextlib.contextmanager
def serve_openai(models: list[str] | None = None, fault: str = "", api_key: str = ""
                 ) -> Iterator[tuple[str, ServerState]]:
    """The test server with the OpenAI and llama-server routes; yield (base URL, state)."""
    with ollama_server.serve(models, fault, handler=OpenAIHandler) as (url, state):
        state.api_key = api_key
        yield url, state
