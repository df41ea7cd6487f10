"""Admission of runs: which sources are crawling, which wait for one of a fixed number of
slots.

The daemon admits runs itself (the crawl service's gate is never contended) so that a
stop can drop the waiting ones at once: they have not started anything. A fleet worker's
job engine limits concurrency on its own; the worker still registers its runs here, so a
stop drains them the same way and /healthz lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from scraper.metrics import DaemonMetrics


class Admission:
    def __init__(self, slots: int, metrics: DaemonMetrics) -> None:
        self.metrics = metrics
        self.inflight: dict[str, asyncio.Future[Any]] = {}  # source id -> its run's task
        self.waiting: dict[str, asyncio.Future[Any]] = {}
        self._slots = asyncio.Semaphore(slots)

    async def acquire(self, source_id: str) -> bool:
        """Wait for a slot (the caller's task is listed as waiting meanwhile). False when
        the wait was cancelled (a stop): nothing started, nothing to record."""
        task = asyncio.current_task()
        assert task is not None
        self.waiting[source_id] = task
        self.count()
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            return False
        finally:
            self.waiting.pop(source_id, None)
            self.count()
        return True

    def release(self) -> None:
        self._slots.release()

    @contextlib.contextmanager
    def running(self, source_id: str) -> Iterator[None]:
        """List the current task as the run of ``source_id`` while the block runs."""
        task = asyncio.current_task()
        assert task is not None
        self.inflight[source_id] = task
        self.count()
        try:
            yield
        finally:
            self.inflight.pop(source_id, None)
            self.count()

    async def drop_waiting(self, grace: float) -> None:
        """Cancel the runs waiting for a slot and give them ``grace`` seconds to go."""
        waiting = list(self.waiting.values())
        for task in waiting:
            task.cancel()
        if waiting:
            await asyncio.wait(waiting, timeout=grace)

    def count(self) -> None:
        self.metrics.running.set(len(self.inflight))
        self.metrics.waiting.set(len(self.waiting))
