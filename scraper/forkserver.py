"""The fork server the extraction workers are forked from on Linux (see
``scraper.workers``), and starting it early.

Its imports and language model (``scraper.worker_boot``: about a second of CPU) are the
longest step before a crawl's first page can be extracted. ``scraper crawl`` starts it
before anything else is imported (``scraper.command``), so that it runs beside the
command line's own imports, the configuration, Scrapy's start and the first downloads
instead of after them. This module imports only the standard library for that reason.

A server started that way ends when the command does: a crawl that stops early (a
configuration error, say) would otherwise leave it loading for a second, holding the
command's output open for whoever reads it to the end.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.context import BaseContext

_start_lock = threading.Lock()
_started = False


def start_context() -> BaseContext:
    """The fork server on Linux, else spawn."""
    if sys.platform != "linux":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Read when the (process-wide) fork server starts, with the first pool.
    context.set_forkserver_preload(["scraper.worker_boot"])
    return context


def start_fork_server() -> None:
    """Start the fork server now, in the background, if this platform uses one and it
    is not started yet. The pools use the same (process-wide) server when they start;
    it is ended when this process exits. Returns at once."""
    global _started
    if sys.platform != "linux":
        return
    from multiprocessing import forkserver

    with _start_lock:
        if _started:
            return
        _started = True
        start_context()  # sets what the server preloads

        def start() -> None:
            # A failure here is met again, and reported, when the first pool starts.
            with contextlib.suppress(Exception):
                forkserver.ensure_running()

        threading.Thread(target=start, name="fork-server-start", daemon=True).start()
        atexit.register(_end_server)


def _end_server() -> None:
    """End the fork server now (its workers, if any are left, end with it), rather than
    when it notices that this process is gone: only once its imports are done."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if isinstance(pid, int):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
