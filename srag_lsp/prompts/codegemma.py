"""CodeGemma: ``<|fim_prefix|>prefix<|fim_suffix|>suffix<|fim_middle|>``, context as comments."""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, context_as_comments

STOP = ["<|file_separator|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<end_of_turn>"]


def render(parts: PromptParts, mark: str) -> Prompt:
    context = context_as_comments(parts, mark)
    text = f"<|fim_prefix|>{context}{parts.prefix}<|fim_suffix|>{parts.suffix}<|fim_middle|>"
    return Prompt(text, list(STOP), "codegemma", True, len(context))
