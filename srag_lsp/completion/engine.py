"""The streaming-RAG completion engine: one request as a small state machine, draft ║ retrieval → policy → refine.

One call of ``CompletionEngine.run`` serves one request.

- ``streaming``: when the refine model's KV cache already holds most of the context-aware prompt (typing on in a
  place whose context is pinned), that prompt answers at once and no draft is needed. Otherwise a draft starts
  from local context only (a small prompt) while retrieval runs beside it. Retrieved chunks are pinned to the
  document (``pinboard``: appended, never re-ranked, so the prompt's start stays stable for the KV cache). A
  refinement starts only when the policy says the new context can help (``policy.worth_refining``), and its
  text replaces what is shown only while it extends it, or at its end when there is evidence that the shown
  text is wrong (``policy.judge_refinement``). The trace says why.
- ``sequential``: retrieve, then generate once with the context (the classic baseline).
- ``local``: no retrieval at all (a baseline, and a choice for users who want it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from indexer.secrets import redact
from srag_lsp.completion.pinboard import Pinboard, copies_the_cursor
from srag_lsp.completion.policy import Verdict, as_written, judge_refinement, new_identifiers, worth_refining
from srag_lsp.completion.postprocess import Shape, decide_shape, finish, first_line_ready
from srag_lsp.completion.prompts import ContextSnippet, Prompt, PromptParts, build_prompt, resolve_template
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.completion.window import LocalWindow, local_window
from srag_lsp.models.base import GenerationRequest, GenerationStats, ModelBackend
from srag_lsp.settings import Settings
from srag_lsp.trace import RequestTrace, Tracer

log = logging.getLogger(__name__)

CHUNKS_PER_UPDATE = 4  # fewer chunks that matter more: the best few of each retrieval update are pinned
SKIP_DRAFT_SHARE = 0.6  # skip the draft when the refine slot already holds this share of the context prompt
# Nats per token by which the context-aware prompt must prefer a refinement to what is shown. Scored as written
# (policy.as_written), the two texts' margins lie within about +-0.45 (bench_quality, 40 cases): at 0.5 no
# refinement without other evidence was ever taken; at 0, five of nine were: three closer to the real line (two
# exact), two a little further (-0.03, -0.04 edit similarity). The model that has seen more decides, once, at
# the end (no thrashing).
SCORE_MARGIN = 0.0


class ContextChunkLike(Protocol):
    id: str
    path: str
    text: str
    symbol: str


class ContextUpdateLike(Protocol):
    source: str
    ms: float
    chunks: Sequence[ContextChunkLike]


class ContextProvider(Protocol):
    """What the engine needs from retrieval (``srag_lsp.completion.context`` adapts the retriever)."""

    def cached(self, request: CompletionRequest) -> Sequence[ContextChunkLike] | None: ...

    def stream(
        self, request: CompletionRequest, *, deadline_ms: int, budget_tokens: int
    ) -> AsyncIterator[ContextUpdateLike]: ...

    async def lookup_names(self, names: list[str]) -> dict[str, list[ContextChunkLike]]: ...


@dataclass(slots=True)
class Generator:
    """A backend plus the prompt template its model needs."""

    backend: ModelBackend
    template: str

    @classmethod
    def for_backend(cls, backend: ModelBackend, template_setting: str) -> Generator:
        return cls(backend, resolve_template(template_setting, backend.info.model))


@dataclass(slots=True)
class Outcome:
    suggestion: Suggestion
    trace: RequestTrace
    draft_text: str = ""
    context: list[ContextChunkLike] = field(default_factory=list)
    refined_text: str = ""  # the last refinement's text, shown or kept off screen (what the policy judged)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (characters)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


class _Run:
    """The state of one request; events from its tasks arrive on one queue, in order."""

    def __init__(self, engine: CompletionEngine, request: CompletionRequest, trace: RequestTrace,
                 emit: Callable[[Suggestion], None], on_error: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.on_error = on_error
        self.settings = engine.settings
        self.request = request
        self.trace = trace
        self.emit_cb = emit
        self.window, self.draft_window = engine.windows(request)
        self.shape: Shape = decide_shape(self.window.line_prefix, self.window.tail)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.shown = ""
        self.shown_stage = "draft"
        self.last_emitted: tuple[str, str, bool] | None = None
        self.draft_task: asyncio.Task[Any] | None = None
        self.draft_text = ""
        self.draft_done = False
        self.draft_shown = ""
        self.draft_first_line = False
        self.refine_task: asyncio.Task[Any] | None = None
        self.refine_n = 0
        self.refine_text = ""
        self.pending_refine = False  # new context is pinned; a refinement waits for the draft's first line
        self.retrieval_running = False
        self.context: dict[str, ContextChunkLike] = {}
        self.used_ids: frozenset[str] = frozenset()
        self.unknown_in_draft: list[str] = []
        self.last_token_at: float = 0.0
        self.names_checked = False
        self.retrieval_wait_ms = 0.0  # sequential: time spent waiting for retrieval before the model call
        self.decisions: list[dict[str, Any]] = []
        self.shown_by = 0  # which generation the shown text comes from: 0 the draft, n the n-th refinement
        self.prompts: dict[int, str] = {}  # each generation's prompt (0: the draft's)

    # ---- output ----------------------------------------------------------------------------------
    def show(self, text: str, stage: str, done: bool, final: bool = False) -> None:
        key = (text, stage, done)
        if key == self.last_emitted and not final:
            return
        self.last_emitted = key
        self.shown, self.shown_stage = text, stage
        if stage == "draft":
            self.draft_shown = text
        if text.strip():
            self.trace.mark("first_visible")
        self.emit_cb(Suggestion(self.request.id, self.request.uri, self.request.version, self.request.line,
                                self.request.position_col, text, stage, done, final))

    def failed(self, message: str) -> None:
        """A generation failed (the model server, the model): traced, and told at once (a later key may cancel
        this run before it ends)."""
        self.trace.flags["error"] = message
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception as exc:
                log.debug("cannot report a model failure: %s", exc)

    def decide(self, what: str, yes: bool, reason: str) -> None:
        self.decisions.append({"at_ms": round(self.trace.ms(), 2), "what": what, "yes": yes, "reason": reason})

    # ---- tasks -----------------------------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_ended)
        return task

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self.events.put_nowait(("tick", None))  # wake the run's loop to re-check whether anything still runs

    async def generate(self, stage: str, n: int, generator: Generator, window: LocalWindow,
                       chunks: Sequence[ContextChunkLike], max_tokens: int) -> None:
        """Stream one generation; post partial texts as events; end with a done event (also on error)."""
        prompt = self.engine.prompt_for(generator, self.request, window, chunks)
        self.prompts[n] = prompt.text
        stats = GenerationStats()
        raw = ""
        error: str | None = None
        self.trace.mark("first_model_call")
        gen = generator.backend.stream(
            GenerationRequest(prompt=prompt.text, max_tokens=max_tokens, stop=prompt.stop,
                              temperature=self.settings.temperature, num_ctx=self.settings.num_ctx),
            stats,
        )
        try:
            async for piece in gen:
                self.last_token_at = self.trace.ms()
                self.trace.mark("first_draft_token" if stage == "draft" else "first_refined_token")
                if stage == "refined":
                    self.trace.refinements[n - 1].setdefault("first_token_ms", round(self.trace.ms(), 2))
                raw += piece
                text = finish(raw, self.shape, prompt.stop)
                await self.events.put((stage, (n, text, False)))
                if self._complete(raw, text, prompt):
                    break
        except asyncio.CancelledError:
            stats.finish_reason = stats.finish_reason or "cancelled"
            raise
        except Exception as exc:  # a dead or misbehaving model server: say so, keep serving
            error = str(exc) or type(exc).__name__
            log.warning("%s generation failed: %s", stage, error)
        finally:
            with contextlib.suppress(Exception):
                await gen.aclose()
            self.trace.add("prompt_tokens", stats.prompt_tokens)
            self.trace.add("prompt_evaluated", stats.prompt_evaluated)
            self.trace.add("generated_tokens", stats.generated_tokens)
            if stats.finish_reason == "cancelled" or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                self.trace.flags["cancelled_generations"] = self.trace.flags.get("cancelled_generations", 0) + 1
        if error is not None:
            await self.events.put(("error", (stage, n, error)))
        await self.events.put((stage, (n, finish(raw, self.shape, prompt.stop), True)))

    def _complete(self, raw: str, text: str, prompt: Prompt) -> bool:
        """True once more output cannot change the suggestion (the line or the block has ended)."""
        if not self.shape.multiline:
            body = raw if self.shape.line_prefix.strip() else raw.lstrip("\n")
            return "\n" in body
        cut = raw.rfind("\n")
        if cut <= 0:
            return False
        complete = finish(raw[:cut], self.shape, prompt.stop)
        return len(complete) < len(raw[:cut].rstrip()) and complete == text

    async def consume_retrieval(self) -> None:
        provider = self.engine.context
        assert provider is not None
        try:
            if self.settings.retrieval_delay_ms:
                await asyncio.sleep(self.settings.retrieval_delay_ms / 1000.0)
            async for update in provider.stream(self.request, deadline_ms=self.settings.retrieval_deadline_ms,
                                                budget_tokens=self.settings.context_budget_tokens):
                await self.events.put(("retrieval", update))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("retrieval failed: %s", exc)
        await self.events.put(("retrieval_end", None))

    async def check_names(self, names: list[str]) -> None:
        provider = self.engine.context
        found: dict[str, list[ContextChunkLike]] = {}
        if provider is not None and names:
            try:
                found = await provider.lookup_names(names)
            except Exception as exc:
                log.warning("name lookup failed: %s", exc)
        await self.events.put(("names", (names, found)))

    # ---- context -----------------------------------------------------------------------------------
    def usable(self, chunks: Sequence[ContextChunkLike]) -> list[ContextChunkLike]:
        """The chunks worth a place in the prompt: not the file itself, not a copy of the code being written."""
        lines = self.request.text.split("\n")
        above = lines[max(0, self.request.line - 3): self.request.line]
        out = []
        for chunk in chunks:
            if chunk.path == self.request.path:
                continue
            if copies_the_cursor(chunk, self.window.line_prefix, above):
                self.trace.flags["dropped_copies"] = self.trace.flags.get("dropped_copies", 0) + 1
                continue
            out.append(chunk)
        return out

    def pin(self, chunks: Sequence[ContextChunkLike], limit: int = CHUNKS_PER_UPDATE,
            force: bool = False) -> list[ContextChunkLike]:
        """Pin the best few usable chunks to the document; return the ones that are new to its prompt."""
        added = self.engine.pinboard.pin(self.request.uri, self.usable(chunks)[:limit], line=self.request.line,
                                         request_id=self.request.id, force=force)
        self.sync_context()
        return added

    def sync_context(self) -> None:
        self.context = {c.id: c for c in self.engine.pinboard.pinned(self.request.uri)}

    # ---- decisions -------------------------------------------------------------------------------
    def start_draft(self) -> None:
        draft = self.engine.draft
        limit = self.settings.draft_max_tokens if self.engine.retrieves() else self.settings.max_tokens
        self.trace.backend = draft.backend.info.backend
        self.trace.model = draft.backend.info.model
        self.draft_task = self.spawn(self.generate("draft", 0, draft, self.draft_window, [], limit))

    def consider_refining(self) -> None:
        """New context was pinned or the draft moved on: start a refinement if the policy sees a use for it."""
        if self.refine_n >= self.settings.max_refinements:
            return
        # A draft from the small window (a cold place) may gain from the whole window even with no context.
        widen = self.refine_n == 0 and self.draft_window.prefix != self.window.prefix and self.draft_task is not None
        ids = frozenset(self.context)
        if (not self.context or ids <= self.used_ids) and not widen:
            return
        if self.refine_task is not None and not self.refine_task.done():
            return  # a refinement is running: it is judged first, then newer context (re-checked at its end)
        if self.draft_task is not None and not self.draft_task.done() and self.engine.serial() \
                and not self.draft_first_line:
            return  # one CPU: let the draft reach a first line the user can see, then decide
        verdict = worth_refining(line_prefix=self.window.line_prefix, draft=self.draft_text,
                                 context_symbols=[c.symbol for c in self.context.values()],
                                 buffer_text=self.nearby_text(), unknown_in_draft=self.unknown_in_draft)
        if not verdict.yes and widen:
            verdict = Verdict(True, f"the draft saw {self.draft_window.prefix.count(chr(10)) + 1} lines; "
                                    f"the whole window has {self.window.prefix.count(chr(10)) + 1}")
        self.decide("refine", verdict.yes, verdict.reason)
        if not verdict.yes:
            self.used_ids = ids  # this context was judged; only newer chunks re-open the question
            return
        self.start_refinement()

    def start_refinement(self) -> None:
        if self.draft_task is not None and not self.draft_task.done() and self.engine.serial():
            self.draft_task.cancel()
        if self.refine_task is not None and not self.refine_task.done():
            self.refine_task.cancel()
        self.used_ids = frozenset(self.context)
        self.refine_n += 1
        self.refine_text = ""
        chunks = list(self.context.values())
        self.trace.refinements.append({"n": self.refine_n, "start_ms": round(self.trace.ms(), 2),
                                       "chunks": len(chunks)})
        refine = self.engine.refine
        self.trace.model = refine.backend.info.model
        self.refine_task = self.spawn(self.generate("refined", self.refine_n, refine, self.window, chunks,
                                                    self.settings.max_tokens))

    def nearby_text(self) -> str:
        """The prompt window's last lines: where names "in use near the cursor" are looked for."""
        return "\n".join(self.window.prefix.split("\n")[-15:])

    def on_refined(self, n: int, text: str, done: bool) -> None:
        if n != self.refine_n:
            return  # a superseded refinement
        self.refine_text = text
        if self.shown_by == n or not self.shown.strip():
            if text.strip() or done:
                self.shown_by = n
                self.show(text, "refined", False)
            return
        if text.startswith(self.shown) and len(text) > len(self.shown):
            self.shown_by = n
            self.show(text, "refined", False)  # it extends what is shown: grow in place
            return
        if not done:
            return  # it disagrees so far: keep what is shown until the refinement can be judged whole
        verdict = judge_refinement(self.shown, text, unknown_in_shown=self.unknown_in_draft,
                                   context_symbols=[c.symbol for c in self.context.values()])
        scorer = getattr(self.engine.refine.backend, "score", None)
        if not verdict.yes and scorer is not None and n in self.prompts:
            # No evidence in the names: let the context-aware prompt say which text it prefers.
            self.spawn(self.compare(scorer, n, self.shown, text))
            return
        self.decide("replace", verdict.yes, verdict.reason)
        if verdict.yes:
            self.shown_by = n
            self.show(text, "refined", False)
        else:
            self.trace.flags["kept_shown"] = verdict.reason

    async def compare(self, scorer: Any, n: int, shown: str, refined: str) -> None:
        try:
            suffix = self.shape.line_suffix
            ours, theirs = await scorer(self.prompts[n], [as_written(shown, suffix), as_written(refined, suffix)])
        except Exception as exc:  # no scores: no evidence
            log.debug("scoring failed: %s", exc)
            ours, theirs = 0.0, 0.0
        await self.events.put(("scored", (n, shown, refined, theirs - ours)))

    def on_scored(self, n: int, shown: str, refined: str, margin: float) -> None:
        self.trace.numbers["score_margin"] = round(margin, 3)
        if n != self.refine_n or shown != self.shown:
            return
        if margin > SCORE_MARGIN:  # strictly: a failed scoring (0 against 0) is no evidence
            self.decide("replace", True, f"the context-aware prompt prefers it by {margin:.2f} nats a token")
            self.shown_by = n
            self.show(refined, "refined", False)
        else:
            reason = f"no evidence that what is shown is wrong (score margin {margin:.2f})"
            self.decide("replace", False, reason)
            self.trace.flags["kept_shown"] = reason

    def busy(self) -> bool:
        return bool(
            (self.draft_task and not self.draft_task.done())
            or (self.refine_task and not self.refine_task.done())
            or self.retrieval_running
            or any(not t.done() for t in self.tasks)
        )


