"""Turns a request and its chunks into a model prompt: the local windows, redaction, and the model's template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from indexer.secrets import redact
from srag_lsp.completion.request import CompletionRequest
from srag_lsp.completion.window import LocalWindow, local_window
from srag_lsp.models.base import FimParts, ModelBackend
from srag_lsp.prompts import ContextSnippet, Prompt, PromptParts, build_prompt, resolve_template
from srag_lsp.prompts.partial_token import split_partial_token
from srag_lsp.retrieval.types import ContextChunk
from srag_lsp.settings import Settings


@dataclass(slots=True)
class Generator:
    """A backend plus the prompt template its model needs, and whether its prompts heal the partial token."""

    backend: ModelBackend
    template: str
    heals: bool = False  # token healing: the backend honours ``GenerationRequest.forced`` and the setting is on

    @classmethod
    def for_backend(cls, backend: ModelBackend, template_setting: str, *, token_healing: bool = True) -> Generator:
        return cls(backend, resolve_template(template_setting, backend.info.model),
                   heals=token_healing and backend.info.heals)


def windows(request: CompletionRequest, settings: Settings) -> tuple[LocalWindow, LocalWindow]:
    """The context-aware prompt's window, and the draft's (smaller: it must show text quickly when cold)."""
    s = settings
    full = local_window(request.text, request.line, request.col, s.prefix_lines, s.suffix_lines)
    if s.draft_prefix_lines and s.draft_prefix_lines < s.prefix_lines:
        return full, local_window(request.text, request.line, request.col, s.draft_prefix_lines, s.suffix_lines)
    return full, full


def build_model_prompt(generator: Generator, request: CompletionRequest, window: LocalWindow,
                       chunks: Sequence[ContextChunk], repo_name: str) -> Prompt:
    """The prompt for ``generator``'s model. Secrets never reach a prompt: the buffer may hold one the index never
    saw (chunks are redacted already, open buffers are not). Redaction is per line and cached, microseconds.

    With token healing the prefix's partial token moves to ``Prompt.forced``: every key typed into a word asks the
    same prompt (cached), and the output is made to start with the word's typed part."""
    snippets = [ContextSnippet(c.path, redact(c.text, c.path), c.symbol) for c in chunks]
    prefix, forced = redact(window.prefix, request.path), ""
    if generator.heals:
        prefix, forced = split_partial_token(prefix)
    parts = PromptParts(prefix=prefix, suffix=redact(window.suffix, request.path),
                        path=request.path, language=request.language, context=snippets, repo=repo_name)
    prompt = build_prompt(generator.template, parts)
    prompt.forced = forced
    return prompt


def fim_parts(prompt: Prompt) -> FimParts | None:
    """The parts of ``prompt`` as a backend that applies the model's template itself takes them (each context file
    once, its snippets joined as the repository-level templates join them)."""
    parts = prompt.parts
    if parts is None:
        return None
    from srag_lsp.prompts.base import grouped_by_path

    extra = [(path, "\n\n".join(texts) + "\n") for path, texts in grouped_by_path(parts.context)]
    return FimParts(parts.prefix, parts.suffix, extra)
