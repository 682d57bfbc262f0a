"""The Ollama backend: the official `ollama` client (async) streaming raw prompts from `/api/generate`.

`start()` checks the server (`/api/version`, a plain HTTP call: the client has no such method) and the
model (`show`): a missing model gets a message naming the exact `ollama pull` command, a model without
fill-in-the-middle support (no `insert` capability) a warning. Closing the stream (cancelling the task
that reads it, or `aclose()`) closes the HTTP response, which stops generation in the server.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama

from srag_lsp.models.base import BackendError, BackendInfo, FimParts, GenerationRequest, GenerationStats
from srag_lsp.models.server_http import causes
from srag_lsp.prompts import template_for_model

log = logging.getLogger(__name__)


def _connection_problem(exc: BaseException) -> str:
    """A few words on why talking to the server failed, for messages such as "no Ollama at HOST (...)"."""
    chain = causes(exc)
    if any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "unknown host"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url.path}"
    if isinstance(exc, ConnectionError) and "Failed to connect to Ollama" in str(exc):
        return "cannot connect"  # the ollama client's wrapper of httpx.ConnectError
    if isinstance(exc, ValueError):
        return "the answer is not Ollama's"
    return str(exc) or type(exc).__name__


def _fill_stats(stats: GenerationStats, last: Any) -> None:
    """Figures from the stream's last line (durations in nanoseconds)."""
    stats.prompt_tokens = int(last.get("prompt_eval_count") or 0)
    stats.prompt_evaluated = stats.prompt_tokens  # Ollama reports only the tokens it evaluated
    stats.generated_tokens = int(last.get("eval_count") or stats.generated_tokens)
    stats.load_ms = (last.get("load_duration") or 0) / 1e6
    stats.prompt_eval_ms = (last.get("prompt_eval_duration") or 0) / 1e6
    stats.generation_ms = (last.get("eval_duration") or 0) / 1e6
    stats.finish_reason = "length" if last.get("done_reason") == "length" else "stop"


# A stalled server (no byte for this long, first token included) ends the stream with a BackendError. Ollama
# answers its first line once the model is loaded and has evaluated the prompt: tens of seconds at worst.
STALL_TIMEOUT_S = 30.0


class OllamaBackend:
    """A model served by Ollama at ``host``; ``warnings`` collects what the user should know (no FIM, ...)."""

    def __init__(
        self,
        *,
        host: str,
        model: str,
        keep_alive: str = "30m",
        probe_timeout: float = 2.0,
        read_timeout: float = STALL_TIMEOUT_S,
    ) -> None:
        self.host = host.rstrip("/")
        self.model = model
        self.keep_alive = keep_alive
        self.probe_timeout = probe_timeout
        self.info = BackendInfo(
            backend="ollama", model=model, fim=template_for_model(model) != "prefix", detail=self.host
        )
        self.warnings: list[str] = []
        self.server_version = ""
        self.read_timeout = read_timeout
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
        """Check the server and the model; BackendError naming the host, or the `ollama pull` command."""
        self.server_version = await self.probe()
        try:
            shown = await self._client.show(self.model)
        except ollama.ResponseError as exc:
            raise self._response_error(exc, self.model, f"could not describe {self.model!r}: ") from None
        except (httpx.HTTPError, ConnectionError) as exc:
            raise BackendError(f"no Ollama at {self.host} ({_connection_problem(exc)})") from None
        except ValueError as exc:  # an answer the client cannot parse
            raise BackendError(f"Ollama at {self.host} sent an unexpected answer about {self.model!r}: {exc}") from None
        capabilities = list(getattr(shown, "capabilities", None) or [])
        if capabilities:
            self.info.fim = "insert" in capabilities
        if not self.info.fim:
            self.warnings.append(
                f"srag-lsp: the Ollama model {self.model} does not support fill-in-the-middle (no 'insert' "
                "capability); completions see only the text before the cursor. A code model such as "
                "qwen2.5-coder:1.5b-base does better."
            )
        log.info(
            "Ollama %s at %s with %s (capabilities: %s)",
            self.server_version,
            self.host,
            self.model,
            ", ".join(capabilities) or "unknown",
        )

    def _response_error(self, exc: ollama.ResponseError, model: str, what: str = "") -> BackendError:
        """An error line from the server as a BackendError; a missing model names the `ollama pull` command."""
        if exc.status_code == 404:
            return BackendError(f"Ollama at {self.host} does not have the model {model!r}: run `ollama pull {model}`")
        return BackendError(f"Ollama at {self.host}: {what}{exc.error}")

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        """Text pieces from `/api/generate` (raw prompt); closing or cancelling the iterator closes the HTTP stream."""
        stats = stats if stats is not None else GenerationStats()
        model = request.model or self.model
        options: dict[str, Any] = {
            "num_ctx": request.num_ctx,
            "num_predict": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            options["stop"] = request.stop
        parts: Any = None
        answered = False  # the server sent at least one line
        try:
            # The call only builds the request: connecting and reading happen at the first iteration.
            parts = await self._client.generate(
                model=model,
                prompt=request.prompt,
                raw=True,
                stream=True,
                options=options,
                keep_alive=self.keep_alive,
            )
            async for part in parts:
                answered = True
                piece = part.get("response") or ""
                if piece:
                    stats.generated_tokens += 1
                    yield piece
                if part.get("done"):
                    _fill_stats(stats, part)
                    return
            stats.finish_reason = "error"
            raise BackendError(f"Ollama at {self.host} ended the stream without finishing")
        except ollama.ResponseError as exc:
            stats.finish_reason = "error"
            raise self._response_error(exc, model) from None
        except httpx.TimeoutException as exc:
            stats.finish_reason = "error"
            if isinstance(exc, httpx.ConnectTimeout):
                raise BackendError(f"no Ollama at {self.host} (connecting timed out)") from None
            when = "between two tokens" if answered else "before the first token"
            raise BackendError(
                f"Ollama at {self.host} stalled: nothing for {self.read_timeout:.0f} s {when}"
            ) from None
        except (httpx.HTTPError, ConnectionError) as exc:
            stats.finish_reason = "error"
            if answered:
                raise BackendError(f"Ollama at {self.host} broke off the stream ({_connection_problem(exc)})") from None
            raise BackendError(f"no Ollama at {self.host} ({_connection_problem(exc)})") from None
        except ValueError as exc:  # a line that is not JSON, or not a generate response
            stats.finish_reason = "error"
            raise BackendError(f"Ollama at {self.host} sent a malformed line: {exc}") from None
        finally:
            if not stats.finish_reason:
                stats.finish_reason = "cancelled"
            if parts is not None:
                # Closing the generator closes the HTTP response: the server stops generating.
                with contextlib.suppress(Exception):
                    await parts.aclose()

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        """Ollama has no way to evaluate a prompt without generating: nothing is prefilled (0)."""
        return 0

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        """Ollama's generate API gives no log-probabilities of given text: it cannot score (None)."""
        return None

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        """The server does not say what its KV cache holds: None (it re-uses a common prefix on its own)."""
        return None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client._client.aclose()
