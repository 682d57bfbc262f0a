"""``Runtime``: builds the daemon's parts and wires them, once: backends, retrieval, engine, service, index worker.

Built by the LSP server at ``initialize`` and started after ``initialized`` in the background (the editor never
waits on it), and by the headless commands and the benchmarks, so every one of them runs the same engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.request import Suggestion
from srag_lsp.completion.service import CompletionService
from srag_lsp.models.base import BackendError, ModelBackend
from srag_lsp.retrieval.provider import WorkspaceRetrieval, open_workspace_retrieval
from srag_lsp.runtime.backends import build_engine, close_backends, make_backends
from srag_lsp.runtime.index_link import IndexLink
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer, load_traces, summarize

log = logging.getLogger(__name__)

MODEL_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # waits between attempts to bring the model backend up
Report = Callable[[str, types.MessageType], None]


def index_dir_for(settings: Settings, root: Path) -> Path:
    """The workspace's index folder; with ``sharedIndex``, the local overlay's folder beside it."""
    from indexer.location import resolve_index_dir
    from indexer.shared_view import overlay_dir

    local = resolve_index_dir(root, settings.index_dir or None)
    return Path(overlay_dir(local, settings.shared_index) if settings.shared_index else local)


class Runtime:
    """Every long-lived part of one daemon (or one headless command) for one workspace.

    ``index_worker``: start the worker that keeps the index fresh (the daemon does; headless commands read the
    index as it is). ``retrieval``: retrieve from the workspace at all.
    """

    def __init__(self, settings: Settings, root: Path | None, *, report: Report, progress: Any = None,
                 log_to_client: Callable[[str], None] | None = None,
                 publish: Callable[[Suggestion], None] | None = None,
                 index_worker: bool = True, retrieval: bool = True) -> None:
        self.settings = settings
        self.root = root
        self._report = report
        self._log_to_client = log_to_client
        self.tracer = Tracer(settings.cache_path() / "traces" if settings.trace else None)
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()
        self._shared_said_down = False
        self.retrieval: WorkspaceRetrieval | None = (
            open_workspace_retrieval(settings, root, index_dir_for(settings, root),
                                     shared_changed=self._shared_changed)
            if retrieval and root is not None else None)
        self.index: IndexLink | None = (
            IndexLink(settings, root, index_dir_for(settings, root), report=report, progress=progress,
                      indexed=self._files_indexed, built=self._index_built, shared_changed=self._say_shared)
            if index_worker and root is not None else None)
        self.service = CompletionService(self, settings, publish=publish, trouble=self._model_trouble)
        self.backends: tuple[ModelBackend, ModelBackend] | None = None
        self.backend_error: str | None = None
        self.embedder: Any = None  # the query embedder of the vector source (embeddings on)
        self._engine: CompletionEngine | None = None
        self._models_settled = asyncio.Event()  # set once the backends are up, or failed
        self._background: set[asyncio.Task[Any]] = set()

    # ---- what the service asks (its EngineSource) -----------------------------------------------------
    @property
    def engine(self) -> CompletionEngine | None:
        return self._engine

    async def models_ready(self) -> None:
        await self._models_settled.wait()

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Bring up the index worker and the models side by side; a model that is not there is retried."""
        self.start_vector_source()
        await asyncio.gather(self._start_index(), self._start_models())

    async def _start_index(self) -> None:
        if self.index is not None:
            await self.index.start()

    async def start_models(self, *, retry: bool = False) -> bool:
        """Bring the models up (headless commands: once); False when they failed (``backend_error`` says why)."""
        try:
            return await self._bring_up_models(retrying=retry)
        finally:
            self._models_settled.set()

    async def _start_models(self) -> None:
        if not await self.start_models(retry=True):
            # Ollama may be starting, or a model still downloading: try again with a backoff, quietly, and say
            # so once when it comes up. Requests meanwhile get no suggestion (and srag/status says why).
            self._spawn(self._retry_models())

    async def _retry_models(self) -> None:
        attempt = 0
        while self._engine is None:
            await asyncio.sleep(MODEL_RETRY_S[min(attempt, len(MODEL_RETRY_S) - 1)])
            attempt += 1
            if await self._bring_up_models(quiet=True) and self.backends is not None:
                draft, _ = self.backends
                self._report(f"srag-lsp: the model backend is up now ({draft.info.backend}: {draft.info.model})",
                             types.MessageType.Info)
                return

    async def _bring_up_models(self, *, quiet: bool = False, retrying: bool = True) -> bool:
        """Start the backends and build the engine; True when it worked. ``quiet``: a retry, failures only logged;
        ``retrying``: the daemon tries again in the background (and says so)."""
        later = " (retrying in the background)" if retrying else ""
        try:
            backends = await make_backends(self.settings, self._report)
        except Exception as exc:
            said_before = quiet and self.backend_error is not None
            self.backend_error = str(exc)
            if said_before:
                log.info("model backend still not ready: %s", exc)
            elif isinstance(exc, BackendError):
                self._report(f"srag-lsp: no model backend: {exc}{later}",
                             types.MessageType.Error)
            else:
                log.exception("model backend failed to start")
                self._report(f"srag-lsp: the model backend failed to start: {exc}{later}",
                             types.MessageType.Error)
            return False
        self._engine = build_engine(self.settings, backends, root=self.root, retrieval=self.retrieval,
                                    tracer=self.tracer)
        self.backends, self.backend_error = backends, None
        draft, _ = backends
        if self._log_to_client is not None:
            self._log_to_client(f"srag-lsp: ready ({draft.info.backend}: {draft.info.model})")
        return True

    def start_vector_source(self) -> None:
        """With embeddings on: give retrieval's vector source the same embedder as the index worker, and load it
        in a thread (the first query would otherwise pay for it). Missing parts are reported; retrieval goes on."""
        if self.settings.embeddings == "off" or self.retrieval is None:
            return
        from indexer.embedding import EmbeddingError, make_embedder

        s = self.settings
        try:
            embedder = make_embedder(s.embeddings, model=s.embedding_model, host=s.ollama_host, model_dir=s.model_dir)
        except EmbeddingError as exc:
            if self.index is not None:
                self.index.state["embedding_error"] = str(exc)
            self._report(f"srag-lsp: embeddings are off: {exc}", types.MessageType.Warning)
            return
        self.embedder = embedder
        self.retrieval.set_embedder(embedder)
        self._spawn(self._warm_embedder(embedder))

    @staticmethod
    async def _warm_embedder(embedder: Any) -> None:
        try:
            await asyncio.to_thread(embedder.warm)
        except Exception as exc:  # a dead Ollama, say: the vector source fails per request and is dropped
            log.warning("the query embedder is not ready: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.service.update_settings(settings)
        if self.retrieval is not None:
            self.retrieval.update_settings(settings)
        if self._engine is not None:
            self._engine.update_settings(settings)

    async def close(self) -> None:
        await self.service.close()
        for task in list(self._background):
            task.cancel()
        if self.index is not None:
            await self.index.stop()
        if self.retrieval is not None:
            with contextlib.suppress(Exception):
                self.retrieval.close()
        if self.backends is not None:
            with contextlib.suppress(Exception):
                await close_backends(self.backends)

    # ---- the index's news --------------------------------------------------------------------------
    def _files_indexed(self, paths: list[str]) -> None:
        if self.retrieval is not None:
            self.retrieval.invalidate(paths)
        if self._engine is not None:
            self._engine.invalidate(paths)

    def _index_built(self) -> None:
        if self.retrieval is not None:
            self.retrieval.warm()  # the index may not have existed when retrieval first looked

    def _shared_changed(self, reachable: bool, message: str | None) -> None:
        """From a retrieval thread: the shared index stopped (or started again) answering."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._say_shared, reachable, message)

    def _say_shared(self, reachable: bool, message: str | None) -> None:
        """Say a shared index's outage once, and its return once (the reader and the worker both notice)."""
        if reachable == (not self._shared_said_down):
            return
        self._shared_said_down = not reachable
        if reachable:
            self._report("srag-lsp: the shared index answers again", types.MessageType.Info)
        else:
            self._report(f"srag-lsp: the shared index is not available: {message}. Retrieval goes on from your "
                         "local changes until it answers", types.MessageType.Warning)

    def _model_trouble(self, message: str) -> None:
        self._report(message, types.MessageType.Warning)

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
        if self.retrieval is not None:
            self.retrieval.buffer_changed(rel, text)
        if self.index is not None:
            self.index.buffer_changed(rel, text, version)

    def buffer_saved(self, uri: str) -> None:
        rel = self._rel(uri)
        if rel is not None and self.index is not None:
            self.index.buffer_saved(rel)

    def buffer_closed(self, uri: str) -> None:
        self.service.forget(uri)
        rel = self._rel(uri)
        if rel is None:
            return
        if self.retrieval is not None:
            self.retrieval.buffer_closed(rel)
        if self.index is not None:
            self.index.buffer_closed(rel)

    def reindex(self) -> dict[str, Any]:
        """Look at every file of the workspace again (the worker re-indexes what changed, with `$/progress`)."""
        if self.index is None or self.index.client is None:
            return {"state": self.index_state.get("state"), "error": "the index worker is not running"}
        if self.retrieval is not None:
            self.retrieval.invalidate([])
        return self.index.rescan()

    # ---- reports -----------------------------------------------------------------------------------
    @property
    def index_state(self) -> dict[str, Any]:
        if self.index is not None:
            return self.index.state
        return {"state": "off" if not self.settings.index_enabled else "starting"}

    def stats(self) -> dict[str, Any]:
        records = self.tracer.recent or (load_traces(self.tracer.path) if self.tracer.path else [])
        return summarize(records)

    async def index_status(self) -> dict[str, Any]:
        if self.index is None:
            return dict(self.index_state)
        return await self.index.status()

    def model_for_stage(self, stage: str) -> str | None:
        """The model that writes ``stage`` ("draft" or "refined") now; None before the models are up."""
        if self.backends is None:
            return None
        draft, refine = self.backends
        return (draft if stage == "draft" else refine).info.model

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index_state.get("state")}
        if self.backends is not None:
            draft, refine = self.backends
            out.update(backend=draft.info.backend, model=draft.info.model, refine_model=refine.info.model)
            if draft.info.backend != "embedded":
                out["server"] = draft.info.detail  # the model server's address (never a key: keys live in headers)
        if self.backend_error:
            out["backend_error"] = self.backend_error
        shared = self.index_state.get("shared_index")
        if self.settings.shared_index:
            known = shared if isinstance(shared, dict) else {}
            out["shared_index"] = {"uri": self.settings.shared_index, "version": known.get("version"),
                                   "overlay_files": known.get("overlay_files"), "reachable": known.get("reachable")}
        warmer = self.service.warmer
        out["warm_ups"] = {"runs": warmer.runs, "prompt_tokens": warmer.warmed_tokens}
        return out


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
