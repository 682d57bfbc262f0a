"""StarCoder2: its repository format (``<repo_name>``, ``<file_sep>path``) with FIM for the current file."""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, grouped_by_path

STOP = ["<|endoftext|>", "<file_sep>", "<fim_prefix>"]


def render(parts: PromptParts) -> Prompt:
    context = "".join(f"<file_sep>{path}\n" + "\n\n".join(texts) + "\n" for path, texts in
                      grouped_by_path(parts.context))
    if context:
        context = f"<repo_name>{parts.repo or 'workspace'}{context}<file_sep>{parts.path}\n"
    text = f"{context}<fim_prefix>{parts.prefix}<fim_suffix>{parts.suffix}<fim_middle>"
    return Prompt(text, list(STOP), "starcoder", True, len(context))
