"""The draft's window at a place its KV cache does not hold: the last few lines, so text shows within a key or two.

Evaluating the draft's whole window (7 to 12 lines, 60 to 110 tokens) at a new place took 0.7 to 1.3 s in the editor
here, so a user who types at once saw nothing for four or five keys. The short window costs about a third of that.
The keys after it send the whole window with ``GenerationRequest.grow_tokens``: a backend that can insert in front of
cached tokens (the embedded one, ``models.prompt_growth``) keeps what it holds, and once each key's first text is out
inserts a line or so of the missing ones before generating on (warm-ups at idle insert the rest), so the short window
grows to the whole one within a few keys, without evaluating its lines again.

A user who rests at the new place instead of typing gets the whole window before the first key: a run whose draft
came from the short window grows the draft's cache to the whole window before its refinement takes the model
(``Run.refine_after_growing``, with ``prefill_draft``, which warm-ups use too). Without that, the refinement
(seconds on these cores) kept the model until the first key, and the draft stayed on three lines after the rest.
"""

from __future__ import annotations

from collections.abc import Callable

from srag_lsp.completion.prompting import fim_parts
from srag_lsp.completion.request import CompletionRequest
from srag_lsp.completion.window import LocalWindow, local_window
from srag_lsp.models.base import ModelBackend
from srag_lsp.prompts import Prompt
from srag_lsp.settings import Settings

MIN_SHIFTED = 32  # held characters found further on in the whole window's prompt: the window is growing already
COLD_FACTOR = 2  # the whole window is cold when what it misses is this many times the short window's text


def grow_tokens(settings: Settings) -> int | None:
    """The tokens a draft's prompt may grow by a step (``GenerationRequest.grow_tokens``); None when nothing grows
    it (neither the cold start, ``draftColdLines``, nor the draft's context, ``draftContext``) or
    ``draftGrowTokens`` is 0."""
    if (settings.draft_cold_lines > 0 or settings.draft_context) and settings.draft_grow_tokens > 0:
        return settings.draft_grow_tokens
    return None


def cold_window(request: CompletionRequest, settings: Settings, window: LocalWindow, backend: ModelBackend,
                prompt_of: Callable[[LocalWindow], str]) -> LocalWindow | None:
    """The short window for this draft, or None to use ``window`` (``prompt_of`` makes a window's prompt text, only
    when the cold start is on).

    None when the backend cannot grow a prompt in place (no ``shifted_chars``), when the cache holds the window
    already or is growing it (a short window was evaluated here), or when the short window is not shorter.
    """
    shifted = getattr(backend, "shifted_chars", None)
    if settings.draft_cold_lines <= 0 or grow_tokens(settings) is None or shifted is None:
        return None
    short = local_window(request.text, request.line, request.col, settings.draft_cold_lines, settings.suffix_lines)
    if len(short.prefix) >= len(window.prefix) or not window.prefix.endswith(short.prefix):
        return None
    prompt = prompt_of(window)
    if shifted(prompt) >= MIN_SHIFTED:
        return None
    share = backend.cached_share(prompt) or 0.0
    missing = (1.0 - share) * len(prompt)
    return short if missing > COLD_FACTOR * len(short.prefix) else None


async def prefill_draft(backend: ModelBackend, prompt: Prompt, settings: Settings) -> int:
    """Evaluate the draft's ``prompt`` into its cache as a warm-up does: grown in front of what the cache holds
    when the draft's prompts grow (``grow_tokens``), preempted by any generation at its next batch, what it
    evaluated kept. Returns the prompt tokens evaluated (0 when the backend cannot prefill)."""
    return await backend.prefill(prompt.text, num_ctx=settings.num_ctx, max_tokens=settings.max_tokens,
                                 fim=fim_parts(prompt), grow_tokens=grow_tokens(settings) or 0)
