"""The streaming-RAG completion engine: draft at once, retrieve beside it, refine the suggestion in place.

One call of ``CompletionEngine.run`` serves one request. In the ``streaming`` strategy a draft generation
starts at once from local context (the file around the cursor, plus whatever the retrieval cache holds
for this scope) while retrieval runs beside it. When retrieved context lands and changes the prompt, a
refinement starts with that context; its text replaces the draft only where it disagrees (speculative
prefix: while the refined text agrees with what is shown, the shown text stays). Identifiers the draft
writes are looked up in the workspace; a name the workspace does not define brings the nearest real
names into context and triggers a refinement. ``sequential`` is the classic baseline: retrieve, then
generate. Every step is timed in the request's trace.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import keyword
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.models.base import GenerationRequest, GenerationStats, ModelBackend
from srag_lsp.postprocess import Shape, decide_shape, finish, first_line_ready
from srag_lsp.prompts import ContextSnippet, Prompt, PromptParts, build_prompt, resolve_template
from srag_lsp.settings import Settings
from srag_lsp.trace import RequestTrace, Tracer

log = logging.getLogger(__name__)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMON_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(
    {"self", "cls", "this", "true", "false", "null", "nil", "none", "var", "let", "const", "func", "fn",
     "return", "new", "int", "str", "string", "float", "bool", "void", "err", "ctx", "args", "kwargs"}
)


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


def new_identifiers(text: str, known_text: str) -> list[str]:
    """Identifiers in ``text`` that the surrounding buffer does not already contain (candidates to check)."""
    seen: dict[str, None] = {}
    for name in _IDENT.findall(text):
        if len(name) < 3 or name.lower() in _COMMON_NAMES or name in _COMMON_NAMES:
            continue
        if re.search(rf"\b{re.escape(name)}\b", known_text):
            continue
        seen[name] = None
    return list(seen)


class _Run:
    """The state of one streaming request; events from tasks arrive on one queue, in order."""

    def __init__(self, engine: CompletionEngine, request: CompletionRequest, trace: RequestTrace,
                 emit: Callable[[Suggestion], None]) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.request = request
        self.trace = trace
        self.emit_cb = emit
        self.prefix, self.suffix = request.windows(self.settings.prefix_lines, self.settings.suffix_lines)
        self.shape: Shape = decide_shape(self.prefix, self.suffix)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.shown = ""
        self.shown_stage = "draft"
        self.last_emitted: tuple[str, str, bool] | None = None
        self.draft_task: asyncio.Task[Any] | None = None
        self.draft_text = ""
        self.draft_shown = ""
        self.draft_first_line = False
        self.refine_task: asyncio.Task[Any] | None = None
        self.refine_n = 0
        self.refine_text = ""
        self.refine_done_text: str | None = None
        self.retrieval_running = False
        self.context: dict[str, ContextChunkLike] = {}
        self.used_ids: frozenset[str] = frozenset()
        self.last_token_at: float = 0.0
        self.names_checked = False
        self.retrieval_wait_ms = 0.0  # sequential: time spent waiting for retrieval before the model call

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

    # ---- tasks -----------------------------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_ended)
        return task

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        # Wake the event loop of the run so it re-checks whether anything is still running.
        self.events.put_nowait(("tick", None))

    async def generate(self, stage: str, n: int, generator: Generator, chunks: Sequence[ContextChunkLike],
                       max_tokens: int) -> None:
        """Stream one generation; post partial texts as events; end with a done event (also on error)."""
        prompt = self.engine.prompt_for(generator, self.request, self.prefix, self.suffix, chunks)
        stats = GenerationStats()
        raw = ""
        text = ""
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
                if stage == "draft":
                    self.trace.mark("first_draft_token")
                else:
                    self.trace.mark("first_refined_token")
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
                self.trace.flags.setdefault("cancelled_generations", 0)
                self.trace.flags["cancelled_generations"] += 1
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

    async def check_names(self, names: list[str], which: str) -> None:
        provider = self.engine.context
        found: dict[str, list[ContextChunkLike]] = {}
        if provider is not None and names:
            try:
                found = await provider.lookup_names(names)
            except Exception as exc:
                log.warning("name lookup failed: %s", exc)
        await self.events.put(("names", (which, names, found)))

    # ---- decisions -------------------------------------------------------------------------------
    def start_draft(self, chunks: Sequence[ContextChunkLike]) -> None:
        draft = self.engine.draft
        limit = self.settings.draft_max_tokens if self.engine.context is not None else self.settings.max_tokens
        self.trace.backend = draft.backend.info.backend
        self.trace.model = draft.backend.info.model
        self.draft_task = self.spawn(self.generate("draft", 0, draft, chunks, limit))

    def maybe_refine(self) -> None:
        if self.refine_n >= self.settings.max_refinements or not self.context:
            return
        ids = frozenset(self.context)
        if ids <= self.used_ids:
            return
        if self.draft_task is not None and not self.draft_task.done() and self.engine.serial() \
                and not self.draft_first_line:
            # One CPU (or one sequence): let the draft reach a first line the user can see, then refine.
            return
        if self.draft_task is not None and not self.draft_task.done():
            self.draft_task.cancel()
        if self.refine_task is not None and not self.refine_task.done():
            self.refine_task.cancel()
        self.used_ids = ids
        self.refine_n += 1
        self.refine_text = ""
        self.refine_done_text = None
        chunks = list(self.context.values())
        self.trace.refinements.append({"n": self.refine_n, "start_ms": round(self.trace.ms(), 2),
                                       "chunks": len(chunks)})
        refine = self.engine.refine
        self.trace.model = refine.backend.info.model
        self.refine_task = self.spawn(self.generate("refined", self.refine_n, refine, chunks,
                                                    self.settings.max_tokens))

    def add_context(self, chunks: Sequence[ContextChunkLike]) -> None:
        for chunk in chunks:
            self.context.setdefault(chunk.id, chunk)

    def busy(self) -> bool:
        return bool(
            (self.draft_task and not self.draft_task.done())
            or (self.refine_task and not self.refine_task.done())
            or self.retrieval_running
            or any(not t.done() for t in self.tasks)
        )


class CompletionEngine:
    """Serves completion requests with one draft backend and one refine backend (possibly the same)."""

    def __init__(self, draft: Generator, refine: Generator, settings: Settings, tracer: Tracer,
                 context: ContextProvider | None = None) -> None:
        self.draft = draft
        self.refine = refine
        self.settings = settings
        self.tracer = tracer
        self.context = context

    def serial(self) -> bool:
        """Draft and refinement compete for the same compute (in-process model, or one server sequence)."""
        return self.draft.backend is self.refine.backend or self.draft.backend.info.backend == "embedded"

    def prompt_for(self, generator: Generator, request: CompletionRequest, prefix: str, suffix: str,
                   chunks: Sequence[ContextChunkLike]) -> Prompt:
        snippets = [ContextSnippet(c.path, c.text, getattr(c, "symbol", "")) for c in chunks]
        parts = PromptParts(prefix=prefix, suffix=suffix, path=request.path, language=request.language,
                            context=snippets)
        return build_prompt(generator.template, parts)

    async def run(self, request: CompletionRequest, emit: Callable[[Suggestion], None]) -> Outcome:
        trace = RequestTrace(request.id, request.uri, request.version, request.line, request.col,
                             self.settings.strategy, t0=request.arrived)
        run = _Run(self, request, trace, emit)
        try:
            if self.settings.strategy == "sequential" or self.context is None:
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
            self.tracer.finish(trace)
        final = Suggestion(request.id, request.uri, request.version, request.line, request.position_col,
                           run.shown, run.shown_stage, True, True)
        return Outcome(final, trace, run.draft_shown, list(run.context.values()))

    # ---- sequential: retrieve, then generate -------------------------------------------------------
    async def _sequential(self, run: _Run) -> None:
        trace = run.trace
        chunks: list[ContextChunkLike] = []
        if self.context is not None:
            run.retrieval_running = True
            waited_from = trace.ms()
            run.spawn(run.consume_retrieval())
            while True:
                kind, payload = await run.events.get()
                if kind == "retrieval":
                    trace.sources[payload.source] = round(trace.ms(), 2)
                    trace.mark("retrieval_first")
                    chunks = list(payload.chunks)
                elif kind == "retrieval_end":
                    trace.mark("retrieval_done")
                    break
            # Waiting for retrieval is this strategy's design, not the daemon's overhead (sources are traced).
            run.retrieval_wait_ms = trace.ms() - waited_from
        run.add_context(chunks)
        stage = "refined" if chunks else "draft"
        generator = self.refine if chunks else self.draft
        trace.backend, trace.model = generator.backend.info.backend, generator.backend.info.model
        if chunks:
            trace.refinements.append({"n": 1, "start_ms": round(trace.ms(), 2), "chunks": len(chunks)})
        run.spawn(run.generate(stage, 1 if chunks else 0, generator, chunks, self.settings.max_tokens))
        while True:
            kind, payload = await run.events.get()
            if kind == "error":
                trace.flags["error"] = payload[2]
            elif kind == stage:
                _, text, done = payload
                if done:
                    self._finish(run, text, stage)
                    return
                run.show(text, stage, False)

    # ---- streaming: draft now, retrieve beside it, refine in place --------------------------------
    async def _streaming(self, run: _Run) -> None:
        trace = run.trace
        assert self.context is not None
        cached = self.context.cached(run.request)
        if cached:
            trace.flags["cache_hit"] = True
            run.add_context(cached)
        if cached and self._context_prompt_is_cheap(run, cached):
            # Retrieval is cached and the model already holds most of that prompt: no draft needed.
            trace.flags["skipped_draft"] = True
            run.maybe_refine()
        else:
            # Draft from local context at once (a short prompt); the cached context, if any, refines it as
            # soon as the draft shows a first line, and retrieval runs beside it for anything newer.
            run.start_draft([])
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
                    if run.refine_n == 0:
                        run.show(text, "draft", True)
                    self._check_draft_names(run, text)
                else:
                    if run.refine_n == 0:
                        run.show(text, "draft", False)
                    if not run.draft_first_line and first_line_ready(text, run.shape):
                        run.draft_first_line = True
                        self._check_draft_names(run, text)
                run.maybe_refine()
            elif kind == "refined":
                n, text, done = payload
                if n != run.refine_n:
                    continue  # a superseded refinement
                run.refine_text = text
                if done:
                    run.refine_done_text = text
                    run.show(text, "refined", False)
                elif not (run.shown_stage == "draft" and run.draft_shown.startswith(text)):
                    run.show(text, "refined", False)
            elif kind == "retrieval":
                trace.sources[payload.source] = round(trace.ms(), 2)
                trace.mark("retrieval_first")
                run.add_context(payload.chunks)
                run.maybe_refine()
            elif kind == "retrieval_end":
                trace.mark("retrieval_done")
                run.retrieval_running = False
                run.maybe_refine()
            elif kind == "names":
                which, names, found = payload
                unknown = [n for n in names if not any(getattr(h, "symbol", "") == n for h in found.get(n, []))]
                trace.numbers[f"unknown_identifiers_{which}"] = len(unknown)
                if which == "draft":
                    for name in names:
                        run.add_context(found.get(name, [])[:2])
                    if unknown:
                        trace.flags["unknown_in_draft"] = unknown[:10]
                    run.maybe_refine()
            elif kind == "error":
                trace.flags["error"] = payload[2]
        if run.refine_done_text is not None:
            final, stage = run.refine_done_text, "refined"
        elif run.refine_n and run.refine_text:
            final, stage = run.refine_text, "refined"
        else:
            final, stage = (draft_final if draft_final is not None else run.draft_text), "draft"
        self._finish(run, final, stage)
        if run.draft_shown and stage == "refined":
            first_draft = run.draft_shown.split("\n", 1)[0].strip()
            trace.flags["kept_draft_first_line"] = final.split("\n", 1)[0].strip().startswith(first_draft)
            trace.flags["contradicted_draft"] = not final.startswith(run.draft_shown.rstrip())
            trace.numbers["draft_final_edit_distance"] = edit_distance(run.draft_shown, final)
        trace.flags["refined"] = stage == "refined"
        if self.context is not None and final:
            names = new_identifiers(final, run.request.text)
            if names:
                try:
                    found = await asyncio.wait_for(self.context.lookup_names(names), 1.0)
                except (TimeoutError, Exception):
                    found = {}
                unknown = [n for n in names if not any(getattr(h, "symbol", "") == n for h in found.get(n, []))]
                trace.numbers["unknown_identifiers_final"] = len(unknown)
            else:
                trace.numbers["unknown_identifiers_final"] = 0

    def _context_prompt_is_cheap(self, run: _Run, chunks: Sequence[ContextChunkLike]) -> bool:
        """Whether the refine model's KV cache already holds most of the context-aware prompt.

        Measured on 2 cores: a context-aware first generation that must evaluate its whole prompt shows its
        first character later than a local-context draft (about 3.7 s vs 2.0 s p50 over 52 positions), so
        the draft is skipped only when the prefill is mostly cached (typing on in the same scope). Backends
        that cannot tell (a remote server) are assumed to reuse it.
        """
        probe = getattr(self.refine.backend, "cached_share", None)
        if probe is None:
            return True
        prompt = self.prompt_for(self.refine, run.request, run.prefix, run.suffix, chunks)
        try:
            share = float(probe(prompt.text))
        except Exception:
            return True
        run.trace.numbers["cached_prompt_share"] = round(share, 3)
        return share >= 0.6

    def _check_draft_names(self, run: _Run, text: str) -> None:
        if run.names_checked or self.context is None:
            return
        run.names_checked = True
        names = new_identifiers(text, run.request.text)
        if names:
            run.spawn(run.check_names(names, "draft"))
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
