"""The job engine of a fleet: a procrastinate App with three tasks, and its schema.

- ``fleet.dispatch``: periodic (every ``DISPATCH_SECONDS``), on its own queue so crawl
  jobs never starve it. procrastinate defers one job per period for the whole fleet
  (``procrastinate_periodic_defers`` is unique per task and timestamp) and the queueing
  lock keeps at most one waiting. It has no ``lock``: a dispatch job lost with its worker
  would otherwise hold the lock and block every later one (procrastinate issue #1408);
  two dispatch jobs running at once take turns on an advisory lock instead.
- ``fleet.crawl_source(source_id, due)``: one run of one source. Its queueing lock and its
  lock are both ``source:<id>``: at most one job of a source waits and one runs.
- ``fleet.prune``: periodic (hourly), on the dispatch queue: deletes the jobs that ended
  more than ``fleet_job_retention_days`` ago, with their events. The workers have
  procrastinate delete successful jobs as they end; failed, aborted and cancelled ones
  stayed for ever: a fleet of a thousand sources, a tenth of them failing every five
  minutes, would add ~30,000 rows a day.

The engine's schema lives in PostgreSQL only, applied by ``scraper db migrate`` (and by
each worker at start, safely, under an advisory lock): the package's ``schema.sql`` on a
fresh database, then its own migration files between the version last applied (kept in
``engine_schema``) and the installed one.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.schema import SchemaManager

from scraper.storage.base import DatabaseError
from scraper.storage.postgres import describe_error, describe_target

ENGINE = "procrastinate"
DISPATCH_TASK = "fleet.dispatch"
CRAWL_TASK = "fleet.crawl_source"
PRUNE_TASK = "fleet.prune"
DISPATCH_QUEUE = "fleet-dispatch"
CRAWL_QUEUE = "fleet-crawl"
DISPATCH_SECONDS = 5
DISPATCH_CRON = f"* * * * * */{DISPATCH_SECONDS}"  # croniter's sixth field: seconds
PRUNE_CRON = "17 * * * *"  # hourly
ENGINE_LOCK_KEY = 0x5C4A9E13  # advisory lock of schema changes (the scraper's is ...12)
_MIGRATION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql$")


def source_lock(source_id: str) -> str:
    return f"source:{source_id}"


@dataclass(frozen=True)
class Handlers:
    """What the tasks call: the worker process's own methods."""

    dispatch: Callable[[int], Awaitable[None]]
    crawl: Callable[[str, str, int | None], Awaitable[None]]


def build_app(
    dsn: str,
    handlers: Handlers | None = None,
    pool_size: int = 10,
    *,
    job_retention_days: int,
) -> App:
    """The fleet's App on ``dsn``; ``handlers`` None builds one that can only defer.
    ``job_retention_days``: the setting ``fleet_job_retention_days`` (``fleet.prune``)."""
    connector = PsycopgConnector(
        conninfo=dsn,
        min_size=1,
        max_size=pool_size,
        kwargs={"application_name": "news-scraper-worker"},
    )
    # Dispatch jobs older than a few periods are of no use: the next one covers them.
    app = App(connector=connector, periodic_defaults={"max_delay": 3 * DISPATCH_SECONDS})

    async def dispatch(context: JobContext, timestamp: int) -> None:
        if handlers is not None:
            await handlers.dispatch(timestamp)

    async def crawl_source(context: JobContext, source_id: str, due: str) -> None:
        if handlers is not None:
            await handlers.crawl(source_id, due, context.job.id)

    dispatch_task = app.task(
        name=DISPATCH_TASK, queue=DISPATCH_QUEUE, queueing_lock=DISPATCH_TASK, pass_context=True
    )(dispatch)
    app.periodic(cron=DISPATCH_CRON, periodic_id="fleet")(dispatch_task)
    app.task(name=CRAWL_TASK, queue=CRAWL_QUEUE, pass_context=True)(crawl_source)

    async def prune(context: JobContext, timestamp: int) -> None:
        await prune_finished_jobs(context.app, job_retention_days)

    prune_task = app.task(
        name=PRUNE_TASK, queue=DISPATCH_QUEUE, queueing_lock=PRUNE_TASK, pass_context=True
    )(prune)
    app.periodic(cron=PRUNE_CRON, periodic_id="fleet-prune")(prune_task)
    return app


async def prune_finished_jobs(app: App, retention_days: int) -> None:
    """Delete the jobs that ended (in any way) more than ``retention_days`` ago."""
    await app.job_manager.delete_old_jobs(
        nb_hours=retention_days * 24,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )


# --- schema -------------------------------------------------------------------------------


def engine_version() -> str:
    return importlib.metadata.version(ENGINE)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def pending_engine_migrations(applied: str, installed: str, folder: Path) -> list[Path]:
    """The engine's migration files after ``applied`` up to ``installed``, in order."""
    low, high = _version_tuple(applied), _version_tuple(installed)
    files = []
    for path in folder.iterdir():
        match = _MIGRATION_NAME.match(path.name)
        if match:
            version = tuple(int(match[i]) for i in (1, 2, 3))
            if low < version <= high:
                files.append(path)
    return sorted(files, key=lambda p: p.name)


class Q:
    LOCK: Any = "SELECT pg_advisory_xact_lock(%(key)s)"
    JOBS_TABLE: Any = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
    APPLIED: Any = "SELECT version FROM engine_schema WHERE engine = %(engine)s"
    RECORD: Any = """
        INSERT INTO engine_schema (engine, version) VALUES (%(engine)s, %(version)s)
        ON CONFLICT (engine) DO UPDATE SET version = EXCLUDED.version, applied_at = now()
    """


def migrate_engine(dsn: str) -> str:
    """Create or upgrade the job engine's schema (run after the scraper's own migrations,
    which create ``engine_schema``); returns the engine version now applied."""
    installed = engine_version()
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn, conn.transaction():
            conn.execute(Q.LOCK, {"key": ENGINE_LOCK_KEY})
            row = conn.execute(Q.APPLIED, {"engine": ENGINE}).fetchone()
            present = conn.execute(Q.JOBS_TABLE).fetchone()
            if not present or not present[0]:
                conn.execute(SchemaManager.get_schema().encode("utf-8"))
            elif row is not None and _version_tuple(row[0]) < _version_tuple(installed):
                folder = Path(SchemaManager.get_migrations_path())
                for path in pending_engine_migrations(row[0], installed, folder):
                    conn.execute(path.read_bytes())
            # Present but never recorded: applied by hand at the installed version.
            if row is None or row[0] != installed:
                conn.execute(Q.RECORD, {"engine": ENGINE, "version": installed})
    except psycopg.Error as exc:
        raise DatabaseError(describe_error(exc, describe_target(dsn))) from None
    return installed
