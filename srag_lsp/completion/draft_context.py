"""Which retrieved context the draft's prompt carries: the place's pinned chunks, when its KV cache can take them
without evaluating its window again.

The draft answers from its small local window, so at a new place its first text comes within a key or two; but
from local lines alone it does not know the names another module defines, and the context-aware refinement (the
60-line window and the chunks, 600 to 900 tokens) seldom finishes while the user types. With ``draftContext`` on,
the draft's prompt has the pinned chunks in front of its window once the window is cached: the backend keeps the
window and inserts the chunks in front of it a step at a time (``models.prompt_growth``, the issue's "context that
arrives must not re-evaluate the local window"), then evaluates the window's last tokens again so that the lines
the model reads last see the chunks. At a place the cache does not hold, the draft has no chunks: its window is
evaluated first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from srag_lsp.completion.cold_place import MIN_SHIFTED, grow_tokens
from srag_lsp.models.base import ModelBackend
from srag_lsp.retrieval.types import ContextChunk
from srag_lsp.settings import Settings


def draft_chunks(settings: Settings, pinned: Sequence[ContextChunk], backend: ModelBackend,
                 prompt_of: Callable[[Sequence[ContextChunk]], str]) -> list[ContextChunk]:
    """The chunks for this draft's prompt: ``pinned`` when the setting is on and the backend's cache holds the
    window (at its place, or further on in the prompt with the chunks), else none. ``prompt_of(chunks)``: the
    draft's prompt text with ``chunks``.

    With the chunks, the prompt costs what its cache lacks besides the part that grows in front (left out until
    the first text is out); without them, what the cache lacks of the window's prompt. The cheaper one wins: a
    board whose chunks changed can cost more with them than the window alone.
    """
    shifted = getattr(backend, "shifted_chars", None)
    if not settings.draft_context or grow_tokens(settings) is None or not pinned or shifted is None:
        return []
    with_chunks = prompt_of(pinned)
    if shifted(with_chunks) >= MIN_SHIFTED:  # the window is held further on: the chunks grow in front of it
        return list(pinned)
    plain = prompt_of([])
    missing_with = (1.0 - (backend.cached_share(with_chunks) or 0.0)) * len(with_chunks)
    missing_plain = (1.0 - (backend.cached_share(plain) or 0.0)) * len(plain)
    return list(pinned) if missing_with <= missing_plain else []
