"""The crawl job: one source, one run. The single unit the daemon (APScheduler, one node)
and a fleet worker (procrastinate, many nodes) both call.

    start_run -> CrawlService.crawl([source]) -> outcome_of -> finish_run

A run is a job with plain inputs and outputs: a source (and, in a fleet, the id of the
job engine's job) in, a RunOutcome out. Nothing else passes between runs, so a run can
happen on any machine: what it writes is idempotent (files named by article id, rows
unique on the URL), so a run that happens again adds no file or row twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from scraper.config import Source
from scraper.crawl import CrawlOptions, CrawlReport, RunOutcome, outcome_of
from scraper.logs import one_line
from scraper.storage.base import RunRecord
from scraper.storage.files import FileStore
from scraper.storage.sync import note_pending
from scraper.summary import CrawlSummary

if TYPE_CHECKING:
    from scraper.storage.base import Database

T = TypeVar("T")


class CrawlEngine(Protocol):
    """What a run needs of scraper.crawl.CrawlService (tests pass a fake)."""

    database: Database | None
    files: FileStore

    async def crawl(self, sources: list[Source], options: CrawlOptions) -> CrawlReport: ...

    async def stop(self) -> None: ...

    def close(self) -> None: ...


class Bookkeeper(Protocol):
    """Runs database calls for the job and hears about database failures
    (scraper.service.dblink.DatabaseLink)."""

    async def call(self, call: Callable[[Database], T]) -> T | None: ...

    def failed(self, reason: str) -> None: ...


def _finish_run(database: Database, run: RunRecord) -> bool:
    assert run.run_id is not None
    database.finish_run(run.run_id, run.finished_at, run.status, run.counts)
    return True


def worker_name() -> str:
    """``host:pid`` of this process, as recorded in crawl_runs.worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


def now_local() -> datetime:
    return datetime.now().astimezone()


def crashed(source_id: str, exc: BaseException) -> RunOutcome:
    summary = CrawlSummary(source_id)
    reason = f"run crashed: {type(exc).__name__}"
    summary.fail(reason)
    return RunOutcome("failed", summary, f"{reason}: {one_line(exc)}")


def abandoned(source_id: str, live: list[CrawlSummary]) -> RunOutcome:
    summary = live[0] if live else CrawlSummary(source_id)
    summary.fail("abandoned at shutdown")
    return RunOutcome("partial", summary, "abandoned at shutdown")


@dataclass(frozen=True)
class RunResult:
    source_id: str
    outcome: RunOutcome
    started: datetime
    finished: datetime
    seconds: float
    run_id: int | None
    cancelled: bool = False  # abandoned at shutdown


class CrawlJob:
    """Runs sources once each on a shared crawl service, recording every run."""

    def __init__(
        self,
        service: CrawlEngine,
        books: Bookkeeper,
        logger: logging.Logger,
        stopping: Callable[[], bool],
        worker: str | None = None,
    ) -> None:
        self.service = service
        self.books = books
        self.log = logger
        self.stopping = stopping
        self.worker = worker or worker_name()

    async def run(
        self,
        source: Source,
        job_id: int | None = None,
        on_finished: Callable[[RunResult], Awaitable[None] | None] | None = None,
    ) -> RunResult:
        """Crawl ``source`` once. A cancellation (abandoned at shutdown) ends here: the
        run records what it did so far and returns with ``cancelled`` set.
        ``on_finished`` hears the result before the run's row is closed."""
        started, clock = now_local(), time.monotonic()
        worker = self.worker
        run_id = await self.books.call(
            lambda db: db.start_run(source.id, started, worker=worker, job_id=job_id)
        )
        live: list[CrawlSummary] = []
        cancelled = False
        try:
            outcome = await self._crawl(source, live)
        except asyncio.CancelledError:
            outcome, cancelled = abandoned(source.id, live), True
        result = RunResult(
            source.id, outcome, started, now_local(), time.monotonic() - clock, run_id, cancelled
        )
        if on_finished is not None:
            maybe = on_finished(result)
            if maybe is not None:
                await maybe
        log_run(self.log, source.id, outcome, result.seconds)
        if outcome.database_error is not None:
            self.books.failed(outcome.database_error)
        await self._record_end(source, result, job_id)
        return result

    async def _record_end(self, source: Source, result: RunResult, job_id: int | None) -> None:
        """Close the run's row; while the database is down (the row was never made, or
        cannot be closed now), journal the run for the catch-up to write."""
        run = RunRecord(
            source.id,
            result.started,
            result.finished,
            result.outcome.status,
            result.outcome.summary.as_dict(),
            self.worker,
            job_id,
            result.run_id,
        )
        recorded = None
        if run.run_id is not None:
            recorded = await self.books.call(lambda db: _finish_run(db, run))
        if recorded is None:
            root = self.service.files.root
            try:
                await asyncio.to_thread(note_pending, root, [], runs=[run])
            except OSError as exc:
                self.log.error("%s: run not recorded: %s", source.id, one_line(exc))

    async def _crawl(self, source: Source, live: list[CrawlSummary]) -> RunOutcome:
        """Run the crawl; ``live`` receives its running summary, so a run abandoned at
        shutdown still records the articles it stored."""
        service = self.service
        crawl = asyncio.ensure_future(service.crawl([source], CrawlOptions()))
        await asyncio.sleep(0)  # crawl() registers its contexts in service.active first
        active: dict[str, Any] = getattr(service, "active", {})
        summary = getattr(active.get(source.id), "summary", None)
        if isinstance(summary, CrawlSummary):
            live.append(summary)
        try:
            report = await crawl
        except asyncio.CancelledError:
            crawl.cancel()
            raise
        except Exception as exc:  # one source's bug must not end the process
            self.log.exception("%s: run crashed", source.id, extra={"source": source.id})
            return crashed(source.id, exc)
        return outcome_of(report, source.id, stopping=self.stopping())


def log_run(logger: logging.Logger, source_id: str, outcome: RunOutcome, seconds: float) -> None:
    s = outcome.summary
    failed = sum(s.failed.values())
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    logger.log(
        level,
        "%s: %s in %.1f s: discovered %d, new %d, updated %d, unchanged %d, failed %d%s",
        source_id,
        outcome.status,
        seconds,
        s.discovered,
        s.new,
        s.updated,
        s.unchanged,
        failed,
        f" ({outcome.error})" if outcome.error else "",
        extra={
            "source": source_id,
            "status": outcome.status,
            "seconds": round(seconds, 3),
            "new": s.new,
            "updated": s.updated,
            "unchanged": s.unchanged,
            "failed": failed,
        },
    )
