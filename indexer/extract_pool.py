"""Extracting many files for a build: in this process for a few, in a process pool for many, results in order.

Each pool task runs :func:`indexer.extract.extract_task` on ``files_per_task`` files. A task that fails costs
its files (reported as errors), not the build; when a pool process dies, the rest is extracted here.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from indexer.extract import FileResult, extract_files, extract_task, init_pool_process

if TYPE_CHECKING:
    from indexer.build_options import BuildOptions

log = logging.getLogger(__name__)

Items = list[tuple[str, str | None]]  # (workspace-relative path, the content hash recorded for it, or None)


def extract_results(root: str, items: Items, options: BuildOptions, stop: threading.Event) -> Iterator[FileResult]:
    """The redacted results of ``items``, in order; a pool is used from ``parallel_min_files`` files on."""
    if len(items) < options.parallel_min_files or options.processes <= 1:
        yield from _serial(root, items, options)
        return
    yield from _pool_results(root, items, options, stop)


def _serial(root: str, items: Items, options: BuildOptions) -> Iterator[FileResult]:
    return extract_files(root, items, max_bytes=options.max_file_bytes, max_chunk_lines=options.max_chunk_lines)


def _pool_results(root: str, items: Items, options: BuildOptions, stop: threading.Event) -> Iterator[FileResult]:
    """Extract in a process pool, ``files_per_task`` files a task, yielding results in order."""
    per_task = options.files_per_task
    groups = [items[i : i + per_task] for i in range(0, len(items), per_task)]
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("indexer").getEffectiveLevel()
    handlers = logging.getLogger().handlers
    fmt = getattr(handlers[0].formatter, "_fmt", None) if handlers and handlers[0].formatter else None
    pool = ProcessPoolExecutor(
        max_workers=min(options.processes, len(groups)),
        mp_context=context,
        initializer=init_pool_process,
        initargs=(level, fmt),
    )
    try:
        futures: list[Future[list[FileResult]]] = [
            pool.submit(extract_task, root, group, options.max_file_bytes, options.max_chunk_lines) for group in groups
        ]
        for index, (group, future) in enumerate(zip(groups, futures, strict=True)):
            if stop.is_set():
                break
            try:
                yield from future.result()
            except BrokenProcessPool as exc:
                log.error("a chunking process died (%s); chunking the rest in this process", exc)
                for rel, _known in group:
                    yield FileResult(rel, error=f"the chunking process died: {exc}")
                rest = [item for later in groups[index + 1 :] for item in later]
                yield from _serial(root, rest, options)
                return
            except Exception as exc:  # one failed task costs its files, not the build
                log.warning("a chunking task failed: %s", exc)
                for rel, _known in group:
                    yield FileResult(rel, error=f"chunking task failed: {exc}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
