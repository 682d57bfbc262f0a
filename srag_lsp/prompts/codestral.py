"""Codestral: ``[SUFFIX]suffix[PREFIX]prefix`` (the family's own order: suffix first), context as comments."""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, context_as_comments


def render(parts: PromptParts, mark: str) -> Prompt:
    context = context_as_comments(parts, mark)
    text = f"[SUFFIX]{parts.suffix}[PREFIX]{context}{parts.prefix}"
    return Prompt(text, ["</s>", "[SUFFIX]", "[PREFIX]"], "codestral", True, len(context))
