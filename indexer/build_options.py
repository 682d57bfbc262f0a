"""How a build runs: :class:`BuildOptions` (file and chunk limits, write batches, the process pool) read from
settings, with bad values logged and replaced by their defaults."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from indexer.store import DEFAULT_CLEANUP_AGE

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BuildOptions:
    max_file_bytes: int = 1_000_000
    max_chunk_lines: int = 120
    index_secrets: bool = False
    write_batch_chunks: int = 4000  # rows per table write (each write is one or two table versions)
    parallel_min_files: int = 48  # below this, chunk in this process
    processes: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 4)))
    files_per_task: int = 24  # files per pool task
    manifest_save_interval_s: float = 2.0
    cleanup_age: timedelta = DEFAULT_CLEANUP_AGE

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> BuildOptions:
        """Options from a settings mapping (unknown keys ignored, bad values replaced by defaults, logged)."""
        options = cls()
        for key, value in (settings or {}).items():
            name = _snake(key)
            if name == "cleanup_age_s":
                try:
                    seconds = float(value)
                    if seconds > 0:
                        options.cleanup_age = timedelta(seconds=seconds)
                        continue
                except (TypeError, ValueError):
                    pass
                log.warning("ignoring invalid index setting %s=%r", key, value)
                continue
            if name not in cls.__dataclass_fields__ or name == "cleanup_age":
                continue
            current = getattr(options, name)
            try:
                if isinstance(current, bool):
                    coerced: Any = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                elif isinstance(current, int):
                    coerced = int(value)
                    if coerced <= 0:
                        raise ValueError("must be positive")
                else:
                    coerced = type(current)(value)
            except (TypeError, ValueError):
                log.warning("ignoring invalid index setting %s=%r", key, value)
                continue
            setattr(options, name, coerced)
        return options


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
