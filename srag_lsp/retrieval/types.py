"""The data that flows through retrieval: a cursor in a buffer in, ranked and budgeted context chunks out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CursorQuery:
    """Where the user is typing: a buffer (possibly unsaved) and a 0-based position in it."""

    path: str  # workspace-relative, forward slashes
    text: str  # the buffer's full current text
    line: int  # 0-based
    col: int  # 0-based, in code points of the line
    language: str | None = None  # key of the language table; None: guessed from the path


@dataclass(slots=True)
class ContextChunk:
    """One piece of retrieved context, ready for the prompt."""

    path: str  # workspace-relative
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    symbol: str
    kind: str
    source: str  # the source that ranked it best: symbol | imports | fts | buffers | vector | cache
    score: float
    text: str  # what goes into the prompt (the full body, or the signature when the budget is tight)
    signature: str
    id: str
    qualified_name: str = ""
    language: str = ""
    sources: tuple[str, ...] = ()  # every source that returned it
    compact: bool = False  # True when `text` was shortened to the signature/outline by the budget

    def overlaps(self, other: ContextChunk) -> bool:
        return self.path == other.path and self.start_line <= other.end_line and other.start_line <= self.end_line


@dataclass(slots=True)
class RetrievalUpdate:
    """Delivered each time a source lands: which one, how long it took, and the fused list so far."""

    source: str
    ms: float  # the source's own time (from the start of the request until it landed)
    chunks: list[ContextChunk]  # fused, deduplicated and budgeted, over every source landed so far
    ms_by_source: dict[str, float] = field(default_factory=dict)  # every source landed so far
    final: bool = False  # the last update of this request (all sources landed or the deadline passed)
    dropped: list[str] = field(default_factory=list)  # set on the final update: sources past the deadline
    cached: bool = False  # the chunks came (at least partly) from the retrieval cache
    analysis_ms: float = 0.0  # the cursor analysis (parse included), before any source started


@dataclass(slots=True)
class RetrievalResult:
    """Everything that landed within the deadline, fused and budgeted."""

    chunks: list[ContextChunk]
    ms: dict[str, float]  # per source, milliseconds from the start of the request
    dropped: list[str]  # sources that missed the deadline (or failed)
    cached: bool = False
    total_ms: float = 0.0
    analysis_ms: float = 0.0  # the cursor analysis (parse included)
