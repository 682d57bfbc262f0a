"""Suggestion events: every suggestion the user may see is published once; features subscribe to it.

The completion service publishes; the completion feature sends ``srag/suggestion`` to a streaming client, and the
acceptance feature remembers which model wrote it. A listener that fails never stops the others or the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from srag_lsp.completion.request import Suggestion

log = logging.getLogger(__name__)

Listener = Callable[[Suggestion], None]


class SuggestionEvents:
    """A list of listeners, called in the order they subscribed."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, suggestion: Suggestion) -> None:
        for listener in self._listeners:
            try:
                listener(suggestion)
            except Exception as exc:  # a closed client connection must not break generation
                log.debug("a suggestion listener failed: %s", exc)
