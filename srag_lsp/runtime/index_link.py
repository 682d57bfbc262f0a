"""The daemon's side of the index worker: starts it, forwards buffer changes, and turns its events into
``$/progress``, fresh retrieval and the state ``srag/indexStatus`` reports."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from srag_lsp.settings import Settings

log = logging.getLogger(__name__)

Report = Callable[[str, types.MessageType], None]
SMALL_UPDATE_FILES = 50  # after the first build, an update of fewer files shows no progress UI


class IndexLink:
    """One index worker for the workspace (``indexer.client.IndexClient``) and what its events mean here."""

    def __init__(self, settings: Settings, root: Path, index_dir: Path, *, report: Report, progress: Any = None,
                 indexed: Callable[[list[str]], None], built: Callable[[], None],
                 shared_changed: Callable[[bool, str | None], None] | None = None) -> None:
        self.settings = settings
        self.root = root
        self.index_dir = index_dir
        self._report = report
        self._progress = progress
        self._indexed = indexed  # files the worker re-wrote: retrieval and the pinboard drop what they hold of them
        self._built = built  # the first build is done: retrieval may look again
        self._shared_changed = shared_changed  # the worker found the shared index (un)reachable
        self.client: Any = None
        self.state: dict[str, Any] = {"state": "off" if not settings.index_enabled else "starting"}
        self._progress_token: str | None = None

    async def start(self) -> None:
        if not self.settings.index_enabled:
            return
        try:
            from indexer.client import IndexClient

            self.client = IndexClient()
            await self.client.start(str(self.root), str(self.index_dir), self.worker_settings(), self._on_event)
            self.state = {"state": "indexing", "index_dir": str(self.index_dir)}
        except Exception as exc:
            log.exception("index worker failed to start")
            self.state = {"state": "error", "error": str(exc)}
            self._report(f"srag-lsp: the index worker failed to start: {exc}; completing from local context",
                         types.MessageType.Warning)

    def worker_settings(self) -> dict[str, Any]:
        s = self.settings
        return {
            "max_file_bytes": s.max_file_bytes,
            "index_secrets": s.index_secrets,
            "embeddings": s.embeddings,
            "embedding_model": s.embedding_model,
            "ollama_host": s.ollama_host,
            "model_dir": s.model_dir,
            "shared_index": s.shared_index,
            "shared_index_options": dict(s.shared_index_options),
            "shared_index_copy_max_mb": s.shared_index_copy_max_mb,
        }

    async def stop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.stop()

    # ---- the worker's events -------------------------------------------------------------------------
    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "progress":
            self._on_progress(payload)
        elif kind == "indexed":
            self._indexed(list(payload.get("paths") or []))
        elif kind == "status":
            self.state = {**self.state, **payload}
            shared = payload.get("shared_index")
            if isinstance(shared, dict) and shared.get("reachable") is not None and self._shared_changed is not None:
                self._shared_changed(bool(shared["reachable"]), shared.get("error"))
        elif kind == "error":
            self.state["last_error"] = payload.get("message")
            log.warning("index: %s", payload.get("message"))

    def _on_progress(self, payload: dict[str, Any]) -> None:
        """One `$/progress` session per build: begin, a report per batch, end when the worker says done."""
        done, total = int(payload.get("done", 0)), int(payload.get("total", 0))
        phase = str(payload.get("phase", "index"))
        if phase == "done":
            self.state["state"] = "ready"
            self.state["initial_build_done"] = True
            self._built()
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
                if self.state.get("initial_build_done") and total < SMALL_UPDATE_FILES:
                    return
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

    # ---- buffers and requests ------------------------------------------------------------------------
    def buffer_changed(self, rel: str, text: str, version: int) -> None:
        if self.client is not None:
            self.client.buffer_changed(rel, text, version)

    def buffer_saved(self, rel: str) -> None:
        if self.client is not None:
            self.client.buffer_saved(rel)

    def buffer_closed(self, rel: str) -> None:
        if self.client is not None:
            self.client.buffer_closed(rel)

    def rescan(self) -> dict[str, Any]:
        """Look at every file of the workspace again (the worker re-indexes what changed, with `$/progress`)."""
        if self.client is None:
            return {"state": self.state.get("state"), "error": "the index worker is not running"}
        self.client.rescan()
        self.state["state"] = "indexing"
        return {"state": "indexing"}

    async def status(self) -> dict[str, Any]:
        if self.client is None:
            return dict(self.state)
        try:
            status = await self.client.status()
        except Exception as exc:
            return {**self.state, "last_error": str(exc)}
        return {**self.state, **status}
