"""The one interface every model backend implements: stream tokens for a raw prompt, warm, score, report, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class BackendError(RuntimeError):
    """A model backend could not serve a request; the message is meant for the user."""


@dataclass(slots=True)
class FimParts:
    """A fill-in-the-middle prompt before any template: for servers that apply the model's template themselves
    (llama-server's ``/infill``). Already windowed and redacted, as the rendered prompt is."""

    prefix: str
    suffix: str
    extra: list[tuple[str, str]] = field(default_factory=list)  # (filename, text) of each context file


@dataclass(slots=True)
class GenerationRequest:
    prompt: str  # the full raw prompt (FIM tokens already applied by the prompt template)
    max_tokens: int = 64
    stop: list[str] = field(default_factory=list)
    temperature: float = 0.0
    num_ctx: int = 4096
    model: str | None = None  # None: the backend's default model
    fim: FimParts | None = None  # the same prompt's parts, for backends that template it themselves
    # A backend that can insert in front of cached tokens (the embedded one) keeps the cached part of a prompt found
    # further on in this one, leaves what is missing in front of it out, and once the first text is out inserts at
    # most this many tokens of it (whole lines, nearest first; 0: none) before generating on; None: the prompt is
    # evaluated as it is.
    grow_tokens: int | None = None
    # Token healing (backends whose info says ``heals``): the output starts with this text, which the prompt left
    # out of its prefix (the partial word at the cursor); the model chooses the tokens for it, and the stream
    # yields only what comes after it.
    forced: str = ""
    # The confidence cut (backends that can see token probabilities: the embedded one): the output ends before the
    # first token, after the first visible one, that the model chose with a probability below this (0: never).
    min_token_p: float = 0.0


@dataclass(slots=True)
class GenerationStats:
    """Filled in as the stream ends (all counts in model tokens)."""

    prompt_tokens: int = 0  # size of the prompt
    prompt_evaluated: int = 0  # tokens actually evaluated (the rest came from the KV cache)
    generated_tokens: int = 0
    load_ms: float = 0.0
    queue_ms: float = 0.0  # waiting for the model (an in-process slot busy with an earlier job)
    prompt_eval_ms: float = 0.0
    generation_ms: float = 0.0
    finish_reason: str = ""  # "stop" | "length" | "unsure" (the confidence cut) | "cancelled" | "error"


@dataclass(slots=True)
class BackendInfo:
    backend: str  # "ollama" | "embedded" | "openai" | "llama-server"
    model: str
    fim: bool  # the model knows fill-in-the-middle tokens
    heals: bool = False  # honours GenerationRequest.forced (token healing)
    detail: str = ""  # host, model file path, ...


@runtime_checkable
class ModelBackend(Protocol):
    """A source of streamed tokens.

    `stream()` returns an async iterator of text pieces; the caller stops generation by cancelling the
    task that iterates or by calling `aclose()` on the iterator: the backend then stops generating (closes
    the HTTP stream, or sets the flag the llama.cpp thread checks between tokens). When `stats` is given,
    the backend fills it in as the stream runs and ends (also on cancellation and errors).
    """

    info: BackendInfo
    warnings: list[str]  # what the user should be told once the backend has started (no FIM, ...)

    async def start(self) -> None:
        """Check the server/model or load the model; raise BackendError with a user-facing message."""

    def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]: ...

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        """Evaluate ``prompt`` into the KV cache without generating (a warm-up); the prompt tokens evaluated.

        ``num_ctx`` and ``max_tokens`` cut the prompt as a generation with those settings would; ``fim`` is the
        same prompt's parts; ``grow_tokens`` as in ``GenerationRequest`` (a backend that can grow a prompt in front
        of its cache goes on growing it, that many tokens a step). 0 when the backend cannot prefill.
        """
        ...

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        """The mean log-probability per token of each continuation after ``prompt`` (higher: more likely).

        ``fim`` is the same prompt's parts. An empty continuation scores -inf. None when the backend cannot score.
        """
        ...

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        """The share of ``prompt`` (0.0 to 1.0) that the backend's KV cache already holds; None when it cannot tell.

        ``fim`` is the same prompt's parts (what a server that applies the template itself is sent)."""
        ...

    async def close(self) -> None: ...
