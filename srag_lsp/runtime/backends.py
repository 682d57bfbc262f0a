"""Brings the model backends up and down: the auto-selected main one, plus a second KV slot or model for refining,
and the engine that uses them with the prompt templates their models need. Only ``composition.Runtime`` calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lsprotocol import types

from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.prompting import Generator
from srag_lsp.completion.retrieval_port import RetrievalProvider
from srag_lsp.models.base import ModelBackend
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer

Report = Callable[[str, types.MessageType], None]


async def make_backends(settings: Settings, report: Report) -> tuple[ModelBackend, ModelBackend]:
    """The draft and refine backends: the auto-selected main backend, with a second model or KV slot for refining."""
    from srag_lsp.models.selection import select_backend

    main, notice = await select_backend(
        settings.backend, ollama_host=settings.ollama_host, ollama_model=settings.ollama_model,
        embedded_model=settings.embedded_model, model_dir=settings.model_path(), n_ctx=settings.num_ctx,
        embedded_weights=settings.embedded_weights,
        keep_alive=settings.keep_alive, n_threads=settings.embedded_threads,
        openai_base_url=settings.openai_base_url, openai_model=settings.openai_model,
        openai_api_key_env=settings.openai_api_key_env, llama_server_url=settings.llama_server_url,
    )
    report(notice, types.MessageType.Info)
    for warning in main.warnings:
        report(warning, types.MessageType.Warning)
    draft = await _sibling(main, settings.draft_model, settings, "draft") if settings.draft_model else main
    refine_model = settings.refine_model or ""
    if refine_model or main.info.backend in ("embedded", "llama-server"):
        # Embedded: the refinement gets its own KV sequence (same weights, memory-mapped once); llama-server: its
        # own server slot. Either way draft and refined prompts do not evict each other's cached prefix.
        refine = await _sibling(main, refine_model, settings, "refine")
    else:
        refine = main
    return draft, refine


async def _sibling(main: ModelBackend, model: str, settings: Settings, slot: str) -> ModelBackend:
    """A backend of the same kind as ``main`` for ``model`` ("" = main's model) in its own slot."""
    backend: ModelBackend
    if main.info.backend == "ollama":
        from srag_lsp.models.ollama_backend import OllamaBackend

        backend = OllamaBackend(host=settings.ollama_host, model=model or settings.ollama_model,
                                keep_alive=settings.keep_alive)
    elif main.info.backend == "openai":
        from srag_lsp.models.openai_backend import OpenAIBackend

        backend = OpenAIBackend(base_url=settings.openai_base_url, model=model or settings.openai_model,
                                key_env=settings.openai_api_key_env)
    elif main.info.backend == "llama-server":
        from srag_lsp.models.llama_server_backend import LlamaServerBackend

        assert isinstance(main, LlamaServerBackend)
        backend = LlamaServerBackend(url=settings.llama_server_url, model=model or main.info.model,
                                     key_env=settings.openai_api_key_env, gate=main.gate)  # one request at a time
        backend.sibling, main.sibling = main, backend
    else:
        from srag_lsp.models.embedded import EmbeddedBackend

        backend = EmbeddedBackend(model or settings.embedded_model, model_dir=settings.model_path(),
                                  n_ctx=settings.num_ctx, slot=slot, n_threads=settings.embedded_threads or None,
                                  weights=settings.embedded_weights)
    await backend.start()
    return backend


def build_engine(settings: Settings, backends: tuple[ModelBackend, ModelBackend], *, root: Path | None,
                 retrieval: RetrievalProvider | None, tracer: Tracer) -> CompletionEngine:
    """The engine over the draft and refine backends; repository-level prompts carry the workspace's name."""
    draft, refine = backends
    healing = settings.token_healing
    return CompletionEngine(Generator.for_backend(draft, settings.prompt_template, token_healing=healing),
                            Generator.for_backend(refine, settings.prompt_template, token_healing=healing),
                            settings, tracer, retrieval, repo_name=root.name if root is not None else "")


async def close_backends(backends: tuple[ModelBackend, ModelBackend]) -> None:
    for backend in {id(b): b for b in backends}.values():
        await backend.close()
