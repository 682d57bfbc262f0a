"""The events one completion run reacts to, typed: what its tasks (generations, retrieval, lookups) report.

Each task of a run posts its events on the run's queue; the run handles them one at a time, in order, so its
state changes in one place (``run.Run.handle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from srag_lsp.retrieval.types import ContextChunk, RetrievalUpdate

Stage = Literal["draft", "refined"]


@dataclass(frozen=True, slots=True)
class Generated:
    """A generation's text so far (``done``: its last text). ``n``: 0 the draft, n the n-th refinement."""

    stage: Stage
    n: int
    text: str
    done: bool


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    """A generation failed (the model server, the model); its ``Generated(done=True)`` follows."""

    stage: Stage
    n: int
    error: str


@dataclass(frozen=True, slots=True)
class Scored:
    """The context-aware prompt's preference for refinement ``n`` over the text shown, in nats a token (None: the
    backend cannot score; ``policy_reason`` then decides)."""

    n: int
    shown: str
    refined: str
    margin: float | None
    policy_reason: str


@dataclass(frozen=True, slots=True)
class ContextArrived:
    """A retrieval source landed: the fused chunks so far."""

    update: RetrievalUpdate


@dataclass(frozen=True, slots=True)
class RetrievalEnded:
    """Every source landed, or the deadline passed, or retrieval failed."""


@dataclass(frozen=True, slots=True)
class NamesLooked:
    """The definitions found for the names the draft used that the buffer does not define."""

    names: list[str]
    found: dict[str, list[ContextChunk]]


@dataclass(frozen=True, slots=True)
class TaskEnded:
    """One of the run's tasks ended: wakes the run to check whether anything still runs."""


RunEvent = Generated | GenerationFailed | Scored | ContextArrived | RetrievalEnded | NamesLooked | TaskEnded
