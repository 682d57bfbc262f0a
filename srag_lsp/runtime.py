"""Brings the daemon's parts up and down: model backends, the completion engine, the index worker, retrieval.

Used by the LSP server (after ``initialized``, in the background) and by the headless commands, so the
editor and ``srag-lsp complete`` run the same engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from srag_lsp.assembly import assemble_engine, close_backends
from srag_lsp.completion.engine import CompletionEngine, ContextProvider
from srag_lsp.models.base import BackendError, ModelBackend
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer, load_traces, summarize

log = logging.getLogger(__name__)

MODEL_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # waits between attempts to bring the model backend up


def language_for(path: str, language_id: str | None = None) -> str | None:
    """Our language key for a document: by its file name, else by the client's LSP languageId (the language
    specs in ``indexer.languages`` list the ids they answer to)."""
    from indexer.languages import language_for_lsp_id, language_for_path

    return language_for_path(path) or language_for_lsp_id(language_id)


def index_dir_for(settings: Settings, root: Path) -> Path:
    from indexer.location import resolve_index_dir

    return Path(resolve_index_dir(root, settings.index_dir or None))


class Runtime:
    def __init__(self, settings: Settings, root: Path | None, *,
                 report: Callable[[str, types.MessageType], None],
                 progress: Any = None, log_to_client: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.root = root
        self._report = report
        self._progress = progress
        self._log_to_client = log_to_client or (lambda _m: None)
        self.tracer = Tracer(settings.cache_path() / "traces" if settings.trace else None)
        self.engine: CompletionEngine | None = None
        self.backends: tuple[ModelBackend, ModelBackend] | None = None
        self.index_client: Any = None
        self.context: ContextProvider | None = None
        self.index_state: dict[str, Any] = {"state": "off" if not settings.index_enabled else "starting"}
        self.backend_error: str | None = None
        self.models_settled = asyncio.Event()  # set once the backends are up, or failed
        self._progress_token: str | None = None
        self.embedder: Any = None  # the query embedder of the vector source (embeddings on)
        self._background: set[asyncio.Task[Any]] = set()

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._ensure_context()  # before the engine, which is built with it
        await asyncio.gather(self._start_index(), self._start_models())

    def _ensure_context(self) -> None:
        from srag_lsp.completion.context import make_context_provider

        if self.root is not None and self.context is None:
            # Retrieval reads whatever index is there (built by `srag-index` in CI, say) even with the worker off.
            self.context = make_context_provider(self.settings, self.root, index_dir_for(self.settings, self.root))

    async def _start_models(self) -> None:
        try:
            up = await self._bring_up_models()
        finally:
            self.models_settled.set()
        if not up:
            # Ollama may be starting, or a model still downloading: try again with a backoff, quietly, and say
            # so once when it comes up. Requests meanwhile get no suggestion (and srag/status says why).
            task = asyncio.create_task(self._retry_models())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _retry_models(self) -> None:
        attempt = 0
        while self.engine is None:
            await asyncio.sleep(MODEL_RETRY_S[min(attempt, len(MODEL_RETRY_S) - 1)])
            attempt += 1
            if await self._bring_up_models(quiet=True) and self.backends is not None:
                draft, _ = self.backends
                self._report(f"srag-lsp: the model backend is up now ({draft.info.backend}: {draft.info.model})",
                             types.MessageType.Info)
                return

    async def _bring_up_models(self, *, quiet: bool = False) -> bool:
        """Start the backends and build the engine; True when it worked. ``quiet``: a retry, failures only logged."""
        try:
            engine, backends = await assemble_engine(self.settings, root=self.root, context=self.context,
                                                     tracer=self.tracer, report=self._report)
        except Exception as exc:
            said_before = quiet and self.backend_error is not None
            self.backend_error = str(exc)
            if said_before:
                log.info("model backend still not ready: %s", exc)
            elif isinstance(exc, BackendError):
                self._report(f"srag-lsp: no model backend: {exc} (retrying in the background)",
                             types.MessageType.Error)
            else:
                log.exception("model backend failed to start")
                self._report(f"srag-lsp: the model backend failed to start: {exc} (retrying in the background)",
                             types.MessageType.Error)
            return False
        self.engine, self.backends, self.backend_error = engine, backends, None
        draft, _ = backends
        self._log_to_client(f"srag-lsp: ready ({draft.info.backend}: {draft.info.model})")
        return True

    async def _start_index(self) -> None:
        if self.root is None:
            return
        self._ensure_context()
        index_dir = index_dir_for(self.settings, self.root)
        self._start_vector_source()
        if not self.settings.index_enabled:
            return
        try:
            from indexer.client import IndexClient

            self.index_client = IndexClient()
            await self.index_client.start(str(self.root), str(index_dir), self._index_settings(), self._on_index_event)
            self.index_state = {"state": "indexing", "index_dir": str(index_dir)}
        except Exception as exc:
            log.exception("index worker failed to start")
            self.index_state = {"state": "error", "error": str(exc)}
            self._report(f"srag-lsp: the index worker failed to start: {exc}; completing from local context",
                         types.MessageType.Warning)

    def _index_settings(self) -> dict[str, Any]:
        s = self.settings
        return {
            "max_file_bytes": s.max_file_bytes,
            "index_secrets": s.index_secrets,
            "embeddings": s.embeddings,
            "embedding_model": s.embedding_model,
            "ollama_host": s.ollama_host,
            "model_dir": s.model_dir,
        }

    def _start_vector_source(self) -> None:
        """With embeddings on: give retrieval's vector source the same embedder as the index worker, and load it
        in a thread (the first query would otherwise pay for it). Missing parts are reported; retrieval goes on."""
        retriever = getattr(self.context, "retriever", None)
        if self.settings.embeddings == "off" or retriever is None:
            return
        from indexer.embedding import EmbeddingError, make_embedder

        s = self.settings
        try:
            embedder = make_embedder(s.embeddings, model=s.embedding_model, host=s.ollama_host, model_dir=s.model_dir)
        except EmbeddingError as exc:
            self.index_state["embedding_error"] = str(exc)
            self._report(f"srag-lsp: embeddings are off: {exc}", types.MessageType.Warning)
            return
        self.embedder = embedder
        retriever.set_embedder(embedder)
        task = asyncio.get_running_loop().create_task(self._warm_embedder(embedder))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _warm_embedder(self, embedder: Any) -> None:
        try:
            await asyncio.to_thread(embedder.warm)
        except Exception as exc:  # a dead Ollama, say: the vector source fails per request and is dropped
            log.warning("the query embedder is not ready: %s", exc)

    def _on_index_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "progress":
            self._report_progress(payload)
        elif kind == "indexed":
            paths = payload.get("paths") or []
            invalidate = getattr(self.context, "invalidate", None)
            if invalidate is not None:
                invalidate(paths)
            if self.engine is not None:
                self.engine.invalidate(paths)
        elif kind == "status":
            self.index_state = {**self.index_state, **payload}
        elif kind == "error":
            self.index_state["last_error"] = payload.get("message")
            log.warning("index: %s", payload.get("message"))

    def _report_progress(self, payload: dict[str, Any]) -> None:
        """One `$/progress` session per build: begin, a report per batch, end when the worker says done."""
        done, total = int(payload.get("done", 0)), int(payload.get("total", 0))
        phase = str(payload.get("phase", "index"))
        if phase == "done":
            self.index_state["state"] = "ready"
            self.index_state["initial_build_done"] = True
            warm = getattr(self.context, "warm", None)
            if warm is not None:
                warm()  # the index may not have existed when retrieval first looked
        progress = self._progress
        if progress is None:
            return
        try:
            if phase == "done":
                if self._progress_token is not None:
                    progress.end(self._progress_token, types.WorkDoneProgressEnd(message=f"{done} files indexed"))
                    self._progress_token = None
                return
            if self._progress_token is None:
                if self.index_state.get("initial_build_done") and total < 50:
                    return  # a small incremental update: no progress UI
                self._progress_token = f"srag-index-{uuid.uuid4().hex[:8]}"
                progress.create(self._progress_token)
                progress.begin(self._progress_token, types.WorkDoneProgressBegin(
                    title="srag: indexing", message=f"{phase} {done}/{total} files", percentage=0,
                    cancellable=False))
                return
            pct = min(100, int(100 * done / total)) if total else 0
            progress.report(self._progress_token, types.WorkDoneProgressReport(
                message=f"{phase} {done}/{total} files", percentage=pct))
        except Exception as exc:
            log.debug("progress not sent: %s", exc)

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        if self.engine is not None:
            self.engine.update_settings(settings)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self.index_client is not None:
            with contextlib.suppress(Exception):
                await self.index_client.stop()
        closer = getattr(self.context, "close", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                closer()
        if self.backends is not None:
            with contextlib.suppress(Exception):
                await close_backends(self.backends)

    # ---- buffers -----------------------------------------------------------------------------------
    def _rel(self, uri: str) -> str | None:
        from pygls.uris import to_fs_path

        path = to_fs_path(uri)
        if not path or self.root is None:
            return None
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return None

    def buffer_changed(self, uri: str, text: str, version: int) -> None:
        rel = self._rel(uri)
        if rel is None:
            return
        note = getattr(self.context, "buffer_changed", None)
        if note is not None:
            note(rel, text)
        if self.index_client is not None:
            self.index_client.buffer_changed(rel, text, version)

    def buffer_saved(self, uri: str) -> None:
        rel = self._rel(uri)
        if rel is not None and self.index_client is not None:
            self.index_client.buffer_saved(rel)

    def buffer_closed(self, uri: str) -> None:
        rel = self._rel(uri)
        if rel is None:
            return
        note = getattr(self.context, "buffer_closed", None)
        if note is not None:
            note(rel)
        if self.index_client is not None:
            self.index_client.buffer_closed(rel)

    def reindex(self) -> dict[str, Any]:
        """Look at every file of the workspace again (the worker re-indexes what changed, with `$/progress`)."""
        if self.index_client is None:
            return {"state": self.index_state.get("state"), "error": "the index worker is not running"}
        invalidate = getattr(self.context, "invalidate", None)
        if invalidate is not None:
            invalidate([])
        self.index_client.rescan()
        self.index_state["state"] = "indexing"
        return {"state": "indexing"}

    # ---- reports -----------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        records = self.tracer.recent or (load_traces(self.tracer.path) if self.tracer.path else [])
        return summarize(records)

    async def index_status(self) -> dict[str, Any]:
        if self.index_client is None:
            return dict(self.index_state)
        try:
            status = await self.index_client.status()
        except Exception as exc:
            return {**self.index_state, "last_error": str(exc)}
        return {**self.index_state, **status}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index_state.get("state")}
        if self.backends is not None:
            draft, refine = self.backends
            out.update(backend=draft.info.backend, model=draft.info.model, refine_model=refine.info.model)
        if self.backend_error:
            out["backend_error"] = self.backend_error
        return out
