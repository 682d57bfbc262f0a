"""Token healing's first half: move the partial token at the end of a prompt's prefix out of the prompt.

A BPE model writes a word with the space or punctuation before it as one token (" return", ".get"; Qwen's
pre-tokenizer splits "        close" into seven spaces and " close"). A prompt that ends inside such a unit
("    r", "x = fo", "self.ge") ends on a token the model never saw there, and the model starts a new line or
repeats the line instead of finishing the word (offline, on the tuned packages: the first five keys of a line were
right 0.03 of the time). So the prefix gives up its last unit, which the output must then start with
(``models.forced_start``): the model chooses its own tokens for the word, as it was trained to.

Only the unit moves, never the indentation before it: forced to write indentation, the model spent a token on each
space (it writes indentation as a run of spaces and then a word with one space in front), six tokens of nothing
visible at an 8-space indent, and a key at 200 ms showed nothing in the first word of a line.
"""

from __future__ import annotations

import re

MAX_PARTIAL_CHARS = 64  # a longer unit (a very long name) is left in the prompt
_UNIT = re.compile(r"[^\w\n]?\w*\Z")


def split_partial_token(prefix: str) -> tuple[str, str]:
    """``(prefix without its last unit, the unit)``; ``(prefix, "")`` when the cursor's line holds no code.

    The unit is the name being typed with the one space or punctuation character before it (" fo", ".ge", " c"
    after an indentation, or " " after "x =").
    """
    start = prefix.rfind("\n") + 1
    line = prefix[start:]
    if not line.strip():
        return prefix, ""
    match = _UNIT.search(line)
    unit = match.group(0) if match else ""
    if not unit or len(unit) > MAX_PARTIAL_CHARS:
        return prefix, ""
    return prefix[: len(prefix) - len(unit)], unit
