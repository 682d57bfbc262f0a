"""Stop a running ``llama_decode`` from another thread at once, without the GIL.

A keystroke supersedes the generation for the previous one. Between tokens the worker looks at a cancel flag, but
a decode already running (a prompt batch, 30 to 200 ms here) used to finish first, and the next keystroke's
request waited for it: measured, that wait alone pushed a third of the keystrokes' first text past the next key.

Only a generation's token decodes are aborted (``arm``): a prompt batch holds the prefix that the next keystroke's
prompt shares, so it runs to its end (measured: aborting prompt batches too left the typed characters out of
the cache at every key, and each next prompt had one more token to evaluate, past the next key). The exception
is a cancelled job on another slot (``abort_if_cancelled``, from ``llama_slots.preempt_for``): its prompt is not the
one the next request shares, and every slot's jobs run on one thread, so the next request would wait for it.

llama.cpp calls an abort callback between the nodes of its compute graph; when it returns true, the decode stops
and ``llama_decode`` returns 2 after removing the aborted batch's positions from the KV cache (what was evaluated
before stays). A Python callback would take the GIL a thousand times per decode, so the callback is the C
library's ``strlen`` over a two-byte buffer ``[flag, NUL]``: it returns 1 (true) when the flag byte is set and 0
otherwise, with no Python involved. Where libc or the callback cannot be found, decodes simply run to their end.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

ABORTED = "llama_decode returned 2"  # the message llama-cpp-python raises for an aborted decode


def is_abort(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and ABORTED in str(exc)


def _strlen_address() -> int | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        return ctypes.cast(libc.strlen, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


class DecodeAborter:
    """The abort switch of one llama.cpp context, owned by whichever job (cancel event) is running on it."""

    def __init__(self, ctx: Any) -> None:
        self._flag = (ctypes.c_uint8 * 2)()  # [flag, NUL]: strlen is 1 when the flag is set
        self._lock = threading.Lock()
        self._owner: threading.Event | None = None
        self._armed = False
        self._steady = False  # a decode that must not be stopped is running (``steady``)
        self._callback: Any = None  # keeps the function pointer object alive
        self.enabled = self._install(ctx)

    def _install(self, ctx: Any) -> bool:
        address = _strlen_address()
        if address is None:
            return False
        try:
            import llama_cpp

            self._callback = llama_cpp.ggml_abort_callback(address)
            llama_cpp.llama_set_abort_callback(ctx, self._callback, ctypes.cast(self._flag, ctypes.c_void_p))
        except (AttributeError, TypeError, ctypes.ArgumentError) as exc:
            log.debug("no decode abort for llama.cpp: %s", exc)
            return False
        return True

    def begin(self, cancel: threading.Event) -> None:
        """A job starts on the context (under its lock): it owns the switch until ``end``, disarmed."""
        with self._lock:
            self._owner, self._armed = cancel, False
            self._flag[0] = 0

    def arm(self, cancel: threading.Event) -> None:
        """From now on the job's decodes produce nothing a later prompt needs: a cancel stops them at once."""
        with self._lock:
            if self._owner is cancel:
                self._armed = True
                self._flag[0] = 1 if cancel.is_set() and not self._steady else 0

    def end(self, cancel: threading.Event) -> None:
        with self._lock:
            if self._owner is cancel:
                self._owner, self._armed = None, False
                self._flag[0] = 0

    def abort_if_cancelled(self) -> None:
        """Stop the running decode now if its job was cancelled, armed or not (its prompt batch is not needed)."""
        with self._lock:
            if self._owner is not None and self._owner.is_set() and not self._steady:
                self._flag[0] = 1

    def abort(self, cancel: threading.Event) -> None:
        """Cancel the job; stop its running decode if it is armed (never another job's)."""
        cancel.set()
        with self._lock:
            if self._owner is cancel and self._armed and not self._steady:
                self._flag[0] = 1

    @contextlib.contextmanager
    def steady(self) -> Iterator[None]:
        """No decode in the block is stopped: one that applies a KV shift (llama.cpp re-rotates the shifted keys
        at the start of the next decode, layer by layer; stopped half way, the retry rotates some layers twice).
        A cancel that came meanwhile stops the next armed decode."""
        with self._lock:
            self._steady = True
            self._flag[0] = 0
        try:
            yield
        finally:
            with self._lock:
                self._steady = False
                if self._owner is not None and self._owner.is_set() and self._armed:
                    self._flag[0] = 1
