"""Prompt templates, one module per model family, laid out for KV-cache reuse.

Every template puts the most stable part first (the workspace name and the pinned context), then the file
prefix up to the cursor, then the short suffix: a keystroke extends the previous prompt, so the model
evaluates only the new characters. (Codestral's format puts the suffix first; that is the family's format.)
"""

from __future__ import annotations

from srag_lsp.prompts import codegemma, codellama, codestral, deepseek, plain, qwen, starcoder
from srag_lsp.prompts.base import ContextSnippet, Prompt, PromptParts

__all__ = ["ContextSnippet", "Prompt", "PromptParts", "build_prompt", "resolve_template", "template_for_model"]

# Model-name fragments -> template, checked in order (lower-cased substring match).
_FAMILY_BY_NAME: list[tuple[str, str]] = [
    ("qwen2.5-coder", "qwen"),
    ("qwen2.5coder", "qwen"),
    ("qwen3-coder", "qwen"),
    ("codellama", "codellama"),
    ("code-llama", "codellama"),
    ("deepseek-coder", "deepseek"),
    ("starcoder2", "starcoder"),
    ("starcoder", "starcoder"),
    ("codegemma", "codegemma"),
    ("codestral", "codestral"),
]

_COMMENTED = {"codellama": codellama.render, "deepseek": deepseek.render, "codegemma": codegemma.render,
              "codestral": codestral.render}


def template_for_model(model_name: str) -> str:
    name = model_name.lower()
    for fragment, family in _FAMILY_BY_NAME:
        if fragment in name:
            return family
    return "prefix"


def resolve_template(setting: str, model_name: str) -> str:
    return template_for_model(model_name) if setting == "auto" else setting


def comment_prefix(language: str | None) -> str:
    """The line-comment mark of ``language`` (from the index's language spec), ``#`` when unknown."""
    from indexer.languages import LANGUAGES, spec_for

    return spec_for(language).line_comment if language in LANGUAGES else "#"


def build_prompt(template: str, parts: PromptParts) -> Prompt:
    """Render ``parts`` with ``template`` (a name from settings.TEMPLATES other than "auto")."""
    prompt = _render(template, parts)
    prompt.parts = parts
    return prompt


def _render(template: str, parts: PromptParts) -> Prompt:
    if template == "qwen":
        return qwen.render(parts)
    if template == "starcoder":
        return starcoder.render(parts)
    render = _COMMENTED.get(template)
    if render is not None:
        return render(parts, comment_prefix(parts.language))
    return plain.render(parts, comment_prefix(parts.language))
