"""The llama-server backend: llama.cpp's own server, asked with ``POST /infill`` so the server applies the model's
fill-in-the-middle template and re-uses its KV cache (``cache_prompt``, ``--cache-reuse``) as we type.

- **Generation**: ``/infill`` with ``input_prefix``, ``input_suffix`` and ``input_extra`` (the retrieved files as
  ``{filename, text}``), streamed; a model without FIM tokens is asked with ``/completion`` and our raw prompt.
- **Warm-up**: the same request with ``n_predict: 0`` (llama.vim's prefill): the prompt is evaluated into the
  server's cache and nothing is generated.
- **Its cache**: llama-server picks a slot for a request by recency, not by what the slot holds, so successive
  keystrokes and the draft and refined prompts landed on different slots and were evaluated in full (measured:
  779 tokens, 6 s, instead of 4 tokens). Each backend therefore asks for a slot of its own (``id_slot``): the
  draft's and the refinement's backends keep different slots, as the embedded model keeps two KV sequences.
- **Long prompts in pieces** (``infill_pieces``): what the slot lacks, when it is more than a keystroke's worth, is
  sent first as pieces of about 100 tokens with ``n_predict: 0``, each in its own turn of the gate, so a draft
  waits for one piece rather than a whole refinement; and a request closed while the server still evaluates it
  keeps the gate shut until the server is done (``server_gate``).
- **Scoring**: each continuation is forced with a grammar that admits only its text, and the server's token
  probabilities (``n_probs``, before sampling) give its mean log-probability. A server that returns none makes
  ``score`` answer None, and the refine policy decides on its evidence rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

from srag_lsp.models.base import BackendError, BackendInfo, FimParts, GenerationRequest, GenerationStats
from srag_lsp.models.infill_pieces import held_share, pieces
from srag_lsp.models.server_gate import ServerGate, settled, settled_events
from srag_lsp.models.server_http import (
    STALL_TIMEOUT_S,
    get_json,
    key_from_environment,
    make_client,
    post_json,
    sse_events,
)

log = logging.getLogger(__name__)

SCORE_MAX_TOKENS = 96  # a continuation longer than this many tokens is scored on its first ones


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF grammar that admits exactly it."""
    out = []
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return 'root ::= "' + "".join(out) + '"'


def mean_logprob(probabilities: list[dict[str, Any]], text: str) -> float | None:
    """The mean log-probability of the tokens that spell ``text`` (the first of ``completion_probabilities``)."""
    total, count, spelled = 0.0, 0, ""
    for entry in probabilities:
        if len(spelled) >= len(text):
            break
        logprob = entry.get("logprob")
        if logprob is None:
            return None
        spelled += str(entry.get("token", ""))
        total += float(logprob)
        count += 1
    return total / count if count else None


