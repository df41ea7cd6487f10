"""Extraction in worker processes, off the crawl's event loop.

Extraction (HTML parsing, trafilatura, date and language detection) is CPU-bound; run on
the event loop it would stall every download and use one core. A process pool with one
worker per core keeps the loop free for I/O and uses both cores. Workers are started
with "spawn" (forking a process that runs a Twisted reactor and threads is unsafe) and
are replaced after a number of tasks so a weeks-long daemon does not grow without bound.

The replacement is done here, not with ProcessPoolExecutor(max_tasks_per_child=...):
on Python 3.11 that option deadlocks once workers reach their limit (CPython
gh-115634, fixed in 3.13 only). Instead, after ``workers * TASKS_PER_WORKER`` tasks new
work goes to a fresh executor while the old one finishes what it has and exits.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from scraper.models import ExtractionOutcome, FetchedPage, Skip

log = logging.getLogger(__name__)

TASKS_PER_WORKER = 500
EXTRACTION_TIMEOUT = 120.0


def _warm_up() -> None:
    """Import the heavy modules once per worker instead of on its first page."""
    import scraper.normalize  # noqa: F401


def _run(page: FetchedPage) -> ExtractionOutcome:
    from scraper.normalize import process_page

    return process_page(page)


class ExtractionPool:
    def __init__(
        self,
        workers: int,
        timeout: float = EXTRACTION_TIMEOUT,
        tasks_per_worker: int = TASKS_PER_WORKER,
    ) -> None:
        self.workers = workers
        self.timeout = timeout
        self.tasks_per_executor = workers * tasks_per_worker
        self._executor: ProcessPoolExecutor | None = None
        self._submitted = 0
        self.executors_started = 0

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is not None and self._submitted >= self.tasks_per_executor:
            # Retire it: queued tasks still finish, then its processes exit.
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
            )
            self._submitted = 0
            self.executors_started += 1
        self._submitted += 1
        return self._executor

    async def extract(self, page: FetchedPage) -> ExtractionOutcome:
        """The Document of ``page``, or a Skip with the reason; never raises."""
        try:
            future = self._pool().submit(_run, page)
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            log.warning("extraction timed out after %.0fs: %s", self.timeout, page.url)
            self._restart()
            return Skip(page.url, "extraction timed out", failure=True)
        except BrokenProcessPool:
            log.error("an extraction worker died on %s; restarting the pool", page.url)
            self._restart()
            return Skip(page.url, "extraction crashed", failure=True)
        except Exception as exc:  # a bug in extraction must not stop the crawl
            log.exception("extraction failed on %s", page.url)
            return Skip(page.url, f"extraction error: {type(exc).__name__}", failure=True)

    def _restart(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            for process in list(getattr(executor, "_processes", {}).values()):
                process.terminate()
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
