"""The index writer's pending requests: coalesced file changes, the newest text of each unsaved buffer, a rescan.

Requests only queue work here; the writer takes it when it is due. File changes collect into one set of
workspace-relative paths, and each unsaved buffer keeps its newest text until typing pauses (or a deadline
passes). :class:`PendingWork` has no lock of its own: the writer's condition guards every call.
:func:`workspace_relative` turns the paths requests name into the workspace-relative form kept here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class PendingBuffer:
    text: str | None  # None: revert to the file on disk
    version: int
    first_at: float
    last_at: float


@dataclass(slots=True)
class PendingWork:
    paths: set[str] = field(default_factory=set)
    buffers: dict[str, PendingBuffer] = field(default_factory=dict)
    rescan: bool = False

    def count(self) -> int:
        return len(self.paths) + len(self.buffers) + int(self.rescan)

    def add_buffer(self, rel: str, text: str, version: int, now: float) -> bool:
        """Keep ``text`` as the buffer's newest; False (nothing kept) for an older version arriving late."""
        previous = self.buffers.get(rel)
        if previous is not None and previous.text is not None and version < previous.version:
            return False
        first = previous.first_at if previous is not None and previous.text is not None else now
        self.buffers[rel] = PendingBuffer(text, int(version), first, now)
        return True

    def close_buffer(self, rel: str, now: float) -> None:
        self.buffers[rel] = PendingBuffer(None, 0, now, now)

    def buffer_wait(self, quiet_s: float, max_delay_s: float) -> float | None:
        """Seconds until the next pending buffer is due (<= 0: now); None when there is none.

        A buffer is due once typing has paused for ``quiet_s``, or ``max_delay_s`` after its first pending
        change; a closed buffer is due at once."""
        if not self.buffers:
            return None
        now = time.monotonic()
        return min(
            0.0 if p.text is None else min(p.last_at + quiet_s, p.first_at + max_delay_s) - now
            for p in self.buffers.values()
        )

    def take_due_buffers(self, quiet_s: float, max_delay_s: float) -> dict[str, PendingBuffer]:
        """Remove and return the buffers that are due (see :meth:`buffer_wait`)."""
        now = time.monotonic()
        due = {
            rel: p
            for rel, p in self.buffers.items()
            if p.text is None or min(p.last_at + quiet_s, p.first_at + max_delay_s) <= now
        }
        for rel in due:
            del self.buffers[rel]
        return due


def workspace_relative(root: Path, path: str) -> str | None:
    """``path`` (absolute, or relative to the workspace) relative to ``root``; None when it lies outside."""
    if not path:
        return None
    candidate = Path(path)
    if not candidate.is_absolute():
        rel = candidate.as_posix()
        return None if rel in ("", ".") or rel.startswith("../") else rel
    for base in (candidate, _resolve_parent(candidate)):
        try:
            rel = base.relative_to(root).as_posix()
        except ValueError:
            continue
        return rel if rel not in ("", ".") else None
    return None


def _resolve_parent(path: Path) -> Path:
    """``path`` with its folder resolved (symlinked workspace roots), the file itself may not exist."""
    try:
        return path.parent.resolve() / path.name
    except OSError:
        return path
