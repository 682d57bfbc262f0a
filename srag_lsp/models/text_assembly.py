"""Generated token bytes into text that is safe to show: whole UTF-8 characters, stop sequences cut and held back."""

from __future__ import annotations

import codecs


def held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters might be the start of a stop sequence (not emitted yet)."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return hold


class TextAssembler:
    """Generated token bytes in, safe text out: whole UTF-8 characters only, stop sequences cut and held back."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, data: bytes) -> str:
        """The text that can be shown now ("" while a character or a possible stop sequence is incomplete)."""
        self.text += self.decoder.decode(data)
        cut = min(
            (i for i in (self.text.find(s, max(0, self.emitted - len(s))) for s in self.stops) if i != -1), default=-1
        )
        if cut != -1:
            self.text = self.text[:cut]
            self.stopped = True
            return self.flush()
        safe = len(self.text) - held_back(self.text, self.stops)
        if safe <= self.emitted:
            return ""
        piece = self.text[self.emitted : safe]
        self.emitted = safe
        return piece

    def flush(self) -> str:
        """What was held back for a stop sequence that never came (an unfinished character is dropped)."""
        piece = self.text[self.emitted :]
        self.emitted = len(self.text)
        return piece
