"""One generation of a run, streamed into its events: the request a stage sends, its texts as they come, its end.

The draft and a refinement ask the model differently: only the draft is cut where the model is unsure (the
confidence cut shows what it is sure of while the context-aware text is on its way; a refinement, the text a user
who rests gets, writes its whole line: cut, its right lines ended early, ``bench_quality``'s in-file final text 0.515
against 0.567), and only the draft's prompt grows in front of its cache (``cold_place``). The texts are finished for
the place's shape and posted as ``Generated`` events; the stats go into the request's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from srag_lsp.completion.cold_place import grow_tokens
from srag_lsp.completion.postprocess import Shape, finish
from srag_lsp.completion.prompting import Generator, fim_parts
from srag_lsp.completion.run_events import Generated, GenerationFailed, RunEvent, Stage
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.prompts import Prompt
from srag_lsp.settings import Settings
from srag_lsp.trace import RequestTrace

log = logging.getLogger(__name__)


def stage_request(stage: Stage, prompt: Prompt, max_tokens: int, settings: Settings) -> GenerationRequest:
    """What ``stage`` asks of the model for ``prompt``."""
    draft = stage == "draft"
    return GenerationRequest(prompt=prompt.text, max_tokens=max_tokens, stop=prompt.stop,
                             temperature=settings.temperature, num_ctx=settings.num_ctx, fim=fim_parts(prompt),
                             forced=prompt.forced, min_token_p=settings.confidence_cut if draft else 0.0,
                             grow_tokens=grow_tokens(settings) if draft else None)


def is_complete(raw: str, text: str, prompt: Prompt, shape: Shape) -> bool:
    """True once more output cannot change the suggestion (the line or the block has ended)."""
    if not shape.multiline:
        body = raw if shape.line_prefix.strip() else raw.lstrip("\n")
        return "\n" in body
    cut = raw.rfind("\n")
    if cut <= 0:
        return False
    complete = finish(raw[:cut], shape, prompt.stop)
    return len(complete) < len(raw[:cut].rstrip()) and complete == text


async def stream_into(events: asyncio.Queue[RunEvent], trace: RequestTrace, shape: Shape, settings: Settings,
                      stage: Stage, n: int, generator: Generator, prompt: Prompt, max_tokens: int,
                      on_token: Callable[[], None]) -> None:
    """Stream one generation; post its texts as events; end with a done event (also on error)."""
    stats = GenerationStats()
    raw = ""
    error: str | None = None
    trace.mark("first_model_call")
    gen = generator.backend.stream(stage_request(stage, prompt, max_tokens, settings), stats)
    try:
        async for piece in gen:
            on_token()
            trace.mark("first_draft_token" if stage == "draft" else "first_refined_token")
            if stage == "refined":
                trace.refinements[n - 1].setdefault("first_token_ms", round(trace.ms(), 2))
            raw += piece
            text = finish(raw, shape, prompt.stop)
            await events.put(Generated(stage, n, text, False))
            if is_complete(raw, text, prompt, shape):
                break
    except asyncio.CancelledError:
        stats.finish_reason = stats.finish_reason or "cancelled"
        raise
    except Exception as exc:  # a dead or misbehaving model server: say so, keep serving
        error = str(exc) or type(exc).__name__
        log.warning("%s generation failed: %s", stage, error)
    finally:
        with contextlib.suppress(Exception):
            await gen.aclose()  # type: ignore[attr-defined]
        trace.add("prompt_tokens", stats.prompt_tokens)
        trace.add("prompt_evaluated", stats.prompt_evaluated)
        trace.add("generated_tokens", stats.generated_tokens)
        trace.add("model_queue_ms", round(stats.queue_ms, 2))
        trace.add("prompt_eval_ms", round(stats.prompt_eval_ms, 2))
        if stats.finish_reason == "cancelled" or asyncio.current_task().cancelling():  # type: ignore[union-attr]
            trace.flags["cancelled_generations"] = trace.flags.get("cancelled_generations", 0) + 1
    if error is not None:
        await events.put(GenerationFailed(stage, n, error))
    await events.put(Generated(stage, n, finish(raw, shape, prompt.stop), True))
