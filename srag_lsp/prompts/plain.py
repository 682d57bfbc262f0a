"""Models without fill-in-the-middle: context as comments, then the file prefix; the suffix is not seen.

Post-processing trims whatever the model writes that repeats the suffix.
"""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, context_as_comments


def render(parts: PromptParts, mark: str) -> Prompt:
    context = context_as_comments(parts, mark)
    return Prompt(f"{context}{parts.prefix}", ["<eos>", "<end_of_turn>"], "prefix", False, len(context))
