"""Work ahead of the user, off the keystroke path: KV warm-ups and the suggestion after an accept.

- Warm-up: llama.vim sends the prompt with ``n_predict: 0`` when the user is idle; we do the same through the
  engine (``CompletionEngine.warm``) where an edit landed. A generation on the model preempts its prefill at the
  next small batch; what it evaluated stays cached.
- Ahead: after a suggestion is shown, llama.vscode computes the next one as if it were accepted, so Tab-then-keep-
  typing is instant. We run the engine on the document with the suggestion inserted and keep the answer by the
  document's content and position; ``CompletionService`` answers from it when the user accepts.
Both wait for a short idle time and are cancelled by any request: one background job at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable

from srag_lsp.completion.engine_source import EngineSource
from srag_lsp.completion.request import CompletionRequest

log = logging.getLogger(__name__)

IDLE_S = 0.15  # how long the user must be idle before a warm-up starts
AHEAD_SIZE = 32

ContentKey = tuple[str, int, int, int]


def content_key(request: CompletionRequest) -> ContentKey:
    """A document state and a position, whatever its version number."""
    return (request.uri, request.line, request.col, hash(request.text))


def accepted(request: CompletionRequest, text: str) -> CompletionRequest:
    """The request as it will be once ``text`` is accepted at its cursor (the cursor after the text)."""
    at = request.offset()
    lines = text.split("\n")
    line = request.line + len(lines) - 1
    col = (request.col if len(lines) == 1 else 0) + len(lines[-1])
    return dataclasses.replace(request, text=request.text[:at] + text + request.text[at:], line=line, col=col,
                               version=request.version + 1, client_col=None, waited_ms=0.0)


class Warmer:
    """One background job at a time: a warm-up where the cursor rests, or the suggestion after an accept."""

    def __init__(self, engines: EngineSource, *, enabled: Callable[[], bool]) -> None:
        self._engines = engines
        self._enabled = enabled
        self._task: asyncio.Task[None] | None = None
        self.warmed_tokens = 0
        self.runs = 0
        self.ahead: OrderedDict[ContentKey, str] = OrderedDict()

    def schedule(self, request: CompletionRequest, shown: str = "") -> None:
        """Warm where ``request`` is; with ``shown``, compute the suggestion that follows accepting it."""
        if not self._enabled() or self._engines.engine is None:
            return
        self.cancel()
        with contextlib.suppress(RuntimeError):  # no running loop (headless shutdown)
            job = self._ahead(accepted(request, shown)) if shown.strip() else self._warm(request)
            self._task = asyncio.get_running_loop().create_task(job)

    def take_ahead(self, request: CompletionRequest) -> str | None:
        """The suggestion computed ahead for exactly this document and position, if any."""
        return self.ahead.pop(content_key(request), None)

    async def _ahead(self, request: CompletionRequest) -> None:
        await asyncio.sleep(IDLE_S)
        engine = self._engines.engine
        if engine is None:
            return
        try:
            outcome = await engine.run(request, lambda s: None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("suggestion ahead failed: %s", exc)
            return
        if outcome.suggestion.text.strip():
            self.ahead[content_key(request)] = outcome.suggestion.text
            while len(self.ahead) > AHEAD_SIZE:
                self.ahead.popitem(last=False)

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _warm(self, request: CompletionRequest) -> None:
        await asyncio.sleep(IDLE_S)
        engine = self._engines.engine
        if engine is None:
            return
        try:
            self.warmed_tokens += await engine.warm(request)
            self.runs += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a warm-up never matters enough to be loud
            log.debug("warm-up failed: %s", exc)
