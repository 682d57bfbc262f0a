"""How a long ``/infill`` prompt is cut into pieces the server evaluates one at a time (pure functions)."""

from __future__ import annotations

from srag_lsp.models.base import FimParts
from srag_lsp.models.infill_pieces import PIECE_CHARS, layout, parts_at, pieces

CONTEXT = [("ops.py", "".join(f"def g{i}(y):\n    return y * {i}\n\n" for i in range(40)))]
BODY = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))
LONG = FimParts(BODY + "value = f1", "\n", CONTEXT)


def spelled(piece: FimParts) -> str:
    """What a piece's parts spell in the layout, without the empty prefix's marker after a cut context file."""
    text = layout(piece)
    return text[:-1] if not piece.prefix and not layout(LONG).startswith(text) else text


def test_a_long_prompt_goes_in_pieces_each_the_start_of_the_next_and_cut_after_a_line() -> None:
    cut = pieces(LONG, None)
    whole = layout(LONG)
    assert len(cut) >= 5
    ends = [len(spelled(p)) for p in cut]
    assert ends == sorted(ends) and ends[-1] < len(whole)
    for piece, end in zip(cut, ends, strict=True):
        assert whole.startswith(spelled(piece)) and whole[end - 1] == "\n" and piece.suffix == ""
    steps = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    assert max(steps) <= PIECE_CHARS and len(whole) - ends[-1] <= PIECE_CHARS  # the request sends the rest
    assert any(p.prefix for p in cut) and not cut[0].prefix  # context files first, then the prefix


def test_only_what_the_slot_lacks_is_sent_and_a_keystroke_goes_whole() -> None:
    cut = pieces(LONG, None)
    assert pieces(LONG, LONG) == []
    assert pieces(FimParts(LONG.prefix + "0", "\n", CONTEXT), LONG) == []  # one more character
    rest = pieces(LONG, cut[2])
    assert rest == cut[3:]
    assert pieces(FimParts("def f(x):\n    return ", "\n"), None) == []  # a draft's short prompt


def test_a_context_file_that_changed_is_sent_again_from_where_it_differs() -> None:
    changed = FimParts(LONG.prefix, LONG.suffix, [("ops.py", CONTEXT[0][1].replace("g30", "h30"))])
    again = pieces(changed, LONG)
    assert again and len(spelled(again[0])) > layout(changed).index("h30") - PIECE_CHARS


def test_the_parts_at_a_cut_spell_the_layout_up_to_it() -> None:
    whole = layout(LONG)
    for cut in (0, 5, 300, whole.index("\x1d"), whole.index("\x1d") + 1, len(whole) - 3):
        piece = parts_at(LONG, cut)
        assert whole.startswith(spelled(piece)) and abs(len(spelled(piece)) - cut) <= len("ops.py") + 2


def test_the_share_a_slot_holds_is_what_its_last_prompt_has_in_common() -> None:
    from srag_lsp.models.infill_pieces import held_share

    cut = pieces(LONG, None)
    assert held_share(LONG, LONG) == 1.0
    assert 0.3 < held_share(LONG, cut[len(cut) // 2]) < 0.7
    assert held_share(FimParts("x = 1\n", "", [("other.py", "y = 2\n")]), LONG) < 0.1
