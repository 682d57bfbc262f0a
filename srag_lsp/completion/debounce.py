"""An adaptive debounce: wait a little only while the user types faster than the daemon can answer.

Tabby's agent derives its debounce from the typing interval and the expected response time. Here a request is
cheap to start and to cancel (its prefill is kept in the KV cache), so the first keystroke after a pause never
waits, nor does a key whose answer may land before the next keys come. Only while answers take several typing
intervals does a request wait up to half an interval (at most ``debounceMs``) for the next key, which saves the
CPU a generation that would be superseded anyway. (Measured: waiting whenever answers were merely slower than
keys delayed every keystroke of a typing session by 60 ms, past the next key; and an estimate that counted the
seconds of cold requests, jumps to a new place, kept it waiting while the warm answers took ~100 ms.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

PAUSE_S = 1.0  # a gap longer than this ends a typing burst
SLOW = 3.0  # wait only when an answer takes this many typing intervals: it could not land before the next keys
ALPHA = 0.3  # weight of the newest observation in the moving averages


class AdaptiveDebounce:
    def __init__(self, max_ms: Callable[[], int], clock: Callable[[], float] = time.perf_counter) -> None:
        self._max_ms = max_ms
        self._clock = clock
        self._last: dict[str, float] = {}
        self.interval_ms: dict[str, float] = {}
        self.response_ms: float | None = None

    def delay_s(self, uri: str) -> float:
        """Record a request's arrival; return how long it should wait before it starts."""
        now = self._clock()
        previous = self._last.get(uri)
        self._last[uri] = now
        if previous is None or now - previous > PAUSE_S:
            self.interval_ms.pop(uri, None)
            return 0.0
        gap = (now - previous) * 1000.0
        mean = self.interval_ms.get(uri)
        mean = gap if mean is None else (1 - ALPHA) * mean + ALPHA * gap
        self.interval_ms[uri] = mean
        limit = self._max_ms()
        if limit <= 0 or self.response_ms is None or self.response_ms < SLOW * mean:
            return 0.0
        return min(limit, mean / 2) / 1000.0

    def observe_response(self, first_visible_ms: float) -> None:
        """The time from a warm request's start to its first visible text (cold requests are not typing)."""
        r = self.response_ms
        self.response_ms = first_visible_ms if r is None else (1 - ALPHA) * r + ALPHA * first_visible_ms

    def forget(self, uri: str) -> None:
        self._last.pop(uri, None)
        self.interval_ms.pop(uri, None)
