"""Drain a backend's token stream into one string (shared by the backend tests)."""

from __future__ import annotations

from srag_lsp.models.base import GenerationRequest, GenerationStats, ModelBackend


async def collect(backend: ModelBackend, request: GenerationRequest, stats: GenerationStats) -> str:
    out = ""
    async for piece in backend.stream(request, stats):
        out += piece
    return out
