"""The Ollama backend: the official `ollama` client (async) streaming raw prompts from `/api/generate`.

`start()` checks the server (`/api/version`, a plain HTTP call: the client has no such method) and the
model (`show`): a missing model gets a message naming the exact `ollama pull` command, a model without
fill-in-the-middle support (no `insert` capability) a warning. Closing the stream (cancelling the task
that reads it, or `aclose()`) closes the HTTP response, which stops generation in the server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama

from srag_lsp.models.base import BackendError, BackendInfo, GenerationRequest, GenerationStats
from srag_lsp.prompts import template_for_model

log = logging.getLogger(__name__)


def _connection_problem(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower() or isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text


class OllamaBackend:
    def __init__(self, *, host: str, model: str, keep_alive: str = "30m", probe_timeout: float = 2.0,
                 read_timeout: float = 120.0) -> None:
        self.host = host.rstrip("/")
        self.model = model
        self.keep_alive = keep_alive
        self.probe_timeout = probe_timeout
        self.info = BackendInfo(backend="ollama", model=model, fim=template_for_model(model) != "prefix",
                                detail=self.host)
        self.warnings: list[str] = []
        self.server_version = ""
        self._client = ollama.AsyncClient(host=self.host, timeout=httpx.Timeout(read_timeout, connect=probe_timeout))

    async def probe(self) -> str:
        """The server's version; BackendError (naming the host) when nothing answers there."""
        try:
            async with httpx.AsyncClient(timeout=self.probe_timeout) as http:
                response = await http.get(f"{self.host}/api/version")
                response.raise_for_status()
                return str(response.json().get("version", "unknown"))
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"no Ollama at {self.host} ({_connection_problem(exc)})") from None

    async def start(self) -> None:
        self.server_version = await self.probe()
        try:
            shown = await self._client.show(self.model)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise BackendError(
                    f"Ollama at {self.host} does not have the model {self.model!r}: run `ollama pull {self.model}`"
                ) from None
            raise BackendError(f"Ollama at {self.host} could not describe {self.model!r}: {exc.error}") from None
        except (httpx.HTTPError, ConnectionError) as exc:
            raise BackendError(f"no Ollama at {self.host} ({_connection_problem(exc)})") from None
        capabilities = list(getattr(shown, "capabilities", None) or [])
        if capabilities:
            self.info.fim = "insert" in capabilities
        if not self.info.fim:
            self.warnings.append(
                f"srag-lsp: the Ollama model {self.model} does not support fill-in-the-middle (no 'insert' "
                "capability); completions see only the text before the cursor. A code model such as "
                "qwen2.5-coder:1.5b-base does better."
            )
        log.info("Ollama %s at %s with %s (capabilities: %s)", self.server_version, self.host, self.model,
                 ", ".join(capabilities) or "unknown")

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        stats = stats if stats is not None else GenerationStats()
        options: dict[str, Any] = {
            "num_ctx": request.num_ctx,
            "num_predict": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            options["stop"] = request.stop
        try:
            parts = await self._client.generate(
                model=request.model or self.model, prompt=request.prompt, raw=True, stream=True,
                options=options, keep_alive=self.keep_alive,
            )
        except (httpx.HTTPError, ConnectionError) as exc:
            stats.finish_reason = "error"
            raise BackendError(f"no Ollama at {self.host} ({_connection_problem(exc)})") from None
        try:
            async for part in parts:
                piece = part.get("response") or ""
                if piece:
                    stats.generated_tokens += 1
                    yield piece
                if part.get("done"):
                    stats.prompt_tokens = int(part.get("prompt_eval_count") or 0)
                    stats.prompt_evaluated = stats.prompt_tokens
                    stats.generated_tokens = int(part.get("eval_count") or stats.generated_tokens)
                    stats.load_ms = (part.get("load_duration") or 0) / 1e6
                    stats.prompt_eval_ms = (part.get("prompt_eval_duration") or 0) / 1e6
                    stats.generation_ms = (part.get("eval_duration") or 0) / 1e6
                    stats.finish_reason = "stop" if part.get("done_reason") == "stop" else "length"
                    return
            stats.finish_reason = "error"
            raise BackendError(f"Ollama at {self.host} ended the stream without finishing")
        except ollama.ResponseError as exc:
            stats.finish_reason = "error"
            raise BackendError(f"Ollama at {self.host}: {exc.error}") from None
        except (httpx.HTTPError, ConnectionError) as exc:
            stats.finish_reason = "error"
            raise BackendError(f"Ollama at {self.host} broke off the stream ({_connection_problem(exc)})") from None
        finally:
            if not stats.finish_reason:
                stats.finish_reason = "cancelled"
            # Closing the generator closes the HTTP response: the server stops generating.
            with contextlib.suppress(Exception):
                await parts.aclose()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client._client.aclose()
