"""Request coordination for the editor: one flight per document, re-triggers from cache, typing through, warm-ups.

The LSP handlers call ``CompletionService``. It owns:
- the in-flight engine run per document, superseded by an edit or a cancel, but *continued* when the user types
  characters that the running generation already wrote (the flight is re-keyed to the new position; a cancel waits
  ``CANCEL_GRACE_S`` for the next request to take it over);
- the latest text per (uri, version, position), so a re-trigger is answered at once;
- the suggestion last shown per document (``shown.py``), so characters typed through it consume it without a model
  call (and a suggestion whose generation a key cut off is written on from where the user is, ``_finish_cut_off``);
- an adaptive debounce (``debounce.py``) and warm-ups where the cursor lands (``warmup.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from srag_lsp.completion.debounce import AdaptiveDebounce
from srag_lsp.completion.engine import CompletionEngine, Outcome
from srag_lsp.completion.engine_source import EngineSource
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.completion.shown import Shown, replaces_held, rest_after_typing
from srag_lsp.completion.warmup import Warmer
from srag_lsp.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, int, int, int]
CACHE_SIZE = 256
WARM_SHARE = 0.5  # a request that evaluated at most this share of its prompt ran on a warm KV cache
# A client without streaming sees only the answer to its request, and the next key cancels that request: while the
# user types, it is answered by this share of the typing interval with the text so far (a first line is rarely
# whole within one interval on a CPU), instead of waiting for the first line until the next key takes it away.
PLAIN_ANSWER_SHARE = 0.6
# Editors cancel the last request just before they send the next one, and Neovim sends that cancel before the edit
# (its didChange goes out with the next request): a cancelled request's generation runs on this long, so that the
# next request can type through it (``_continue``) instead of finding it stopped; if none takes it over, it stops.
CANCEL_GRACE_S = 0.1


@dataclass(slots=True)
class _InFlight:
    key: Key
    request: CompletionRequest  # the request the engine runs
    view: CompletionRequest  # the request the user is at now (later than ``request`` after typing through)
    typed: str = ""  # characters typed since ``request`` that the generation had already written
    task: asyncio.Task[Outcome] | None = None
    latest: Suggestion | None = None  # in ``view``'s terms
    useful: asyncio.Event = field(default_factory=asyncio.Event)  # a first line (or the end) is there
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set on every update and at the end
    hold: str | None = None  # what is on screen stays until this flight writes past it or ends (``_finish_cut_off``)


class CompletionService:
    """Per-document coordination of completion requests (see the module's docstring)."""

    def __init__(self, engines: EngineSource, settings: Settings, *,
                 publish: Callable[[Suggestion], None] | None = None,
                 trouble: Callable[[str], None] | None = None) -> None:
        self._engines = engines
        self.settings = settings
        self.debounce = AdaptiveDebounce(self._debounce_ms)
        self._publish_to = publish  # every suggestion the user may see goes out through it (srag/suggestion)
        self.inflight: dict[str, _InFlight] = {}
        self.cache: OrderedDict[Key, Suggestion] = OrderedDict()
        self.shown: dict[str, Shown] = {}
        self.last_outcome: Outcome | None = None
        self.typed_through = 0
        self.continued = 0
        self.ahead_hits = 0
        self.rested_at: dict[str, tuple[int, int]] = {}  # where srag/cursor said the cursor rests, mid-flight there
        self.finishing = 0  # generations started to write on a cut-off suggestion the user typed through
        self.warmer = Warmer(engines, enabled=self._warmup_enabled)
        self._trouble = trouble  # tells the user about a model failure (once per kind until a request works)
        self._troubles_said: set[str] = set()

    def update_settings(self, settings: Settings) -> None:
        """New settings from the editor: they apply from the next request."""
        self.settings = settings

    def _debounce_ms(self) -> int:
        return self.settings.debounce_ms

    def _warmup_enabled(self) -> bool:
        return self.settings.warmup

    def _engine(self) -> CompletionEngine | None:
        return self._engines.engine

    # ---- public API for the LSP handlers -----------------------------------------------------------
    async def suggest(self, request: CompletionRequest, wait_ms: int, *, streaming: bool = True) -> str | None:
        """Best suggestion text for the request within ``wait_ms`` (the engine keeps streaming after).

        ``streaming``: the client also sees every update (``srag/suggestion``). A client that does not is answered
        sooner while the user types (``PLAIN_ANSWER_SHARE`` of the typing interval), with the text so far.
        """
        key: Key = (request.uri, request.version, request.line, request.col)
        cached = self.cache.get(key)
        if cached is not None and (cached.done or cached.text):
            self.cache.move_to_end(key)
            return cached.text  # the model is not needed: a warm-up running at this place goes on
        self.warmer.cancel()
        self.supersede_elsewhere(request.uri)
        flight = self.inflight.get(request.uri)
        if flight is not None and flight.key != key and not self._continue(flight, request, key):
            self.supersede(request.uri)
            flight = None
        if flight is None:
            typed = self._type_through(request, write_on=streaming)
            if typed is not None:
                return typed
            ahead = self.warmer.take_ahead(request)
            if ahead is not None:
                return self._answer_at_once(request, ahead)
        if not await self._wait_for_model(request):
            log.info("no completion for %s: no model backend is ready (see srag/status)", request.uri)
            return None
        flight = self.inflight.get(request.uri)
        if flight is None or flight.key != key:
            self.supersede(request.uri)
            flight = self._start(request, key)
        if not streaming:
            wait_ms = self._plain_wait_ms(request.uri, wait_ms)
        try:
            try:
                await asyncio.wait_for(asyncio.shield(flight.useful.wait()), wait_ms / 1000.0)
            except TimeoutError:
                # No first line yet: answer with the first text that comes (or the end), never an empty hand
                # while a suggestion is on its way. The editor cancels the request if it no longer wants it.
                while not flight.useful.is_set() and not (flight.latest is not None and flight.latest.text.strip()):
                    flight.progress.clear()
                    await flight.progress.wait()
        except asyncio.CancelledError:
            # $/cancelRequest: the editor no longer wants this answer; stop its generation unless the next request
            # types through it.
            self._abandoned(flight, key)
            raise
        latest = flight.latest
        return latest.text if latest is not None else None

    async def run_to_end(self, request: CompletionRequest) -> Outcome | None:
        """Start (or join) the request and wait for its final suggestion (headless use and tests)."""
        key: Key = (request.uri, request.version, request.line, request.col)
        await self._wait_for_model(request)
        flight = self.inflight.get(request.uri)
        if flight is None or flight.key != key:
            self.supersede(request.uri)
            flight = self._start(request, key)
        assert flight.task is not None
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            return None

    def edited(self, uri: str, inserted: str | None, at: tuple[int, int] | None) -> None:
        """A change to the document: supersede its flight unless the user typed what the flight already wrote.

        ``inserted``/``at``: the text of a single insertion and its (line, client column); None for other edits.
        """
        flight = self.inflight.get(uri)
        if flight is None:
            return
        view = flight.view
        if inserted and at == (view.line, view.position_col) and "\n" not in inserted and flight.latest is not None \
                and flight.latest.text.startswith(inserted) and len(flight.latest.text) > len(inserted):
            return  # possibly typing through the running generation: the next request decides
        self.supersede(uri)

    def cursor_landed(self, request: CompletionRequest) -> None:
        """The cursor is somewhere new (an edit elsewhere, a file opened): warm the prompt there when idle."""
        if self.inflight.get(request.uri) is None:
            self.warmer.schedule(request)

    def cursor_rested(self, request: CompletionRequest) -> None:
        """The editor says the cursor rests at ``request``'s place (``srag/cursor``): a generation for another place
        of the document is stale now; warm the prompts here when the user idles."""
        self.supersede_elsewhere(request.uri)
        flight = self.inflight.get(request.uri)
        if flight is not None and (flight.view.line, flight.view.col) != (request.line, request.col):
            self.supersede(request.uri)
        if self.inflight.get(request.uri) is None:
            self.warmer.schedule(request)
        else:  # the request there runs on: the warm-up follows it (``_run``)
            self.rested_at[request.uri] = (request.line, request.col)

    def supersede(self, uri: str) -> None:
        """A newer edit, a cursor move or a cancel: stop the document's in-flight generation."""
        flight = self.inflight.pop(uri, None)
        if flight is not None and flight.task is not None and not flight.task.done():
            log.debug("superseding %s", flight.request.id)
            flight.task.cancel()

    def supersede_elsewhere(self, uri: str) -> None:
        """The editor asks about ``uri``: the cursor left every other document, and their generations (a refinement
        still evaluating its prompt for the line just typed elsewhere) would only hold the model from the new
        place (``bench_typing``: a cold place waited up to 12 s in the model's queue)."""
        for other in [u for u in self.inflight if u != uri]:
            self.supersede(other)

    def forget(self, uri: str) -> None:
        self.supersede(uri)
        self.shown.pop(uri, None)
        self.debounce.forget(uri)
        for key in [k for k in self.cache if k[0] == uri]:
            del self.cache[key]
        engine = self._engine()
        if engine is not None:
            engine.forget(uri)

    async def close(self) -> None:
        self.warmer.cancel()
        tasks = [f.task for f in self.inflight.values() if f.task is not None]
        for uri in list(self.inflight):
            self.supersede(uri)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # ---- internals ---------------------------------------------------------------------------------
    def _plain_wait_ms(self, uri: str, wait_ms: int) -> float:
        """How long a client without streaming waits for a first line: less than a key while the user types."""
        interval = self.debounce.interval_ms.get(uri)
        return wait_ms if interval is None else min(float(wait_ms), PLAIN_ANSWER_SHARE * interval)

    async def _wait_for_model(self, request: CompletionRequest) -> bool:
        """A request right after start-up waits for the model to load (bounded by ``modelWaitMs``)."""
        if self._engine() is None:
            loading_from = time.perf_counter()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._engines.models_ready(), self.settings.model_wait_ms / 1000.0)
            request.waited_ms += (time.perf_counter() - loading_from) * 1000.0
        return self._engine() is not None

    def _abandoned(self, flight: _InFlight, key: Key) -> None:
        """The editor cancelled the request ``key`` that ``flight`` serves: its generation stops unless a later
        request takes it over (re-keys it, typing through what it wrote) within ``CANCEL_GRACE_S``."""
        uri = flight.request.uri

        def stop() -> None:
            if self.inflight.get(uri) is flight and flight.key == key:
                self.supersede(uri)

        if self.inflight.get(uri) is flight and flight.key == key:
            asyncio.get_running_loop().call_later(CANCEL_GRACE_S, stop)

    def _continue(self, flight: _InFlight, request: CompletionRequest, key: Key) -> bool:
        """Typed characters that the running generation already wrote: keep it, seen from the new position."""
        base = flight.request
        if request.line != base.line or flight.task is None or flight.task.done() or flight.latest is None:
            return False
        before, now = base.line_prefix, request.line_prefix
        if len(now) <= len(before) or not now.startswith(before):
            return False
        typed = now[len(before):]
        produced = flight.latest.text if not flight.typed else flight.typed + flight.latest.text
        if not produced.startswith(typed) or len(produced) <= len(typed):
            return False
        flight.typed, flight.view, flight.key = typed, request, key
        self.continued += 1
        latest = flight.latest
        self._publish(flight, Suggestion(latest.id, request.uri, request.version, request.line,
                                         request.position_col, produced[len(typed):], latest.stage, latest.done,
                                         latest.final, first_line=latest.first_line))
        return True

    def _start(self, request: CompletionRequest, key: Key) -> _InFlight:
        flight = _InFlight(key, request, request)
        self.inflight[request.uri] = flight
        delay = self.debounce.delay_s(request.uri)
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
            outcome = await engine.run(flight.request, functools.partial(self._on_update, flight), self._say_trouble)
            if delay:
                outcome.trace.events["debounce"] = round(delay * 1000.0, 2)
            first = outcome.trace.events.get("first_visible")
            numbers = outcome.trace.numbers
            if first is not None and numbers.get("prompt_evaluated", 0) <= WARM_SHARE * numbers.get("prompt_tokens", 0):
                # Only answers from a warm KV cache say how fast keys are answered while typing: a cold jump's
                # seconds would make every keystroke after it wait.
                self.debounce.observe_response(first - delay * 1000.0)
            self.last_outcome = outcome
            if not outcome.trace.flags.get("error"):
                self._troubles_said.clear()  # it works again: a new failure is news
            shown = outcome.suggestion.text[len(flight.typed):] if flight.typed else outcome.suggestion.text
            if flight.hold is not None:  # it never wrote past the text on screen: that is what an accept takes
                shown = flight.hold
            rested = self.rested_at.pop(flight.view.uri, None) == (flight.view.line, flight.view.col)
            # Where the editor said the cursor rests, the place is warmed (its context pinned, both prompts cached);
            # elsewhere the job ahead computes the suggestion that follows an accept.
            self.warmer.schedule(flight.view, "" if rested else shown)
            return outcome
        finally:
            flight.useful.set()
            flight.progress.set()
            if self.inflight.get(flight.request.uri) is flight:
                del self.inflight[flight.request.uri]

    def _say_trouble(self, error: str) -> None:
        """A model failure mid-session: one message per kind while it lasts, not one per keystroke."""
        kind = re.sub(r"https?://\S+", "", error).split(":", 1)[0].strip()[:80]  # an address's colons are no kind
        if kind in self._troubles_said or self._trouble is None:
            return
        self._troubles_said.add(kind)
        try:
            self._trouble(f"srag-lsp: the model failed: {error}")
        except Exception as exc:  # no client to tell
            log.debug("cannot report a model failure: %s", exc)

    def _on_update(self, flight: _InFlight, suggestion: Suggestion) -> None:
        if flight.typed:
            if not suggestion.text.startswith(flight.typed):
                # The generation went another way than the user typed: it is stale now.
                if self.inflight.get(flight.request.uri) is flight:
                    self.supersede(flight.request.uri)
                return
            view = flight.view
            suggestion = Suggestion(suggestion.id, view.uri, view.version, view.line, view.position_col,
                                    suggestion.text[len(flight.typed):], suggestion.stage, suggestion.done,
                                    suggestion.final, first_line=suggestion.first_line)
        if flight.hold is not None and not self._past_hold(flight, suggestion):
            return
        self._publish(flight, suggestion)

    def _past_hold(self, flight: _InFlight, suggestion: Suggestion) -> bool:
        """May this update of a flight that finishes a cut-off suggestion replace the text on screen? Yes once it
        writes past that text, or when it ends with another non-empty text; until then the screen keeps the longer
        text it already has (no flicker back to a shorter one)."""
        hold, text = flight.hold or "", suggestion.text
        if replaces_held(hold, text, suggestion.done):
            flight.hold = None
            return True
        if suggestion.done and text == hold:  # the same text, now whole: no new key starts another flight
            shown = self.shown.get(flight.view.uri)
            if shown is not None and shown.text == hold:
                shown.whole = True
        return False

    def _publish(self, flight: _InFlight, suggestion: Suggestion) -> None:
        flight.latest = suggestion
        view = flight.view
        self.cache[flight.key] = suggestion
        self.cache.move_to_end(flight.key)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        self.shown[view.uri] = Shown(view.line, view.line_prefix, suggestion.text, suggestion.stage,
                                      suggestion.done)
        if suggestion.done or suggestion.first_line:
            flight.useful.set()
        flight.progress.set()
        self._announce(suggestion)

    def _announce(self, suggestion: Suggestion) -> None:
        """Hand a suggestion the user may see to whoever listens (the client's srag/suggestion, acceptance)."""
        if self._publish_to is None:
            return
        try:
            self._publish_to(suggestion)
        except Exception as exc:  # a closed client connection must not break generation
            log.debug("cannot publish a suggestion: %s", exc)

    def _answer_at_once(self, request: CompletionRequest, text: str) -> str:
        """A suggestion that needs no model call now (computed ahead): cache it, show it, answer with it."""
        key: Key = (request.uri, request.version, request.line, request.col)
        suggestion = Suggestion(request.id, request.uri, request.version, request.line, request.position_col, text,
                                "refined", True, True, first_line=True)
        self.cache[key] = suggestion
        self.shown[request.uri] = Shown(request.line, request.line_prefix, text, "refined")
        self.ahead_hits += 1
        self._announce(suggestion)
        return text

    def _type_through(self, request: CompletionRequest, *, write_on: bool = True) -> str | None:
        """Characters typed that match the shown suggestion consume it: answer with the rest, no model call.

        ``write_on``: the client sees updates (``srag/suggestion``), so a cut-off rest is written on
        (``_finish_cut_off``); a client without streaming would never see that text."""
        shown = self.shown.get(request.uri)
        line_prefix = request.line_prefix
        rest = rest_after_typing(shown, request.line, line_prefix)
        if shown is None or rest is None:
            return None
        self.typed_through += 1
        key: Key = (request.uri, request.version, request.line, request.col)
        suggestion = Suggestion(request.id, request.uri, request.version, request.line, request.position_col, rest,
                                shown.stage, True, True, first_line=True)
        self.cache[key] = suggestion
        self.shown[request.uri] = Shown(request.line, line_prefix, rest, shown.stage, shown.whole)
        self._announce(suggestion)
        if write_on and not shown.whole:
            self._finish_cut_off(request, key, rest)
        return rest

    def _finish_cut_off(self, request: CompletionRequest, key: Key, rest: str) -> None:
        """The user typed through a suggestion whose generation a key cut off (it stopped mid-line): write on from
        here, as a request would, while the screen keeps ``rest`` until the new generation writes past it.

        Without this, a draft cut off after three tokens stayed three tokens through every key typed through it and
        after the user stopped (the editor benchmark: ``e(obj`` for ``_get_signature(obj)``). The model is idle
        meanwhile (typing through needs no model call); the next key supersedes the generation as any other."""
        if self._engine() is None:
            return
        flight = self._start(request, key)
        flight.hold = rest
        self.finishing += 1
