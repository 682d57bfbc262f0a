"""What a prompt is made of, and what a rendered prompt carries (shared by every template)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    repo: str = ""  # the workspace's name (repository-level prompt formats name it first)


@dataclass(slots=True)
class Prompt:
    text: str
    stop: list[str]
    template: str
    fim: bool
    context_chars: int = 0
    parts: PromptParts | None = None  # what it was rendered from (servers that template prompts themselves)
    forced: str = ""  # token healing: the end of the cursor's prefix, left out of the text; the output starts with it


def grouped_by_path(snippets: list[ContextSnippet]) -> list[tuple[str, list[str]]]:
    """Snippets merged per file, in first-seen order (a repository format names each file once)."""
    order: dict[str, list[str]] = {}
    for snippet in snippets:
        order.setdefault(snippet.path, []).append(snippet.text.rstrip())
    return list(order.items())


def context_as_comments(parts: PromptParts, mark: str) -> str:
    """Context for families without a repository format: each file's snippets as line comments."""
    out = []
    for path, texts in grouped_by_path(parts.context):
        out.append(f"{mark} From {path}:\n")
        for text in texts:
            for line in text.splitlines():
                out.append(f"{mark} {line}\n" if line else f"{mark}\n")
    if out:
        out.append(f"{mark} File: {parts.path}\n")
    return "".join(out)
