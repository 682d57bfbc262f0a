"""Request coordination for the editor: supersede, debounce, answer re-triggers from cache, type through.

The LSP handlers call ``CompletionService``; it owns the in-flight engine tasks (one per document), the
latest text per (uri, version, position), and the suggestion last shown per document so that characters
typed through a suggestion consume it without a new model call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from srag_lsp.completion.engine import CompletionEngine, Outcome
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.postprocess import decide_shape, first_line_ready

log = logging.getLogger(__name__)

Key = tuple[str, int, int, int]
CACHE_SIZE = 256


@dataclass(slots=True)
class _InFlight:
    key: Key
    request: CompletionRequest
    task: asyncio.Task[Outcome] | None = None
    latest: Suggestion | None = None
    useful: asyncio.Event = field(default_factory=asyncio.Event)  # a first line (or the end) is there


@dataclass(slots=True)
class _Shown:
    line: int
    line_prefix: str
    text: str


class CompletionService:
    def __init__(self, engine: Callable[[], CompletionEngine | None], *, debounce_ms: Callable[[], int],
                 notify: Callable[[Suggestion], None] | None = None,
                 engine_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        self._engine = engine
        self._engine_ready = engine_ready
        self._debounce_ms = debounce_ms
        self.notify = notify
        self.inflight: dict[str, _InFlight] = {}
        self.cache: OrderedDict[Key, Suggestion] = OrderedDict()
        self.shown: dict[str, _Shown] = {}
        self.last_arrival: dict[str, float] = {}
        self.last_outcome: Outcome | None = None
        self.typed_through = 0

    # ---- public API for the LSP handlers -----------------------------------------------------------
    async def suggest(self, request: CompletionRequest, wait_ms: int) -> str | None:
        """Best suggestion text for the request within ``wait_ms`` (the engine keeps streaming after)."""
        key: Key = (request.uri, request.version, request.line, request.col)
        cached = self.cache.get(key)
        if cached is not None and (cached.done or cached.text):
            self.cache.move_to_end(key)
            return cached.text
        typed = self._type_through(request)
        if typed is not None:
            return typed
        if self._engine() is None and self._engine_ready is not None:
            # The model is still loading (a request right after start-up): wait for it within the budget.
            loading_from = time.perf_counter()
            try:
                await asyncio.wait_for(self._engine_ready(), wait_ms / 1000.0)
            except TimeoutError:
                pass
            request.waited_ms += (time.perf_counter() - loading_from) * 1000.0
        if self._engine() is None:
            log.info("no completion for %s: no model backend is ready (see srag/status)", request.uri)
            return None
        flight = self.inflight.get(request.uri)
        if flight is None or flight.key != key:
            self.supersede(request.uri)
            flight = self._start(request, key)
        try:
            await asyncio.wait_for(asyncio.shield(flight.useful.wait()), wait_ms / 1000.0)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            # $/cancelRequest: the editor no longer wants this; stop its generation.
            if self.inflight.get(request.uri) is flight:
                self.supersede(request.uri)
            raise
        latest = flight.latest
        return latest.text if latest is not None else None

    async def run_to_end(self, request: CompletionRequest) -> Outcome | None:
        """Start (or join) the request and wait for its final suggestion (headless use and tests)."""
        key: Key = (request.uri, request.version, request.line, request.col)
        flight = self.inflight.get(request.uri)
        if flight is None or flight.key != key:
            self.supersede(request.uri)
            flight = self._start(request, key)
        assert flight.task is not None
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            return None

    def supersede(self, uri: str) -> None:
        """A newer edit, a cursor move or a cancel: stop the document's in-flight generation."""
        flight = self.inflight.pop(uri, None)
        if flight is not None and flight.task is not None and not flight.task.done():
            log.debug("superseding %s", flight.request.id)
            flight.task.cancel()

    def forget(self, uri: str) -> None:
        self.supersede(uri)
        self.shown.pop(uri, None)
        self.last_arrival.pop(uri, None)
        for key in [k for k in self.cache if k[0] == uri]:
            del self.cache[key]

    async def close(self) -> None:
        tasks = [f.task for f in self.inflight.values() if f.task is not None]
        for uri in list(self.inflight):
            self.supersede(uri)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # ---- internals ---------------------------------------------------------------------------------
    def _start(self, request: CompletionRequest, key: Key) -> _InFlight:
        flight = _InFlight(key, request)
        self.inflight[request.uri] = flight
        now = time.perf_counter()
        previous = self.last_arrival.get(request.uri)
        self.last_arrival[request.uri] = now
        debounce = self._debounce_ms() / 1000.0
        # Debounce only a fast typist: the first request after a pause starts at once.
        delay = debounce if previous is not None and now - previous < debounce else 0.0
        flight.task = asyncio.create_task(self._run(flight, delay))
        return flight

    async def _run(self, flight: _InFlight, delay: float) -> Outcome:
        try:
            if delay:
                await asyncio.sleep(delay)
                flight.request.waited_ms += delay * 1000.0
            engine = self._engine()
            if engine is None:
                raise RuntimeError("no model backend is ready yet")
            outcome = await engine.run(flight.request, lambda s: self._on_update(flight, s))
            if delay:
                outcome.trace.events["debounce"] = round(delay * 1000.0, 2)
            self.last_outcome = outcome
            return outcome
        finally:
            flight.useful.set()
            if self.inflight.get(flight.request.uri) is flight:
                del self.inflight[flight.request.uri]

    def _on_update(self, flight: _InFlight, suggestion: Suggestion) -> None:
        flight.latest = suggestion
        request = flight.request
        self.cache[flight.key] = suggestion
        self.cache.move_to_end(flight.key)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        prefix, suffix = request.windows(1, 1)
        line_prefix = prefix.rsplit("\n", 1)[-1]
        self.shown[request.uri] = _Shown(request.line, line_prefix, suggestion.text)
        if suggestion.done or first_line_ready(suggestion.text, decide_shape(prefix, suffix)):
            flight.useful.set()
        if self.notify is not None:
            try:
                self.notify(suggestion)
            except Exception as exc:  # a closed client connection must not break generation
                log.debug("cannot notify the client: %s", exc)

    def _type_through(self, request: CompletionRequest) -> str | None:
        """Characters typed that match the shown suggestion consume it: answer with the rest, no model call."""
        shown = self.shown.get(request.uri)
        if shown is None or shown.line != request.line or not shown.text:
            return None
        prefix, _ = request.windows(0, 0)
        line_prefix = prefix.rsplit("\n", 1)[-1]
        if len(line_prefix) <= len(shown.line_prefix) or not line_prefix.startswith(shown.line_prefix):
            return None
        typed = line_prefix[len(shown.line_prefix):]
        if not shown.text.startswith(typed) or len(typed) >= len(shown.text):
            return None
        self.typed_through += 1
        rest = shown.text[len(typed):]
        key: Key = (request.uri, request.version, request.line, request.col)
        self.cache[key] = Suggestion(request.id, request.uri, request.version, request.line,
                                     request.position_col, rest, "refined", True)
        self.shown[request.uri] = _Shown(request.line, line_prefix, rest)
        return rest
