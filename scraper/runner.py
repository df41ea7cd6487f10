"""The manual crawl: open storage, run one CrawlService job in the reactor, report."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from scraper.config import Settings, Source
from scraper.crawl import CrawlOptions, CrawlReport, CrawlService, outcome_of
from scraper.logs import one_line
from scraper.reactor import run_in_reactor
from scraper.service.job import worker_name
from scraper.service.orphans import close_orphaned_runs
from scraper.storage.base import Database, DatabaseError, RunRecord
from scraper.storage.open import open_database
from scraper.storage.sync import note_pending

log = logging.getLogger(__name__)

# What a manual crawl cut short by SIGINT/SIGTERM says (its runs are recorded partial).
STOPPED_BY_SIGNAL = "stopped by a signal before the end"


def open_storage(settings: Settings, dry_run: bool) -> tuple[Database | None, str | None]:
    """The database ready for writing (schema migrated), or None and the reason."""
    if dry_run:
        return None, None
    try:
        database = open_database(settings)  # migrates the schema
    except DatabaseError as exc:
        log.error("database unavailable, writing files only: %s", exc)
        return None, str(exc)
    return database, None


async def start_runs(
    database: Database | None, sources: list[Source], started: datetime
) -> dict[str, int]:
    """A crawl_runs row per source (none when the database is absent or failing)."""
    if database is None:
        return {}
    try:
        worker = worker_name()
        return {
            s.id: await asyncio.to_thread(database.start_run, s.id, started, worker)
            for s in sources
        }
    except DatabaseError as exc:
        log.warning("cannot record the crawl runs: %s", exc)
        return {}


async def finish_runs(
    database: Database | None,
    run_ids: dict[str, int],
    report: CrawlReport,
    sources: list[Source],
    started: datetime,
    journal: Path | None,
) -> None:
    """Record the end of each source's run; while the database is absent or behind,
    in the pending journal (``journal``: the output folder; None for a dry run), which
    the next catch-up writes to crawl_runs."""
    finished = datetime.now().astimezone()
    worker = worker_name()
    runs = []
    for source in sources:
        outcome = outcome_of(report, source.id)  # a stop (report.stopped): partial
        counts = outcome.summary.as_dict()
        runs.append(
            RunRecord(
                source.id,
                started,
                finished,
                outcome.status,
                counts,
                worker,
                run_id=run_ids.get(source.id),
            )
        )
    if database is not None and report.database_error is None:
        runs = await _closed_in_database(database, runs)
    if runs and journal is not None:
        try:
            await asyncio.to_thread(note_pending, journal, [], runs=runs)
        except OSError as exc:  # the output folder's own failure is reported already
            log.error("crawl runs not recorded: %s", one_line(exc))


async def _closed_in_database(database: Database, runs: list[RunRecord]) -> list[RunRecord]:
    """Close the row of each run that has one; returns the runs left for the journal (no
    row: the database failed before they started; or it fails now)."""
    left: list[RunRecord] = []
    failing = False
    for run in runs:
        if run.run_id is None or failing:
            left.append(run)
            continue
        try:
            await asyncio.to_thread(
                database.finish_run, run.run_id, run.finished_at, run.status, run.counts
            )
        except DatabaseError as exc:
            log.warning("cannot record the end of the crawl runs: %s", exc)
            failing = True
            left.append(run)
    return left


def progress_table(service: CrawlService) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in (
        "source",
        "discovered",
        "known",
        "fetched",
        "new",
        "updated",
        "unchanged",
        "skipped",
        "failed",
    ):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source_id, context in list(service.active.items()):
        s = context.summary
        table.add_row(
            source_id,
            *(
                str(v)
                for v in (
                    s.discovered,
                    s.known,
                    s.fetched,
                    s.new,
                    s.updated,
                    s.unchanged,
                    sum(s.skipped.values()),
                    sum(s.failed.values()),
                )
            ),
        )
    return table


def run_manual_crawl(
    settings: Settings,
    sources: list[Source],
    options: CrawlOptions,
    progress: Console | None = None,
    known_sources: Iterable[Source] = (),
) -> CrawlReport:
    """Crawl ``sources`` once. ``known_sources``: every configured source, to tell
    whose a record file is that the database has no row for (scraper.storage.level)."""
    database, database_error = open_storage(settings, options.dry_run)
    services: list[CrawlService] = []  # built inside the reactor, which Scrapy needs

    async def main() -> CrawlReport:
        service = CrawlService(settings, database, database_error)
        service.leveler.sources.update((source.id, source) for source in known_sources)
        services.append(service)
        if database is not None:
            from scraper.storage.sync import sync_if_behind

            await sync_if_behind(database, service.files)
        display: AbstractContextManager[object] = nullcontext()
        if progress is not None:
            display = Live(
                get_renderable=lambda: progress_table(service),
                console=progress,
                refresh_per_second=4,
                transient=True,
            )
        if database is not None:
            # A crawl killed (or aborted by a second signal) left its runs "running":
            # every later crawl took them for a crawl still writing files.
            await close_orphaned_runs(database)
        started = datetime.now().astimezone()
        with display:
            run_ids = await start_runs(database, sources, started)
            report = await service.crawl(sources, options)
        journal = None if options.dry_run else service.files.root
        await finish_runs(database, run_ids, report, sources, started, journal)
        return report

    def on_signal(_signum: int) -> None:
        log.warning("stopping: finishing requests in flight (signal again to abort)")
        from scrapy.utils.defer import deferred_from_coro

        for service in services:
            deferred_from_coro(service.stop(STOPPED_BY_SIGNAL))

    try:
        report = run_in_reactor(main, on_signal)
    finally:
        for service in services:
            service.close()
    if database_error is not None and not options.dry_run:
        report.database_error = report.database_error or database_error
    return report
