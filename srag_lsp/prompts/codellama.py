"""Code Llama: ``<PRE> prefix <SUF>suffix <MID>``, context as comments ahead of the prefix."""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, context_as_comments


def render(parts: PromptParts, mark: str) -> Prompt:
    context = context_as_comments(parts, mark)
    text = f"<PRE> {context}{parts.prefix} <SUF>{parts.suffix} <MID>"
    return Prompt(text, ["<EOT>", "<PRE>", "<SUF>", "<MID>"], "codellama", True, len(context))