class CompletionEngine:
    """Serves completion requests with one draft backend and one refine backend (possibly the same model)."""

    def __init__(self, draft: Generator, refine: Generator, settings: Settings, tracer: Tracer,
                 context: ContextProvider | None = None, *, repo_name: str = "") -> None:
        self.draft = draft
        self.refine = refine
        self.settings = settings
        self.tracer = tracer
        self.context = context
        self.repo_name = repo_name
        self.pinboard = Pinboard(settings.context_budget_tokens)

    def update_settings(self, settings: Settings) -> None:
        """New settings from the editor: they apply from the next request."""
        self.settings = settings
        self.pinboard.budget_tokens = settings.context_budget_tokens

    def retrieves(self) -> bool:
        return self.context is not None and self.settings.strategy != "local"

    def serial(self) -> bool:
        """Draft and refinement compete for the same compute (in-process model, or one server sequence)."""
        return self.draft.backend is self.refine.backend or self.draft.backend.info.backend == "embedded"

    def windows(self, request: CompletionRequest) -> tuple[LocalWindow, LocalWindow]:
        """The context-aware prompt's window, and the draft's (smaller: it must show text quickly when cold)."""
        s = self.settings
        full = local_window(request.text, request.line, request.col, s.prefix_lines, s.suffix_lines)
        if s.draft_prefix_lines and s.draft_prefix_lines < s.prefix_lines:
            return full, local_window(request.text, request.line, request.col, s.draft_prefix_lines, s.suffix_lines)
        return full, full

    def prompt_for(self, generator: Generator, request: CompletionRequest, window: LocalWindow,
                   chunks: Sequence[ContextChunkLike]) -> Prompt:
        # Secrets never reach a prompt: the buffer may hold one the index never saw (chunks are redacted already,
        # open buffers are not). Redaction is per line and cached, microseconds for a window.
        snippets = [ContextSnippet(c.path, redact(c.text, c.path), getattr(c, "symbol", "")) for c in chunks]
        parts = PromptParts(prefix=redact(window.prefix, request.path), suffix=redact(window.suffix, request.path),
                            path=request.path, language=request.language, context=snippets, repo=self.repo_name)
        return build_prompt(generator.template, parts)

    def forget(self, uri: str) -> None:
        self.pinboard.forget(uri)

    def invalidate(self, paths: Sequence[str]) -> None:
        self.pinboard.drop_paths(paths)

    async def warm(self, request: CompletionRequest) -> int:
        """Prefill the prompts the next request at this place would use (draft, then the context-aware one).

        Off the keystroke path and the lowest priority: a generation preempts it, and what it evaluated stays in
        the KV cache. Backends that cannot prefill are skipped. Returns the prompt tokens evaluated.
        """
        full, small = self.windows(request)
        total = 0
        jobs: list[tuple[Generator, LocalWindow, list[ContextChunkLike]]] = [(self.draft, small, [])]
        pinned = self.pinboard.pinned(request.uri) if self.retrieves() else []
        if pinned:
            jobs.append((self.refine, full, pinned))
        for generator, window, chunks in jobs:
            prefill = getattr(generator.backend, "prefill", None)
            if prefill is None:
                continue
            prompt = self.prompt_for(generator, request, window, chunks)
            total += await prefill(prompt.text, num_ctx=self.settings.num_ctx, max_tokens=self.settings.max_tokens)
        return total

    async def run(self, request: CompletionRequest, emit: Callable[[Suggestion], None],
                  on_error: Callable[[str], None] | None = None) -> Outcome:
        """Serve one request; ``emit`` gets every suggestion update, ``on_error`` each model failure at once."""
        trace = RequestTrace(request.id, request.uri, request.version, request.line, request.col,
                             self.settings.strategy, t0=request.arrived)
        run = _Run(self, request, trace, emit, on_error)
        try:
            if not self.retrieves():
                await self._local(run)
            elif self.settings.strategy == "sequential":
                await self._sequential(run)
            else:
                await self._streaming(run)
        except asyncio.CancelledError:
            trace.mark("cancelled")
            trace.flags["cancelled"] = True
            raise
        finally:
            for task in list(run.tasks):
                task.cancel()
            if run.tasks:
                await asyncio.gather(*run.tasks, return_exceptions=True)
            if run.decisions:
                trace.flags["decisions"] = run.decisions
            self.tracer.finish(trace)
        final = Suggestion(request.id, request.uri, request.version, request.line, request.position_col,
                           run.shown, run.shown_stage, True, True)
        return Outcome(final, trace, run.draft_shown, list(run.context.values()), run.refine_text)

    async def _generate_once(self, run: _Run, stage: str, generator: Generator, window: LocalWindow,
                             chunks: list[ContextChunkLike]) -> None:
        trace = run.trace
        trace.backend, trace.model = generator.backend.info.backend, generator.backend.info.model
        n = 1 if stage == "refined" else 0
        if n:
            trace.refinements.append({"n": 1, "start_ms": round(trace.ms(), 2), "chunks": len(chunks)})
        run.spawn(run.generate(stage, n, generator, window, chunks, self.settings.max_tokens))
        while True:
            kind, payload = await run.events.get()
            if kind == "error":
                run.failed(payload[2])
            elif kind == stage:
                _, text, done = payload
                if done:
                    self._finish(run, text, stage)
                    return
                run.show(text, stage, False)

    # ---- local: no retrieval ----------------------------------------------------------------------
    async def _local(self, run: _Run) -> None:
        await self._generate_once(run, "draft", self.draft, run.window, [])

    # ---- sequential: retrieve, then generate -------------------------------------------------------
    async def _sequential(self, run: _Run) -> None:
        trace = run.trace
        run.retrieval_running = True
        waited_from = trace.ms()
        run.spawn(run.consume_retrieval())
        while True:
            kind, payload = await run.events.get()
            if kind == "retrieval":
                trace.sources[payload.source] = round(trace.ms(), 2)
                trace.mark("retrieval_first")
                run.pin(payload.chunks)
            elif kind == "retrieval_end":
                trace.mark("retrieval_done")
                break
        # Waiting for retrieval is this strategy's design, not the daemon's overhead (sources are traced).
        run.retrieval_wait_ms = trace.ms() - waited_from
        run.sync_context()
        chunks = list(run.context.values())
        if chunks:
            await self._generate_once(run, "refined", self.refine, run.window, chunks)
        else:
            await self._generate_once(run, "draft", self.draft, run.window, [])

    # ---- streaming: draft now, retrieve beside it, refine when it can help --------------------------
    async def _streaming(self, run: _Run) -> None:
        trace = run.trace
        assert self.context is not None
        cached = self.context.cached(run.request)
        if cached:
            trace.flags["cache_hit"] = True
            run.pin(cached)
        run.sync_context()
        retrieve = True
        if run.context and self._context_prompt_is_cheap(run):
            # The model already holds most of the context-aware prompt: answer with it, no draft needed.
            trace.flags["skipped_draft"] = True
            run.decide("draft", False, "the context-aware prompt is cached")
            run.start_refinement()
            if self.pinboard.frozen(run.request.uri, run.request.line, run.request.id):
                # Typing on where the context is pinned and frozen: retrieval could add nothing to the prompt,
                # and its CPU would slow the model on the same cores.
                retrieve = False
                trace.flags["retrieval_skipped"] = "typing on in a place whose context is pinned"
        else:
            run.start_draft()
        if retrieve:
            run.retrieval_running = True
            run.spawn(run.consume_retrieval())
        draft_final: str | None = None
        while run.busy() or not run.events.empty():
            kind, payload = await run.events.get()
            if kind == "draft":
                _, text, done = payload
                run.draft_text = text
                if done:
                    draft_final = text
                    run.draft_done = True
                    if run.shown_stage == "draft":
                        run.show(text, "draft", True)
                    self._check_draft_names(run, text)
                else:
                    if run.shown_stage == "draft":
                        run.show(text, "draft", False)
                    if not run.draft_first_line and first_line_ready(text, run.shape):
                        run.draft_first_line = True
                        self._check_draft_names(run, text)
                run.consider_refining()
            elif kind == "refined":
                run.on_refined(*payload)
                if payload[2]:
                    run.consider_refining()
            elif kind == "scored":
                run.on_scored(*payload)
            elif kind == "retrieval":
                trace.sources[payload.source] = round(trace.ms(), 2)
                trace.mark("retrieval_first")
                run.pin(payload.chunks)
                run.consider_refining()
            elif kind == "retrieval_end":
                trace.mark("retrieval_done")
                run.retrieval_running = False
                run.consider_refining()
            elif kind == "names":
                names, found = payload
                unknown = [n for n in names if not any(getattr(h, "symbol", "") == n for h in found.get(n, []))]
                trace.numbers["unknown_identifiers_draft"] = len(unknown)
                run.unknown_in_draft = unknown
                if unknown:
                    trace.flags["unknown_in_draft"] = unknown[:10]
                run.pin([h for name in names for h in found.get(name, [])[:1]], force=bool(unknown))
                run.consider_refining()
            elif kind == "error":
                run.failed(payload[2])
        if run.shown_stage == "refined":
            final, stage = run.shown, "refined"
        else:
            final, stage = (draft_final if draft_final is not None else run.draft_text), "draft"
        self._finish(run, final, stage)
        if run.draft_shown and run.refine_n:
            first_draft = run.draft_shown.split("\n", 1)[0].strip()
            trace.flags["kept_draft_first_line"] = final.split("\n", 1)[0].strip().startswith(first_draft)
            trace.flags["contradicted_draft"] = not final.startswith(run.draft_shown.rstrip())
            trace.numbers["draft_final_edit_distance"] = edit_distance(run.draft_shown, final)
        trace.flags["refined"] = stage == "refined"

    def _context_prompt_is_cheap(self, run: _Run) -> bool:
        """Whether the refine model's KV cache already holds most of the context-aware prompt.

        A context-aware first generation that must evaluate its whole prompt shows its first character much
        later than a small local draft, so the draft is skipped only when that prefill is mostly cached (typing
        on in the same place). Backends that cannot tell (a remote server) are assumed to re-use it.
        """
        probe = getattr(self.refine.backend, "cached_share", None)
        if probe is None:
            return True
        prompt = self.prompt_for(self.refine, run.request, run.window, list(run.context.values()))
        try:
            share = float(probe(prompt.text))
        except Exception:
            return True
        run.trace.numbers["cached_prompt_share"] = round(share, 3)
        return share >= SKIP_DRAFT_SHARE

    def _check_draft_names(self, run: _Run, text: str) -> None:
        if run.names_checked or self.context is None:
            return
        run.names_checked = True
        names = new_identifiers(text, run.request.text, run.request.language)
        if names:
            run.spawn(run.check_names(names))
        else:
            run.trace.numbers["unknown_identifiers_draft"] = 0

    def _finish(self, run: _Run, text: str, stage: str) -> None:
        run.show(text, stage, True, final=True)
        trace = run.trace
        trace.mark("done")
        if "first_model_call" in trace.events:
            # The daemon's own time from the editor's request to the model call: not the deliberate waits
            # (model loading, debounce, and in `sequential` the retrieval it exists to wait for).
            own = trace.events["first_model_call"] - run.request.waited_ms - run.retrieval_wait_ms
            trace.numbers["overhead_first_call_ms"] = round(max(0.0, own), 3)
        if run.last_token_at:
            trace.numbers["overhead_last_token_ms"] = round(trace.events["done"] - run.last_token_at, 3)
