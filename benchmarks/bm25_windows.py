"""The baseline most assistants ship (Tabby, Cody): BM25 over fixed line windows of the other files.

Every other file of the workspace is cut into ``window``-line windows (overlapping by half); the query is
the last ``query_lines`` lines before the cursor; both are bags of identifier tokens. No symbols, no
imports: whatever shares the most rare words with the code just typed wins.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


@dataclass(slots=True)
class Window:
    path: str
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str


class WindowIndex:
    """An in-memory BM25 index of line windows."""

    def __init__(
        self, files: dict[str, str], *, window: int = 20, stride: int = 10, k1: float = 1.2, b: float = 0.75
    ) -> None:
        self.windows: list[Window] = []
        self._tf: list[Counter[str]] = []
        self._lengths: list[int] = []
        postings: dict[str, list[int]] = {}
        for path in sorted(files):
            lines = files[path].split("\n")
            starts = range(0, max(1, len(lines) - window + stride), stride)
            for start in starts:
                chunk = lines[start : start + window]
                if not any(line.strip() for line in chunk):
                    continue
                counts = Counter(tokens("\n".join(chunk)))
                index = len(self.windows)
                self.windows.append(Window(path, start + 1, start + len(chunk), "\n".join(chunk)))
                self._tf.append(counts)
                self._lengths.append(sum(counts.values()))
                for term in counts:
                    postings.setdefault(term, []).append(index)
        self._postings = postings
        n = max(1, len(self.windows))
        self._avg = sum(self._lengths) / n if self._lengths else 1.0
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in postings.items()}
        self.k1, self.b = k1, b

    def search(self, query: str, *, exclude_path: str | None = None, k: int = 10) -> list[Window]:
        scores: dict[int, float] = {}
        for term, qtf in Counter(tokens(query)).items():
            idf = self._idf.get(term)
            if idf is None:
                continue
            for index in self._postings[term]:
                tf = self._tf[index][term]
                norm = tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * self._lengths[index] / self._avg))
                scores[index] = scores.get(index, 0.0) + idf * norm * qtf
        ranked = sorted(scores, key=lambda i: -scores[i])
        out = []
        for index in ranked:
            if exclude_path is not None and self.windows[index].path == exclude_path:
                continue
            out.append(self.windows[index])
            if len(out) >= k:
                break
        return out


def query_for(prefix_text: str, query_lines: int = 20) -> str:
    """The last ``query_lines`` lines of the text before the cursor."""
    return "\n".join(prefix_text.split("\n")[-query_lines:])
