"""Qwen2.5-Coder: the repository-level fill-in-the-middle format the model was trained on.

``<|repo_name|>name``, then ``<|file_sep|>path`` and the content for each context file, then the current file
last in FIM form. Everything before ``<|fim_prefix|>`` is the stable part of the prompt (the workspace name and
the pinned context), so keystrokes re-use its KV cache.
"""

from __future__ import annotations

from srag_lsp.prompts.base import Prompt, PromptParts, grouped_by_path

STOP = ["<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>", "<|fim_prefix|>", "<|repo_name|>"]


def render(parts: PromptParts) -> Prompt:
    head = f"<|repo_name|>{parts.repo or 'workspace'}\n"
    context = "".join(f"<|file_sep|>{path}\n" + "\n\n".join(texts) + "\n" for path, texts in
                      grouped_by_path(parts.context))
    text = (f"{head}{context}<|file_sep|>{parts.path}\n"
            f"<|fim_prefix|>{parts.prefix}<|fim_suffix|>{parts.suffix}<|fim_middle|>")
    return Prompt(text, list(STOP), "qwen", True, len(context))
