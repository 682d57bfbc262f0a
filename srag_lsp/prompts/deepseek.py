"""DeepSeek-Coder: ``<｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>``, context as comments."""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, context_as_comments


def render(parts: PromptParts, mark: str) -> Prompt:
    context = context_as_comments(parts, mark)
    text = f"<｜fim▁begin｜>{context}{parts.prefix}<｜fim▁hole｜>{parts.suffix}<｜fim▁end｜>"
    return Prompt(text, ["<｜end▁of▁sentence｜>", "<｜fim▁begin｜>"], "deepseek", True, len(context))
