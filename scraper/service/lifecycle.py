"""Life cycle of a long-running process: signals, background tasks, draining the runs in
flight, and the watchdog that bounds the way out.

SIGTERM or SIGINT ask the process to stop: no new runs start, runs in flight get
``STOP_GRACE`` seconds to finish (their crawls are asked to stop every half second), then
are cancelled and record what they did. The watchdog ends the process ``HARD_DEADLINE``
seconds after the first signal whatever is stuck; a second signal exits at once. SIGHUP
asks for a config reload.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import FrameType
from typing import Any, Protocol

log = logging.getLogger(__name__)

STOP_GRACE = 20.0  # seconds runs in flight get to finish after a stop request
CANCEL_GRACE = 3.0  # then, seconds for cancelled runs to record themselves
HARD_DEADLINE = 28.0  # after the stop request the process exits, whatever is left
EXIT_ABORTED = 1  # a second signal: stopped at once
EXIT_FAILED = 1


class ServiceError(Exception):
    """The process cannot start (message is one line)."""


class Service(Protocol):
    """What ``run_service`` drives: the daemon or a fleet worker."""

    async def run(self) -> None:
        """Run until ``request_stop()``, then wind down."""
        ...

    def request_stop(self) -> None: ...

    def request_reload(self) -> None: ...

    def close(self) -> None:
        """Release what outlives the event loop (extraction workers, database pools)."""
        ...


class Background:
    """Tasks that run beside the runs (config watch, database catch-up...), cancelled at
    shutdown."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Future[Any]] = []

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        self._tasks = [task for task in self._tasks if not task.done()]
        task = asyncio.ensure_future(work)
        self._tasks.append(task)
        return task

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()


async def drain(
    inflight: Mapping[str, asyncio.Future[Any]],
    stop_crawls: Callable[[], Awaitable[None]] | None,
    grace: float = STOP_GRACE,
    cancel_grace: float = CANCEL_GRACE,
    logger: logging.Logger = log,
) -> None:
    """Ask the crawls to stop and wait for the runs in ``inflight`` (a live mapping that
    shrinks as runs end); cancel what outlives ``grace``.

    ``stop_crawls()`` is called again every half second: a run moving on to its next
    channel starts a new crawler that must be stopped too."""
    deadline = time.monotonic() + grace
    stop_calls: list[asyncio.Future[None]] = []
    while inflight and time.monotonic() < deadline:
        if stop_crawls is not None:
            stop_calls.append(asyncio.ensure_future(stop_crawls()))
        await asyncio.wait(list(inflight.values()), timeout=0.5)
    leftover = list(inflight.values())
    if leftover:
        logger.warning("abandoning %d run(s) still in flight", len(leftover))
        for task in leftover:
            task.cancel()
        await asyncio.wait(leftover, timeout=cancel_grace)
    for call in stop_calls:
        call.cancel()


class Watchdog:
    """Ends the process HARD_DEADLINE seconds after it starts to stop, whatever is stuck:
    a hung download, an extraction worker that does not return, or a process pool that
    deadlocks when the interpreter joins its threads at exit. Orchestrators send SIGKILL
    at 30 s; an exit of our own, with the intended exit code, is cleaner than that.

    It is never disarmed: it is a daemon thread, so a process that exits in time is not
    held up by it, and one that hangs anywhere on the way out is ended."""

    def __init__(self, seconds: float = HARD_DEADLINE) -> None:
        self.seconds = seconds
        self.exit_code = 0
        self._timer: threading.Timer | None = None

    def arm(self, exit_code: int = 0) -> None:
        """Start the countdown (once; later calls only change the exit code)."""
        self.exit_code = exit_code
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.error(
            "still stopping after %.0f s: exiting now; unfinished work is abandoned "
            "(files are written atomically, so none is half-written)",
            self.seconds,
        )
        logging.shutdown()
        os._exit(self.exit_code)


def run_service(service: Service, logger: logging.Logger = log) -> int:
    """Run ``service`` in Scrapy's asyncio reactor until a signal; return the exit code.

    SIGTERM/SIGINT: ``request_stop()`` and the watchdog; a second one stops the reactor
    at once (exit 1). SIGHUP: ``request_reload()``."""
    from scraper.reactor import run_in_reactor

    watchdog = Watchdog()

    def on_stop_signal(signum: int) -> None:
        logger.warning("received %s", signal.Signals(signum).name)
        watchdog.arm()
        service.request_stop()

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def on_hangup(_signum: int, _frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(service.request_reload)

        previous = signal.signal(signal.SIGHUP, on_hangup)
        try:
            await service.run()
        finally:
            signal.signal(signal.SIGHUP, previous)

    code = EXIT_FAILED
    try:
        run_in_reactor(main, on_stop_signal)
        code = 0
    except KeyboardInterrupt:  # a second signal: the reactor stopped at once
        logger.warning("stopped at once by a second signal; runs in flight were abandoned")
        code = EXIT_ABORTED
    finally:
        watchdog.arm(code)  # from here on the process only winds down: bound it
        service.close()
    return code
