"""The OpenAI-compatible backend: streamed `/v1/completions` from the server a team runs (vLLM, SGLang, TGI,
LM Studio, llama-server).

Prompts are rendered here, with the model family's fill-in-the-middle template, and sent as a raw ``prompt``:
vLLM and llama-server reject the API's ``suffix``. ``start()`` reads ``GET /models`` and names the models the
server has when ours is not among them. The API cannot prefill or score given text, so warm-ups evaluate
nothing here and the refine policy decides on its evidence rules alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from srag_lsp.models.base import BackendError, BackendInfo, FimParts, GenerationRequest, GenerationStats
from srag_lsp.models.server_gate import ServerGate, settled_events
from srag_lsp.models.server_http import (
    STALL_TIMEOUT_S,
    get_json,
    key_from_environment,
    make_client,
    sse_events,
)
from srag_lsp.prompts import template_for_model

log = logging.getLogger(__name__)

MAX_STOPS = 4  # the OpenAI API takes at most four stop strings; the engine cuts at the rest itself


class OpenAIBackend:
    """``model`` served at ``base_url`` (".../v1"); the key, if any, comes from the variable named ``key_env``."""

    def __init__(self, *, base_url: str, model: str, key_env: str = "", probe_timeout: float = 2.0,
                 read_timeout: float = STALL_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.key_env = key_env
        self.probe_timeout = probe_timeout
        self.read_timeout = read_timeout
        self.info = BackendInfo(backend="openai", model=model, fim=template_for_model(model) != "prefix",
                                detail=self.base_url)
        self.warnings: list[str] = []
        self.server_models: list[str] = []
        self.gate = ServerGate()  # one request at a time, as llama.vim sends them
        self._client = make_client("", connect_timeout=probe_timeout, read_timeout=read_timeout)

    async def start(self) -> None:
        """Check the server and that it has the model; BackendError naming the models it has otherwise."""
        if not self.model:
            raise BackendError("backend openai needs openaiModel: the name the server gives the model")
        key = key_from_environment(self.key_env)
        await self._client.aclose()
        self._client = make_client(key, connect_timeout=self.probe_timeout, read_timeout=self.read_timeout)
        listed = await get_json(self._client, f"{self.base_url}/models", self.base_url, key_env=self.key_env,
                                timeout=max(self.probe_timeout, 5.0))
        data = listed.get("data") if isinstance(listed, dict) else None
        self.server_models = [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]
        if self.model not in self.server_models:
            has = ", ".join(self.server_models) or "none"
            raise BackendError(f"the model server at {self.base_url} does not have the model {self.model!r}; "
                               f"it has: {has} (set openaiModel to one of them)")
        if not self.info.fim:
            self.warnings.append(
                f"srag-lsp: no fill-in-the-middle template is known for {self.model}; completions see only the "
                "text before the cursor (set promptTemplate if the model has one)")
        log.info("OpenAI-compatible server at %s with %s", self.base_url, self.model)

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        """Text pieces from a streamed `/completions`; closing or cancelling the iterator closes the HTTP stream."""
        stats = stats if stats is not None else GenerationStats()
        model = request.model or self.model
        body: dict[str, Any] = {"model": model, "prompt": request.prompt, "max_tokens": request.max_tokens,
                                "temperature": request.temperature, "stream": True,
                                "stream_options": {"include_usage": True}}
        if request.stop:
            body["stop"] = request.stop[:MAX_STOPS]
        inner = self._stream(body, model, stats)
        async with contextlib.aclosing(self.gate.stream(inner, stats)) as pieces:  # one request at a time
            async for piece in pieces:
                yield piece

    async def _stream(self, body: dict[str, Any], model: str, stats: GenerationStats) -> AsyncIterator[str]:
        events = settled_events(self.gate, sse_events(self._client, f"{self.base_url}/completions", body,
                                                      self.base_url, key_env=self.key_env, model=model,
                                                      read_timeout=self.read_timeout))
        try:
            async for event in events:
                usage = event.get("usage")
                if isinstance(usage, dict):
                    stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    stats.prompt_evaluated = stats.prompt_tokens  # the API does not say what its cache held
                    stats.generated_tokens = int(usage.get("completion_tokens") or stats.generated_tokens)
                for choice in event.get("choices") or []:
                    piece = str(choice.get("text") or "")
                    if piece:
                        stats.generated_tokens += 1
                        yield piece
                    if choice.get("finish_reason"):
                        stats.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
            if not stats.finish_reason:
                stats.finish_reason = "stop"
        except BackendError:
            stats.finish_reason = "error"
            raise
        finally:
            if not stats.finish_reason:
                stats.finish_reason = "cancelled"
            with contextlib.suppress(Exception):
                await events.aclose()  # closes the HTTP response (or lets it settle): the server stops generating

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        """The completions API cannot evaluate a prompt without generating: nothing is prefilled (0)."""
        return 0

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        """The completions API gives no log-probabilities of given text everywhere: it cannot score (None)."""
        return None

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        """The server does not say what its KV cache holds: None."""
        return None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()
