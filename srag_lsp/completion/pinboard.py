"""The retrieved context a document's prompts carry, kept stable while the user types.

Context comes first in the prompt, so any change to it makes the model evaluate everything after it again.
The pinboard keeps, per document, the chunks already in its prompts in the order they were pinned; new chunks
are appended (never re-ranked), and the oldest go only when the token budget forces it. Chunks that copy the
code being completed (a test that quotes it, a stale duplicate) are never pinned: they teach the model nothing
and pull it toward the old text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

MAX_DOCUMENTS = 64
CHARS_PER_TOKEN = 3.2  # a rough average for code in Qwen's tokenizer; only for budgeting


class ChunkLike(Protocol):
    id: str
    path: str
    text: str
    symbol: str


def approx_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def copies_the_cursor(chunk: ChunkLike, line_prefix: str, previous_lines: Sequence[str]) -> bool:
    """A chunk that contains the lines right above the cursor, and the cursor line so far, is a copy of it."""
    text = chunk.text
    anchors = [ln.strip() for ln in previous_lines if len(ln.strip()) >= 12][-2:]
    if not anchors:
        return False
    if not all(a in text for a in anchors):
        return False
    typed = line_prefix.strip()
    return len(typed) < 4 or typed in text


@dataclass(slots=True)
class _Board:
    chunks: OrderedDict[str, ChunkLike] = field(default_factory=OrderedDict)
    tokens: int = 0
    line: int = -1  # where the request that last opened the board stood
    opened_by: str = ""  # that request's id


SAME_PLACE_LINES = 3  # a request within this many lines of the board's place types on in the same place


def _at_its_place(board: _Board, line: int) -> bool:
    """Whether a request at ``line`` types on where the board was opened (an empty board has no place)."""
    return bool(board.chunks) and abs(line - board.line) <= SAME_PLACE_LINES


class Pinboard:
    def __init__(self, budget_tokens: int) -> None:
        self.budget_tokens = budget_tokens
        self._boards: OrderedDict[str, _Board] = OrderedDict()

    def set_budget(self, budget_tokens: int) -> None:
        """A new token budget (the editor's settings changed): it applies from the next pin."""
        self.budget_tokens = budget_tokens

    def pinned(self, uri: str) -> list[ChunkLike]:
        board = self._boards.get(uri)
        return list(board.chunks.values()) if board else []

    def pin(self, uri: str, chunks: Sequence[ChunkLike], *, line: int = -1, request_id: str = "",
            force: bool = False) -> list[ChunkLike]:
        """Append the chunks not pinned yet (in the given order) within the budget; return those added.

        While the user types on in one place, the board is frozen: only the request that opened it at this place
        may add to it (its retrieval lands in several updates), or ``force`` (evidence such as a name the
        workspace does not define). Any addition makes the model evaluate the whole file window again.
        """
        board = self._boards.get(uri)
        if board is None:
            board = self._boards[uri] = _Board()
            while len(self._boards) > MAX_DOCUMENTS:
                self._boards.popitem(last=False)
        self._boards.move_to_end(uri)
        if not _at_its_place(board, line):
            board.line, board.opened_by = line, request_id  # a new place: this request opens the board
        elif not force and request_id != board.opened_by:
            return []
        added: list[ChunkLike] = []
        for chunk in chunks:
            if chunk.id in board.chunks:
                continue
            cost = approx_tokens(chunk.text)
            if cost > self.budget_tokens:
                continue
            while board.tokens + cost > self.budget_tokens and board.chunks:
                _, old = board.chunks.popitem(last=False)
                board.tokens -= approx_tokens(old.text)
            board.chunks[chunk.id] = chunk
            board.tokens += cost
            added.append(chunk)
        return added

    def at_place(self, uri: str, line: int) -> bool:
        """Whether the document's board was opened at (or near) ``line``: its pinned context belongs there."""
        board = self._boards.get(uri)
        return board is not None and _at_its_place(board, line)

    def frozen(self, uri: str, line: int, request_id: str) -> bool:
        """Whether a request here types on in a place whose board another request opened (it adds nothing)."""
        board = self._boards.get(uri)
        return board is not None and _at_its_place(board, line) and request_id != board.opened_by

    def forget(self, uri: str) -> None:
        self._boards.pop(uri, None)

    def drop_paths(self, paths: Sequence[str]) -> None:
        """Chunks of re-indexed files are stale: unpin them (their new text comes back through retrieval)."""
        changed = set(paths)
        for board in self._boards.values():
            for chunk_id in [cid for cid, c in board.chunks.items() if c.path in changed]:
                board.tokens -= approx_tokens(board.chunks.pop(chunk_id).text)
