"""Giving a process's free heap memory back to the operating system.

glibc's malloc keeps the memory of freed blocks for reuse; it returns it only from the top
of a heap, so one live block above a hole keeps the hole. A process that churns through
large pages (the crawl process holds each downloaded page until its worker is done; a
worker builds and drops an lxml tree and trafilatura's copies of it per page) ends up
with tens of MB of such holes: counted as its memory, used by nothing. ``trim_heap``
(``malloc_trim(0)``) hands the unused pages of those holes back; the blocks themselves
stay where they are, so nothing moves and nothing is copied. It costs a walk over the
free blocks, about a millisecond on a heap of 100 MB: done every few seconds in the
crawl process (off the event loop) and after large pages in the workers.

Elsewhere than with glibc (musl, macOS) there is no ``malloc_trim``: nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_loaded = False
_last_trim = 0.0


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _loaded
    if not _loaded:
        _loaded = True
        if sys.platform == "linux":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                function = libc.malloc_trim
            except (OSError, AttributeError):  # not glibc
                function = None
            if function is not None:
                function.argtypes = [ctypes.c_size_t]
                function.restype = ctypes.c_int
                _trim = function
    return _trim


def trim_heap(min_interval: float = 0.0) -> bool:
    """Return the heap's free pages to the operating system; False when this C library
    cannot, or when the last trim of this process was less than ``min_interval``
    seconds ago (several crawls of one process share the work)."""
    global _last_trim
    trim = _malloc_trim()
    if trim is None:
        return False
    now = time.monotonic()
    if min_interval and now - _last_trim < min_interval:
        return False
    _last_trim = now
    trim(0)
    return True
