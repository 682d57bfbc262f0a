"""One completion request in flight: its state, its tasks, and every transition, driven by typed events.

A run starts a draft (or a refinement straight away), retrieval and name lookups as tasks; each task posts
``run_events`` on the run's queue, and ``Run.handle`` applies them one at a time: show a text, pin chunks, ask
the policy whether to refine, judge a refinement. The long-lived ``engine.CompletionEngine`` only creates runs
and picks the strategy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from srag_lsp.completion.cold_place import cold_window, prefill_draft
from srag_lsp.completion.draft_context import draft_chunks
from srag_lsp.completion.generation import stream_into
from srag_lsp.completion.pinboard import Pinboard, copies_the_cursor
from srag_lsp.completion.policy import (
    Verdict,
    as_written,
    defines_typed_name,
    judge_refinement,
    new_identifiers,
    worth_refining,
)
from srag_lsp.completion.postprocess import Shape, decide_shape, first_line_ready
from srag_lsp.completion.prompting import Generator, build_model_prompt, fim_parts, windows
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.completion.retrieval_port import RetrievalProvider, cursor_query
from srag_lsp.completion.run_events import (
    ContextArrived,
    Generated,
    GenerationFailed,
    NamesLooked,
    RetrievalEnded,
    RunEvent,
    Scored,
    Stage,
    TaskEnded,
)
from srag_lsp.completion.window import LocalWindow
from srag_lsp.prompts import Prompt
from srag_lsp.retrieval.types import ContextChunk
from srag_lsp.settings import Settings
from srag_lsp.trace import RequestTrace

log = logging.getLogger(__name__)

CHUNKS_PER_UPDATE = 4  # fewer chunks that matter more: the best few of each retrieval update are pinned
# Nats per token by which the context-aware prompt must prefer a refinement to what is shown. Scored as written
# (policy.as_written), the two texts' margins lie within about +-0.45 (bench_quality, 40 cases): at 0.5 no
# refinement without other evidence was ever taken; at 0, five of nine were: three closer to the real line (two
# exact), two a little further (-0.03, -0.04 edit similarity). The model that has seen more decides, once, at
# the end (no thrashing).
SCORE_MARGIN = 0.0


@dataclass(frozen=True, slots=True)
class RunParts:
    """What a run uses of the engine that made it (the engine's long-lived parts, for this request)."""

    settings: Settings
    draft: Generator
    refine: Generator
    pinboard: Pinboard
    retrieval: RetrievalProvider | None
    repo_name: str
    serial: bool  # draft and refinement compete for the same compute
    retrieves: bool  # this request retrieves (a retrieval provider and a strategy that uses it)


class Run:
    """The state of one request; events from its tasks arrive on one queue, in order."""

    def __init__(self, parts: RunParts, request: CompletionRequest, trace: RequestTrace,
                 emit: Callable[[Suggestion], None], on_error: Callable[[str], None] | None = None) -> None:
        self.parts = parts
        self.settings = parts.settings
        self.on_error = on_error
        self.request = request
        self.trace = trace
        self.emit_cb = emit
        self.window, self.draft_window = windows(request, parts.settings)
        self.draft_chunks: list[ContextChunk] = []  # the context in the draft's prompt (``draft_context``)
        self.whole_draft_window: LocalWindow | None = None  # the draft came from the short window (a cold place)
        self.shape: Shape = decide_shape(self.window.line_prefix, self.window.tail)
        self.events: asyncio.Queue[RunEvent] = asyncio.Queue()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.shown = ""
        self.shown_stage: Stage = "draft"
        self.last_emitted: tuple[str, str, bool] | None = None
        self.draft_task: asyncio.Task[Any] | None = None
        self.draft_text = ""
        self.draft_final: str | None = None
        self.draft_shown = ""
        self.draft_first_line = False
        self.refine_task: asyncio.Task[Any] | None = None
        self.refine_n = 0
        self.refine_text = ""
        self.retrieval_running = False
        self.retrieval_waits_for_draft = False  # start retrieval once the draft shows text (``retrieve_after_draft``)
        self.context: dict[str, ContextChunk] = {}  # the chunks pinned to the document, by id
        self.used_ids: frozenset[str] = frozenset()
        self.unknown_in_draft: list[str] = []
        self.last_token_at: float = 0.0
        self.names_checked = False
        self.retrieval_wait_ms = 0.0  # sequential: time spent waiting for retrieval before the model call
        self.decisions: list[dict[str, Any]] = []
        self.shown_by = 0  # which generation the shown text comes from: 0 the draft, n the n-th refinement
        self.prompts: dict[int, Prompt] = {}  # each generation's prompt (0: the draft's)

    # ---- output ----------------------------------------------------------------------------------
    def show(self, text: str, stage: Stage, done: bool, final: bool = False) -> None:
        key = (text, stage, done)
        if key == self.last_emitted and not final:
            return
        self.last_emitted = key
        self.shown, self.shown_stage = text, stage
        if stage == "draft":
            self.draft_shown = text
        if text.strip():
            self.trace.mark("first_visible")
        request = self.request
        self.emit_cb(Suggestion(request.id, request.uri, request.version, request.line, request.position_col, text,
                                stage, done, final, first_line=first_line_ready(text, self.shape)))

    def failed(self, message: str) -> None:
        """A generation failed: traced, and told at once (a later key may cancel this run before it ends)."""
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
        self.events.put_nowait(TaskEnded())

    def prompt(self, generator: Generator, window: LocalWindow, chunks: Sequence[ContextChunk]) -> Prompt:
        return build_model_prompt(generator, self.request, window, chunks, self.parts.repo_name)

    async def generate(self, stage: Stage, n: int, generator: Generator, window: LocalWindow,
                       chunks: Sequence[ContextChunk], max_tokens: int) -> None:
        """Stream one generation into the run's events (``generation.stream_into``)."""
        prompt = self.prompt(generator, window, chunks)
        self.prompts[n] = prompt
        await stream_into(self.events, self.trace, self.shape, self.settings, stage, n, generator, prompt, max_tokens,
                          self._token_came)

    def _token_came(self) -> None:
        self.last_token_at = self.trace.ms()

    async def consume_retrieval(self) -> None:
        provider = self.parts.retrieval
        assert provider is not None
        try:
            if self.settings.retrieval_delay_ms:
                await asyncio.sleep(self.settings.retrieval_delay_ms / 1000.0)
            s = self.settings
            async for update in provider.stream(cursor_query(self.request), deadline_ms=s.retrieval_deadline_ms,
                                                budget_tokens=s.context_budget_tokens):
                await self.events.put(ContextArrived(update))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("retrieval failed: %s", exc)
        await self.events.put(RetrievalEnded())

    def retrieve_after_draft(self) -> None:
        """Retrieve once the draft has shown text (or ended). For a key typed on into a name at a place whose context
        is pinned: its retrieval can only add a chunk for that name, which a refinement uses after the draft's first
        line anyway, and run at once it takes CPU from the draft's prompt on the same cores."""
        self.retrieval_waits_for_draft = True
        self.retrieval_running = True  # pending: the run is not over before it ran

    def _draft_moved(self, event: Generated) -> None:
        if self.retrieval_waits_for_draft and (event.done or event.text.strip()):
            self.retrieval_waits_for_draft = False
            self.spawn(self.consume_retrieval())

    def start_retrieval(self) -> None:
        self.retrieval_running = True
        self.spawn(self.consume_retrieval())

    async def look_up_names(self, names: list[str]) -> None:
        provider = self.parts.retrieval
        found: dict[str, list[ContextChunk]] = {}
        if provider is not None and names:
            try:
                found = await provider.lookup_names(names)
            except Exception as exc:
                log.warning("name lookup failed: %s", exc)
        await self.events.put(NamesLooked(names, found))

    # ---- context -----------------------------------------------------------------------------------
    def usable(self, chunks: Sequence[ContextChunk]) -> list[ContextChunk]:
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

    def pin(self, chunks: Sequence[ContextChunk], limit: int = CHUNKS_PER_UPDATE,
            force: bool = False) -> list[ContextChunk]:
        """Pin the best few usable chunks to the document; return the ones that are new to its prompt."""
        added = self.parts.pinboard.pin(self.request.uri, self.usable(chunks)[:limit], line=self.request.line,
                                        request_id=self.request.id, force=force)
        self.sync_context()
        return added

    def sync_context(self) -> None:
        self.context = {c.id: c for c in self.parts.pinboard.pinned(self.request.uri)}

    def context_arrived(self, event: ContextArrived) -> None:
        self.trace.sources[event.update.source] = round(self.trace.ms(), 2)
        self.trace.mark("retrieval_first")
        self.pin(event.update.chunks)
        self.pin_typed_name(event.update.chunks)

    def pin_typed_name(self, chunks: Sequence[ContextChunk]) -> None:
        """Context follows the name being typed: a chunk that defines it (or a name the line uses) joins the place's
        context even when the board is frozen, because the line's start, where the board opened, could not know it.
        One per update, so the prompt grows by one chunk at a time."""
        typed = self.window.line_prefix
        fresh = [c for c in chunks if c.id not in self.context and defines_typed_name(c.symbol, typed)]
        if not fresh:
            return
        added = self.pin(fresh, limit=1, force=True)
        if added:
            self.trace.flags["pinned_for_typed_name"] = [c.symbol for c in added]

    # ---- the streaming strategy's transitions ------------------------------------------------------
    def start_draft(self) -> None:
        draft = self.parts.draft
        limit = self.settings.draft_max_tokens if self.parts.retrieves else self.settings.max_tokens
        self.trace.backend = draft.backend.info.backend
        self.trace.model = draft.backend.info.model
        cold = cold_window(self.request, self.settings, self.draft_window, draft.backend,
                           lambda window: self.prompt(draft, window, []).text)
        if cold is not None:
            self.whole_draft_window = self.draft_window
            self.draft_window = cold
            self.trace.flags["cold_window"] = True
        else:
            self.draft_chunks = draft_chunks(self.settings, list(self.context.values()), draft.backend,
                                             lambda chunks: self.prompt(draft, self.draft_window, chunks).text)
            if self.draft_chunks:
                self.trace.numbers["draft_context_chunks"] = len(self.draft_chunks)
        self.draft_task = self.spawn(self.generate("draft", 0, draft, self.draft_window, self.draft_chunks, limit))

    def handle(self, event: RunEvent) -> None:
        """Apply one event of the streaming strategy."""
        match event:
            case Generated(stage="draft"):
                self.on_draft(event)
                self._draft_moved(event)
                self.consider_refining()
            case Generated(stage="refined"):
                self.on_refined(event.n, event.text, event.done)
                if event.done:
                    self.consider_refining()
            case Scored():
                self.on_scored(event)
            case ContextArrived():
                self.context_arrived(event)
                self.consider_refining()
            case RetrievalEnded():
                self.trace.mark("retrieval_done")
                self.retrieval_running = False
                self.consider_refining()
            case NamesLooked():
                self.on_names(event)
                self.consider_refining()
            case GenerationFailed():
                self.failed(event.error)
            case TaskEnded():
                pass

    def on_draft(self, event: Generated) -> None:
        self.draft_text = event.text
        if event.done:
            self.draft_final = event.text
            if self.shown_stage == "draft":
                self.show(event.text, "draft", True)
            self.check_draft_names(event.text)
            return
        if self.shown_stage == "draft":
            self.show(event.text, "draft", False)
        if not self.draft_first_line and first_line_ready(event.text, self.shape):
            self.draft_first_line = True
            self.check_draft_names(event.text)

    def check_draft_names(self, text: str) -> None:
        """Once per run: look up the names the draft uses that the buffer does not define."""
        if self.names_checked or self.parts.retrieval is None:
            return
        self.names_checked = True
        names = new_identifiers(text, self.request.text, self.request.language)
        if names:
            self.spawn(self.look_up_names(names))
        else:
            self.trace.numbers["unknown_identifiers_draft"] = 0

    def on_names(self, event: NamesLooked) -> None:
        names, found = event.names, event.found
        unknown = [n for n in names if not any(h.symbol == n for h in found.get(n, []))]
        self.trace.numbers["unknown_identifiers_draft"] = len(unknown)
        self.unknown_in_draft = unknown
        if unknown:
            self.trace.flags["unknown_in_draft"] = unknown[:10]
        self.pin([h for name in names for h in found.get(name, [])[:1]], force=bool(unknown))

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
        if self.draft_task is not None and not self.draft_task.done() and self.parts.serial \
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
        if self.draft_task is not None and not self.draft_task.done() and self.parts.serial:
            self.draft_task.cancel()
        if self.retrieval_waits_for_draft:  # the draft will not show more: what waited for it runs now
            self.retrieval_waits_for_draft = False
            self.spawn(self.consume_retrieval())
        if self.refine_task is not None and not self.refine_task.done():
            self.refine_task.cancel()
        self.used_ids = frozenset(self.context)
        self.refine_n += 1
        self.refine_text = ""
        chunks = list(self.context.values())
        self.trace.refinements.append({"n": self.refine_n, "start_ms": round(self.trace.ms(), 2),
                                       "chunks": len(chunks)})
        refine = self.parts.refine
        self.trace.model = refine.backend.info.model
        self.refine_task = self.spawn(self.refine_after_growing(self.refine_n, refine, chunks))

    async def refine_after_growing(self, n: int, refine: Generator, chunks: Sequence[ContextChunk]) -> None:
        """A refinement; on one CPU after a draft from the short window, the draft's cache first grows to its whole
        window (``cold_place.prefill_draft``), so a user resting here gets it at the first key."""
        whole, self.whole_draft_window = self.whole_draft_window, None
        if whole is not None and self.parts.serial:
            draft = self.parts.draft
            try:
                grown = await prefill_draft(draft.backend, self.prompt(draft, whole, self.draft_chunks), self.settings)
            except Exception as exc:  # the refinement goes on; the draft's window grows at the next key instead
                log.debug("growing the draft's window failed: %s", exc)
                grown = 0
            self.trace.numbers["draft_window_grown_tokens"] = grown
        await self.generate("refined", n, refine, self.window, chunks, self.settings.max_tokens)

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
        if not verdict.yes and n in self.prompts:
            # No evidence in the names: let the context-aware prompt say which text it prefers.
            self.spawn(self.compare(n, self.shown, text, verdict.reason))
            return
        self.decide("replace", verdict.yes, verdict.reason)
        if verdict.yes:
            self.shown_by = n
            self.show(text, "refined", False)
        else:
            self.trace.flags["kept_shown"] = verdict.reason

    async def compare(self, n: int, shown: str, refined: str, policy_reason: str) -> None:
        """Score what is shown and the refinement with refinement ``n``'s prompt. Scoring that fails is no
        evidence (margin 0); a backend that cannot score leaves the policy's verdict (margin None)."""
        suffix = self.shape.line_suffix
        margin: float | None
        try:
            prompt = self.prompts[n]
            scores = await self.parts.refine.backend.score(
                prompt.text, [prompt.forced + as_written(shown, suffix), prompt.forced + as_written(refined, suffix)],
                fim=fim_parts(prompt))
            margin = None if scores is None else scores[1] - scores[0]
        except Exception as exc:
            log.debug("scoring failed: %s", exc)
            margin = 0.0
        await self.events.put(Scored(n, shown, refined, margin, policy_reason))

    def on_scored(self, event: Scored) -> None:
        if event.margin is None:
            if event.n == self.refine_n and event.shown == self.shown:
                self.decide("replace", False, event.policy_reason)
                self.trace.flags["kept_shown"] = event.policy_reason
            return
        self.trace.numbers["score_margin"] = round(event.margin, 3)
        if event.n != self.refine_n or event.shown != self.shown:
            return
        if event.margin > SCORE_MARGIN:  # strictly: a failed scoring (0 against 0) is no evidence
            self.decide("replace", True, f"the context-aware prompt prefers it by {event.margin:.2f} nats a token")
            self.shown_by = event.n
            self.show(event.refined, "refined", False)
        else:
            reason = f"no evidence that what is shown is wrong (score margin {event.margin:.2f})"
            self.decide("replace", False, reason)
            self.trace.flags["kept_shown"] = reason

    def busy(self) -> bool:
        return bool(
            (self.draft_task and not self.draft_task.done())
            or (self.refine_task and not self.refine_task.done())
            or self.retrieval_running
            or any(not t.done() for t in self.tasks)
        )
