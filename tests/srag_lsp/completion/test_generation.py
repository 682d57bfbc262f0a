"""What each stage asks of the model (``completion/generation``): only the draft is cut and grows its prompt."""

from __future__ import annotations

from srag_lsp.completion.generation import is_complete, stage_request
from srag_lsp.completion.postprocess import decide_shape
from srag_lsp.prompts import Prompt
from srag_lsp.settings import Settings


def prompt() -> Prompt:
    return Prompt(text="<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>", stop=["<|endoftext|>"], template="qwen",
                  fim=True)


def test_the_draft_is_cut_and_grows_and_a_refinement_writes_its_whole_line() -> None:
    settings = Settings()
    draft = stage_request("draft", prompt(), 24, settings)
    refined = stage_request("refined", prompt(), 64, settings)
    assert draft.min_token_p == settings.confidence_cut > 0 and refined.min_token_p == 0.0
    assert refined.grow_tokens is None and draft.max_tokens == 24 and refined.max_tokens == 64
    assert stage_request("draft", prompt(), 24, Settings(draft_cold_lines=3)).grow_tokens == 16


def test_a_one_line_suggestion_is_complete_at_its_newline() -> None:
    shape = decide_shape("x = ", "")
    assert not is_complete("compute(", "compute(", prompt(), shape)
    assert is_complete("compute()\nnext", "compute()", prompt(), shape)
