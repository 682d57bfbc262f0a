"""A completion request and the local context around its cursor (the file prefix and suffix windows)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

_ids = itertools.count(1)


def new_suggestion_id() -> str:
    return f"s{next(_ids)}"


@dataclass(slots=True)
class CompletionRequest:
    uri: str
    path: str  # workspace-relative (or absolute when outside the workspace)
    text: str  # the whole buffer
    line: int  # 0-based
    col: int  # 0-based, in Python characters (code points)
    version: int = 0
    language: str | None = None
    id: str = field(default_factory=new_suggestion_id)
    client_col: int | None = None  # the column in the client's units (UTF-16) for notifications
    arrived: float = field(default_factory=time.perf_counter)  # when the editor's request reached the daemon
    waited_ms: float = 0.0  # time spent on purpose before the engine (model still loading, debounce)

    @property
    def position_col(self) -> int:
        return self.col if self.client_col is None else self.client_col

    def offset(self) -> int:
        """Character offset of the cursor; a position past the end of a line or file is clamped."""
        lines = self.text.split("\n")
        line = min(max(self.line, 0), len(lines) - 1)
        col = min(max(self.col, 0), len(lines[line]))
        return sum(len(x) + 1 for x in lines[:line]) + col

    @property
    def line_prefix(self) -> str:
        """The cursor's line up to the cursor (a position past the end of a line is clamped)."""
        at = self.offset()
        return self.text[self.text.rfind("\n", 0, at) + 1: at]


@dataclass(slots=True)
class Suggestion:
    """What the client sees: the full text so far for one request, its stage, and whether it is final."""

    id: str
    uri: str
    version: int
    line: int
    col: int
    text: str
    stage: str  # "draft" | "refined"
    done: bool  # the last notification of its stage
    final: bool = False  # the last notification of the request
    first_line: bool = False  # the text's first line is complete (the run decided it: the editor may answer now)

    def to_params(self) -> dict:
        return {
            "uri": self.uri,
            "version": self.version,
            "position": {"line": self.line, "character": self.col},
            "id": self.id,
            "text": self.text,
            "stage": self.stage,
            "done": self.done,
            "final": self.final,
        }
