"""Prompt templates per model family: fill-in-the-middle where the family has it, prefix-only otherwise.

Prompts are ordered for KV-cache reuse: retrieved context first (the most stable part), then the file
prefix up to the cursor, then the suffix. A keystroke extends the prefix of the previous prompt, so the
model re-evaluates only a few tokens. (Codestral's format puts the suffix first; that is the family's
format, not our choice.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

# Comment syntax per language, for prefix-only prompts and context headers.
_LINE_COMMENT = {
    "python": "#",
    "rust": "//",
    "go": "//",
    "javascript": "//",
    "typescript": "//",
    "tsx": "//",
    "java": "//",
    "c": "//",
    "cpp": "//",
}


@dataclass(slots=True)
class ContextSnippet:
    path: str
    text: str
    symbol: str = ""


@dataclass(slots=True)
class PromptParts:
    prefix: str  # the file's text before the cursor (already windowed)
    suffix: str  # the file's text after the cursor (already windowed)
    path: str  # workspace-relative path of the file
    language: str | None
    context: list[ContextSnippet] = field(default_factory=list)


@dataclass(slots=True)
class Prompt:
    text: str
    stop: list[str]
    template: str
    fim: bool
    context_chars: int = 0


def template_for_model(model_name: str) -> str:
    name = model_name.lower()
    for fragment, family in _FAMILY_BY_NAME:
        if fragment in name:
            return family
    return "prefix"


def comment_prefix(language: str | None) -> str:
    return _LINE_COMMENT.get(language or "", "#")


def _context_as_files(parts: PromptParts, separator: str) -> str:
    """Context in the repository-level format: a file separator, the path, then the snippet."""
    out = []
    for snippet in parts.context:
        out.append(f"{separator}{snippet.path}\n{snippet.text.rstrip()}\n")
    return "".join(out)


def _context_as_comments(parts: PromptParts) -> str:
    mark = comment_prefix(parts.language)
    out = []
    for snippet in parts.context:
        out.append(f"{mark} From {snippet.path}:\n")
        for line in snippet.text.rstrip().splitlines():
            out.append(f"{mark} {line}\n" if line else f"{mark}\n")
    if out:
        out.append(f"{mark} File: {parts.path}\n")
    return "".join(out)


def build_prompt(template: str, parts: PromptParts) -> Prompt:
    """Render ``parts`` with ``template`` (a name from settings.TEMPLATES other than "auto")."""
    if template == "qwen":
        context = _context_as_files(parts, "<|file_sep|>")
        if context:
            context += f"<|file_sep|>{parts.path}\n"
        text = f"{context}<|fim_prefix|>{parts.prefix}<|fim_suffix|>{parts.suffix}<|fim_middle|>"
        stop = ["<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>", "<|fim_prefix|>", "<|repo_name|>"]
        return Prompt(text, stop, template, True, len(context))
    if template == "codellama":
        context = _context_as_comments(parts)
        text = f"<PRE> {context}{parts.prefix} <SUF>{parts.suffix} <MID>"
        return Prompt(text, ["<EOT>", "<PRE>", "<SUF>", "<MID>"], template, True, len(context))
    if template == "deepseek":
        context = _context_as_comments(parts)
        text = f"<｜fim▁begin｜>{context}{parts.prefix}<｜fim▁hole｜>{parts.suffix}<｜fim▁end｜>"
        return Prompt(text, ["<｜end▁of▁sentence｜>", "<｜fim▁begin｜>"], template, True, len(context))
    if template == "starcoder":
        context = _context_as_files(parts, "<file_sep>")
        if context:
            context += f"<file_sep>{parts.path}\n"
        text = f"{context}<fim_prefix>{parts.prefix}<fim_suffix>{parts.suffix}<fim_middle>"
        return Prompt(text, ["<|endoftext|>", "<file_sep>", "<fim_prefix>"], template, True, len(context))
    if template == "codegemma":
        context = _context_as_comments(parts)
        text = f"<|fim_prefix|>{context}{parts.prefix}<|fim_suffix|>{parts.suffix}<|fim_middle|>"
        stop = ["<|file_separator|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<end_of_turn>"]
        return Prompt(text, stop, template, True, len(context))
    if template == "codestral":
        context = _context_as_comments(parts)
        text = f"[SUFFIX]{parts.suffix}[PREFIX]{context}{parts.prefix}"
        return Prompt(text, ["</s>", "[SUFFIX]", "[PREFIX]"], template, True, len(context))
    # Prefix-only: context as comments, then the file prefix. The suffix is not seen by the model, so
    # post-processing trims whatever repeats it.
    context = _context_as_comments(parts)
    return Prompt(f"{context}{parts.prefix}", ["<eos>", "<end_of_turn>"], "prefix", False, len(context))


def resolve_template(setting: str, model_name: str) -> str:
    return template_for_model(model_name) if setting == "auto" else setting
