"""The long-lived completion engine: the draft and refine models, the pinboard, and one run per request.

``CompletionEngine.run`` serves one request with the strategy the settings name; the run itself (its state and
transitions) is ``run.Run``.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from srag_lsp.completion.cold_place import prefill_draft
from srag_lsp.completion.draft_context import draft_chunks
from srag_lsp.completion.edit_distance import edit_distance
from srag_lsp.completion.pinboard import Pinboard
from srag_lsp.completion.policy import typing_a_name
from srag_lsp.completion.prompting import Generator, build_model_prompt, fim_parts, windows
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.completion.retrieval_port import RetrievalProvider, cursor_query
from srag_lsp.completion.run import Run, RunParts
from srag_lsp.completion.run_events import ContextArrived, Generated, GenerationFailed, RetrievalEnded, Stage
from srag_lsp.completion.window import LocalWindow
from srag_lsp.retrieval.types import ContextChunk
from srag_lsp.settings import Settings
from srag_lsp.trace import RequestTrace, Tracer

SKIP_DRAFT_SHARE = 0.6  # skip the draft when the refine slot already holds this share of the context prompt


@dataclass(slots=True)
class Outcome:
    """What a request ended with: the final suggestion, its trace, and what the run saw on the way."""

    suggestion: Suggestion
    trace: RequestTrace
    draft_text: str = ""
    chunks: list[ContextChunk] = field(default_factory=list)  # the chunks pinned to the document's prompt
    refined_text: str = ""  # the last refinement's text, shown or kept off screen (what the policy judged)


class CompletionEngine:
    """Serves completion requests with one draft backend and one refine backend (possibly the same model)."""

    def __init__(self, draft: Generator, refine: Generator, settings: Settings, tracer: Tracer,
                 retrieval: RetrievalProvider | None = None, *, repo_name: str = "") -> None:
        self.draft = draft
        self.refine = refine
        self.settings = settings
        self.tracer = tracer
        self.retrieval = retrieval
        self.repo_name = repo_name
        self.pinboard = Pinboard(settings.context_budget_tokens)

    def update_settings(self, settings: Settings) -> None:
        """New settings from the editor: they apply from the next request."""
        self.settings = settings
        self.pinboard.set_budget(settings.context_budget_tokens)

    def retrieves(self) -> bool:
        return self.retrieval is not None and self.settings.strategy != "local"

    def serial(self) -> bool:
        """Draft and refinement compete for the same compute (in-process model, or one server)."""
        return (self.draft.backend is self.refine.backend
                or self.draft.backend.info.backend in ("embedded", "llama-server"))

    def forget(self, uri: str) -> None:
        self.pinboard.forget(uri)

    def invalidate(self, paths: Sequence[str]) -> None:
        self.pinboard.drop_paths(paths)

    async def warm(self, request: CompletionRequest) -> int:
        """Prefill the prompts the next request at this place would use: the draft's, then the context-aware one.

        Off the keystroke path and the lowest priority: a generation preempts it, and what it evaluated stays in
        the KV cache. At a place the document's context was not pinned for, retrieval runs first and pins it (the
        place's board opens here), so that the first key finds the context-aware prompt cached and answers with it
        (``_context_prompt_is_cheap``). Backends that cannot prefill evaluate nothing. Returns the prompt tokens
        evaluated.
        """
        full, small = windows(request, self.settings)
        total = await self._prefill_draft(request, small, [])
        if not self.retrieves():
            return total
        if not self.pinboard.at_place(request.uri, request.line):
            await self._pin_for(request)
        pinned = self.pinboard.pinned(request.uri)
        chunks = draft_chunks(self.settings, pinned, self.draft.backend,
                              lambda cs: build_model_prompt(self.draft, request, small, cs, self.repo_name).text)
        if chunks:  # the draft's context grows in front of its window, before the refinement's prompt
            total += await self._prefill_draft(request, small, chunks)
        if pinned:
            prompt = build_model_prompt(self.refine, request, full, pinned, self.repo_name)
            total += await self.refine.backend.prefill(prompt.text, num_ctx=self.settings.num_ctx,
                                                       max_tokens=self.settings.max_tokens, fim=fim_parts(prompt))
        return total

    async def _prefill_draft(self, request: CompletionRequest, window: LocalWindow,
                             chunks: list[ContextChunk]) -> int:
        prompt = build_model_prompt(self.draft, request, window, chunks, self.repo_name)
        return await prefill_draft(self.draft.backend, prompt, self.settings)

    async def _pin_for(self, request: CompletionRequest) -> None:
        """Retrieve for ``request``'s place and pin what a request there would pin (no generation)."""
        trace = RequestTrace(request.id, request.uri, request.version, request.line, request.col, "warm-up",
                             t0=request.arrived)
        parts = RunParts(self.settings, self.draft, self.refine, self.pinboard, self.retrieval, self.repo_name,
                         serial=self.serial(), retrieves=True)
        run = Run(parts, request, trace, lambda s: None)
        run.start_retrieval()
        try:
            while True:
                event = await run.events.get()
                if isinstance(event, ContextArrived):
                    run.context_arrived(event)
                elif isinstance(event, RetrievalEnded):
                    break
        finally:
            for task in list(run.tasks):
                task.cancel()

    async def run(self, request: CompletionRequest, emit: Callable[[Suggestion], None],
                  on_error: Callable[[str], None] | None = None) -> Outcome:
        """Serve one request; ``emit`` gets every suggestion update, ``on_error`` each model failure at once."""
        trace = RequestTrace(request.id, request.uri, request.version, request.line, request.col,
                             self.settings.strategy, t0=request.arrived)
        parts = RunParts(self.settings, self.draft, self.refine, self.pinboard, self.retrieval, self.repo_name,
                         serial=self.serial(), retrieves=self.retrieves())
        run = Run(parts, request, trace, emit, on_error)
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
        return Outcome(Suggestion(request.id, request.uri, request.version, request.line, request.position_col,
                                  run.shown, run.shown_stage, True, True, first_line=True),
                       trace, run.draft_shown, list(run.context.values()), run.refine_text)

    async def _generate_once(self, run: Run, stage: Stage, generator: Generator, window: LocalWindow,
                             chunks: list[ContextChunk]) -> None:
        trace = run.trace
        trace.backend, trace.model = generator.backend.info.backend, generator.backend.info.model
        n = 1 if stage == "refined" else 0
        if n:
            trace.refinements.append({"n": 1, "start_ms": round(trace.ms(), 2), "chunks": len(chunks)})
        run.spawn(run.generate(stage, n, generator, window, chunks, self.settings.max_tokens))
        while True:
            event = await run.events.get()
            if isinstance(event, GenerationFailed):
                run.failed(event.error)
            elif isinstance(event, Generated) and event.stage == stage:
                if event.done:
                    self._finish(run, event.text, stage)
                    return
                run.show(event.text, stage, False)

    # ---- local: no retrieval ----------------------------------------------------------------------
    async def _local(self, run: Run) -> None:
        await self._generate_once(run, "draft", self.draft, run.window, [])

    # ---- sequential: retrieve, then generate -------------------------------------------------------
    async def _sequential(self, run: Run) -> None:
        trace = run.trace
        waited_from = trace.ms()
        run.start_retrieval()
        while True:
            event = await run.events.get()
            if isinstance(event, ContextArrived):
                run.context_arrived(event)
            elif isinstance(event, RetrievalEnded):
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
    async def _streaming(self, run: Run) -> None:
        trace = run.trace
        assert self.retrieval is not None
        cached = self.retrieval.cached(cursor_query(run.request))
        if cached:
            trace.flags["cache_hit"] = True
            run.pin(cached)
        run.sync_context()
        request = run.request
        # Typing on where the context is pinned and frozen, and not into a name whose definition could join it
        # (``Run.pin_typed_name``): retrieval could add nothing, and its CPU would slow the model on the same cores.
        frozen = self.pinboard.frozen(request.uri, request.line, request.id)
        retrieve = not (frozen and not typing_a_name(run.window.line_prefix))
        if not retrieve:
            trace.flags["retrieval_skipped"] = "typing on in a place whose context is pinned"
        if run.context and self._context_prompt_is_cheap(run):
            # The model already holds most of the context-aware prompt: answer with it, no draft needed.
            trace.flags["skipped_draft"] = True
            run.decide("draft", False, "the context-aware prompt is cached")
            run.start_refinement()
        else:
            run.start_draft()
        if retrieve and frozen and run.draft_task is not None and self._draft_prompt_is_cached(run):
            # Only a chunk for the name being typed can join, and the draft is about to show text: it goes first.
            # Where its prompt is not cached (a new place typed at once) it shows nothing before the next key, so
            # waiting for it would keep the name's chunk out of the context for several keys.
            run.retrieve_after_draft()
            trace.flags["retrieval_after_draft"] = True
        elif retrieve:
            run.start_retrieval()
        while run.busy() or not run.events.empty():
            run.handle(await run.events.get())
        if run.shown_stage == "refined":
            final, stage = run.shown, "refined"
        else:
            final, stage = (run.draft_final if run.draft_final is not None else run.draft_text), "draft"
        self._finish(run, final, stage)
        if run.draft_shown and run.refine_n:
            first_draft = run.draft_shown.split("\n", 1)[0].strip()
            trace.flags["kept_draft_first_line"] = final.split("\n", 1)[0].strip().startswith(first_draft)
            trace.flags["contradicted_draft"] = not final.startswith(run.draft_shown.rstrip())
            trace.numbers["draft_final_edit_distance"] = edit_distance(run.draft_shown, final)
        trace.flags["refined"] = stage == "refined"

    def _context_prompt_is_cheap(self, run: Run) -> bool:
        """Whether the refine model's KV cache already holds most of the context-aware prompt.

        A context-aware first generation that must evaluate its whole prompt shows its first character much
        later than a small local draft, so the draft is skipped only when that prefill is mostly cached (typing
        on in the same place). Backends that cannot tell (the OpenAI API, Ollama) are assumed to re-use it.
        """
        share = self._cached_share(self.refine, run, run.window, list(run.context.values()))
        if share is None:
            return True
        run.trace.numbers["cached_prompt_share"] = round(share, 3)
        return share >= SKIP_DRAFT_SHARE

    def _draft_prompt_is_cached(self, run: Run) -> bool:
        """Whether the draft model's KV cache holds most of the draft's prompt (it shows text within the key).
        Backends that cannot tell are assumed to."""
        share = self._cached_share(self.draft, run, run.draft_window, run.draft_chunks)
        return share is None or share >= SKIP_DRAFT_SHARE

    @staticmethod
    def _cached_share(generator: Generator, run: Run, window: LocalWindow, chunks: list[ContextChunk]) -> float | None:
        """The share of this run's prompt for ``generator`` that its KV cache holds; None where the backend cannot
        tell, or fails to."""
        prompt = run.prompt(generator, window, chunks)
        try:
            return generator.backend.cached_share(prompt.text, fim=fim_parts(prompt))
        except Exception:
            return None

    def _finish(self, run: Run, text: str, stage: Stage) -> None:
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