class LlamaServerBackend:
    """The model a llama-server at ``url`` serves (one per server; ``model`` only names it in status)."""

    def __init__(self, *, url: str, model: str = "", key_env: str = "", probe_timeout: float = 2.0,
                 read_timeout: float = STALL_TIMEOUT_S, gate: ServerGate | None = None) -> None:
        self.url = url.rstrip("/")
        self.key_env = key_env  # a server started with --api-key wants it (the same setting as backend openai's)
        self.probe_timeout = probe_timeout
        self.read_timeout = read_timeout
        self.info = BackendInfo(backend="llama-server", model=model, fim=True, detail=self.url)
        self.warnings: list[str] = []
        self.can_score = True
        self.gate = gate or ServerGate()  # shared with a sibling on the same server: one request at a time
        self.slot = -1  # the server slot that holds this backend's prompts (-1: the server chooses)
        self.total_slots = 1
        self.sibling: LlamaServerBackend | None = None  # the other stage's backend: it keeps another slot
        self._client = make_client("", connect_timeout=probe_timeout, read_timeout=read_timeout)

    async def start(self) -> None:
        """Check the server is up and learn its model and whether it can infill; BackendError saying what to fix."""
        key = key_from_environment(self.key_env)
        await self._client.aclose()
        self._client = make_client(key, connect_timeout=self.probe_timeout, read_timeout=self.read_timeout)
        health = await get_json(self._client, f"{self.url}/health", self.url, timeout=max(self.probe_timeout, 5.0))
        if isinstance(health, dict) and health.get("status") not in (None, "ok"):
            raise BackendError(f"llama-server at {self.url} is not ready ({health.get('status')})")
        listed = await get_json(self._client, f"{self.url}/v1/models", self.url, key_env=self.key_env,
                                timeout=max(self.probe_timeout, 5.0))
        data = listed.get("data") if isinstance(listed, dict) else None
        names = [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]
        if names and not self.info.model:
            self.info.model = names[0]
        try:  # how many slots the server has (a server without /props: one, as far as we can tell)
            props = await get_json(self._client, f"{self.url}/props", self.url, key_env=self.key_env,
                                   timeout=max(self.probe_timeout, 5.0))
            self.total_slots = max(1, int(props.get("total_slots") or 1)) if isinstance(props, dict) else 1
        except (BackendError, TypeError, ValueError):
            self.total_slots = 1
        try:  # a model without FIM tokens answers 501 "Infill is not supported by this model"
            await post_json(self._client, f"{self.url}/infill", self._infill_body(FimParts("", "")) | {"n_predict": 0},
                            self.url, key_env=self.key_env, read_timeout=self.read_timeout)
        except BackendError as exc:
            if "infill" not in str(exc).lower():
                raise
            self.info.fim = False
            self.warnings.append(f"srag-lsp: the model llama-server serves at {self.url} has no fill-in-the-middle "
                                 "tokens; completions see only the text before the cursor")
        log.info("llama-server at %s with %s (infill: %s)", self.url, self.info.model, self.info.fim)

    def _infill_body(self, fim: FimParts) -> dict[str, Any]:
        return {"input_prefix": fim.prefix, "input_suffix": fim.suffix,
                "input_extra": [{"filename": name, "text": text} for name, text in fim.extra],
                "cache_prompt": True}

    def _body(self, prompt: str, fim: FimParts | None) -> tuple[str, dict[str, Any]]:
        """The endpoint and body for a prompt: ``/infill`` with its parts, else ``/completion`` with the raw text."""
        if fim is not None and self.info.fim:
            url, body = f"{self.url}/infill", self._infill_body(fim)
        else:
            url, body = f"{self.url}/completion", {"prompt": prompt, "cache_prompt": True}
        body["id_slot"] = self._wanted_slot()
        return url, body

    def _wanted_slot(self) -> int:
        """This backend's slot: the first one its sibling (the other stage) does not use; one server slot is shared."""
        other = self.sibling.slot if self.sibling is not None else -1
        if self.slot < 0 or (self.slot == other and self.total_slots > 1):
            self.slot = next(s for s in range(self.total_slots) if s != other) if self.total_slots > 1 else 0
        return self.slot

    async def _send_pieces(self, fim: FimParts, *, warm_up: bool) -> int:
        """What the slot lacks of ``fim``'s prompt, in pieces, each in a turn of the gate (a warm-up stops when a
        request wants the gate); the prompt tokens they evaluated."""
        if not self.info.fim:
            return 0
        slot = self._wanted_slot()
        evaluated = 0
        for piece in pieces(fim, self.gate.held.get(slot)):
            if warm_up and self.gate.busy():
                break
            body = self._infill_body(piece) | {"n_predict": 0, "id_slot": slot}
            async with self.gate.turn(warm_up=warm_up):
                answer = await settled(self.gate, post_json(self._client, f"{self.url}/infill", body, self.url,
                                                            key_env=self.key_env, read_timeout=self.read_timeout))
            self.gate.held[slot] = piece
            timings = answer.get("timings") if isinstance(answer, dict) else None
            evaluated += int((timings or {}).get("prompt_n") or 0)
        return evaluated

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        """Text pieces from a streamed ``/infill``; closing or cancelling the iterator closes the HTTP stream."""
        stats = stats if stats is not None else GenerationStats()
        url, body = self._body(request.prompt, request.fim)
        # timings_per_token: each event says what the prompt cost (prompt_n evaluated, cache_n re-used), so a
        # generation the engine stops early still reports what the server's cache served
        body.update(n_predict=request.max_tokens, temperature=request.temperature, stream=True, timings_per_token=True)
        if request.stop:
            body["stop"] = request.stop
        try:
            staged = await self._send_pieces(request.fim, warm_up=False) if request.fim is not None else 0
        except asyncio.CancelledError:
            stats.finish_reason = "cancelled"
            raise
        except BackendError:
            stats.finish_reason = "error"
            self.gate.held.pop(self.slot, None)
            raise
        inner = self._stream(url, body, stats, request.fim, staged)
        async with contextlib.aclosing(self.gate.stream(inner, stats)) as pieces_:  # one request at a time
            async for piece in pieces_:
                yield piece

    async def _stream(self, url: str, body: dict[str, Any], stats: GenerationStats, fim: FimParts | None,
                      staged: int) -> AsyncIterator[str]:
        slot = int(body.get("id_slot", -1))
        events = settled_events(self.gate, sse_events(self._client, url, body, self.url, key_env=self.key_env,
                                                      read_timeout=self.read_timeout))
        try:
            async for event in events:
                if fim is not None:
                    self.gate.held[slot] = fim  # an event: the server has evaluated the prompt
                if not stats.prompt_tokens and isinstance(event.get("timings"), dict):
                    _prompt_stats(stats, event, staged)
                piece = str(event.get("content") or "")
                if piece:
                    stats.generated_tokens += 1
                    yield piece
                if event.get("stop"):
                    _fill_stats(stats, event, staged)
                    return
            stats.finish_reason = "error"
            raise BackendError(f"llama-server at {self.url} ended the stream without finishing")
        except BackendError:
            stats.finish_reason = "error"
            self.gate.held.pop(slot, None)
            raise
        finally:
            if not stats.finish_reason:
                stats.finish_reason = "cancelled"
            with contextlib.suppress(Exception):
                await events.aclose()  # closes the HTTP response (or lets it settle): the server stops generating

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        """Evaluate the prompt into the server's cache with ``n_predict: 0`` (in pieces when long); the prompt tokens
        it evaluated. A warm-up never waits for the gate and stops when a request wants it."""
        if self.gate.busy():
            return 0  # a request is on its way: a warm-up never queues behind it
        url, body = self._body(prompt, fim)
        body.update(n_predict=0)
        evaluated = await self._send_pieces(fim, warm_up=True) if fim is not None else 0
        if self.gate.busy():
            return evaluated
        async with self.gate.turn(warm_up=True):
            answer = await settled(self.gate, post_json(self._client, url, body, self.url, key_env=self.key_env,
                                                        read_timeout=self.read_timeout))
        if fim is not None:
            self.gate.held[int(body["id_slot"])] = fim
        timings = answer.get("timings") if isinstance(answer, dict) else None
        return evaluated + int((timings or {}).get("prompt_n") or 0)

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        """Each continuation forced by a grammar; its mean log-probability from the server's ``n_probs``."""
        if not self.can_score:
            return None
        scores: list[float] = []
        for text in continuations:
            if not text:
                scores.append(-math.inf)
                continue
            url, body = self._body(prompt, fim)
            body.update(n_predict=SCORE_MAX_TOKENS, temperature=0.0, n_probs=1, post_sampling_probs=False,
                        grammar=gbnf_literal(text), stream=False)
            async with self.gate.turn():
                answer = await settled(self.gate, post_json(self._client, url, body, self.url, key_env=self.key_env,
                                                            read_timeout=self.read_timeout))
            probabilities = answer.get("completion_probabilities") if isinstance(answer, dict) else None
            score = mean_logprob(probabilities, text) if isinstance(probabilities, list) else None
            if score is None:
                self.can_score = False
                log.info("llama-server at %s returns no token probabilities: the refine policy decides without "
                         "scores", self.url)
                return None
            scores.append(score)
        return scores

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        """The share of the prompt's parts that this backend's slot holds, as far as this client knows (what it
        last had the server evaluate there); None without parts."""
        if fim is None or not self.info.fim:
            return None
        held = self.gate.held.get(self._wanted_slot())
        return held_share(fim, held) if held is not None else 0.0

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()


def _prompt_stats(stats: GenerationStats, event: dict[str, Any], staged: int = 0) -> None:
    """The prompt's figures from an event's ``timings``: prompt_n evaluated, cache_n re-used from the cache (and
    ``staged``: what the pieces sent before it evaluated)."""
    timings = event.get("timings") or {}
    evaluated = int(timings.get("prompt_n") or 0)
    cached = int(timings.get("cache_n") or 0)
    stats.prompt_evaluated = evaluated + staged
    stats.prompt_tokens = int(event.get("tokens_evaluated") or evaluated + cached)
    stats.prompt_eval_ms = float(timings.get("prompt_ms") or 0.0)


def _fill_stats(stats: GenerationStats, last: dict[str, Any], staged: int = 0) -> None:
    """Figures from the stream's last event."""
    timings = last.get("timings") or {}
    _prompt_stats(stats, last, staged)
    stats.generated_tokens = int(timings.get("predicted_n") or last.get("tokens_predicted") or stats.generated_tokens)
    stats.generation_ms = float(timings.get("predicted_ms") or 0.0)
    stop_type = str(last.get("stop_type") or "")
    stats.finish_reason = "length" if stop_type == "limit" else "stop"
