"""Cuts an ``/infill`` prompt that the server's cache lacks into pieces the server evaluates one at a time.

llama-server evaluates a request's prompt in batches of ``n_batch`` tokens (1,024 with llama.vim's flags) and
looks at cancellations only between them: a 1,000-token refinement held a 2-core server for 10 s, and every
keystroke's draft queued behind it (``bench_editor``'s server log). Sent as pieces instead (each the parts of a
prefix of the next, asked with ``n_predict: 0`` so that each lands in the slot's cache), the prompt lets a draft in
between two pieces, and a superseded refinement stops at a piece's end.

The parts are laid out as the server lays out their tokens: the context files in order, then the prefix (the
suffix comes after the prefix and is short). A piece ends at a line break where it can, so its tokens are those
the whole prompt starts with, up to the last one or two.
"""

from __future__ import annotations

from srag_lsp.common_prefix import common_prefix_length
from srag_lsp.models.base import FimParts

PIECE_CHARS = 320  # about 100 tokens: what a 2-core server evaluates in about 0.6 s
_FILE = "\x1c"  # before each context file's name, in the layout (never in source text the server sees)
_PREFIX = "\x1d"  # before the prefix


def layout(parts: FimParts) -> str:
    """The parts in the order the server evaluates them (the suffix left out: it follows the prefix)."""
    return "".join(f"{_FILE}{name}\n{text}" for name, text in parts.extra) + _PREFIX + parts.prefix


def parts_at(parts: FimParts, cut: int) -> FimParts:
    """The parts that spell ``layout(parts)[:cut]``, without a suffix."""
    position = 0
    extra: list[tuple[str, str]] = []
    for name, text in parts.extra:
        head = len(_FILE) + len(name) + 1
        end = position + head + len(text)
        if cut >= end:
            extra.append((name, text))
            position = end
            continue
        if cut > position + head:
            extra.append((name, text[: cut - position - head]))
        return FimParts("", "", extra)
    return FimParts(parts.prefix[: max(0, cut - position - len(_PREFIX))], "", extra)


def pieces(parts: FimParts, held: FimParts | None, size: int = PIECE_CHARS) -> list[FimParts]:
    """The pieces to send before ``parts`` when the slot holds ``held``: none when what the cache lacks is at most
    two pieces' worth (a draft's prompt at a new place, a keystroke); else one per ``size`` characters, the last
    leaving at most ``size`` for the request itself."""
    whole = layout(parts)
    done = common_prefix_length(whole, layout(held)) if held is not None else 0
    if len(whole) - done <= 2 * size:
        return []
    out: list[FimParts] = []
    start = done
    while len(whole) - start > size:
        target = start + size
        cut = whole.rfind("\n", start + size // 4, target) + 1  # after a line break, not too short a piece
        if cut <= 0:
            after = whole.find("\n", target)
            cut = after + 1 if 0 <= after < len(whole) - size // 2 else target
        if len(whole) - cut < size // 4:
            break  # what is left is too little to be worth a request of its own
        out.append(parts_at(parts, cut))
        start = cut
    return out


def held_share(parts: FimParts, held: FimParts) -> float:
    """The share of ``parts``' layout that a slot holding ``held`` has evaluated already."""
    whole = layout(parts)
    return common_prefix_length(whole, layout(held)) / len(whole)

