"""``scraper worker``: one member of a fleet (PostgreSQL only).

Every worker both dispatches and crawls. Inside one long-lived process (Scrapy's asyncio
reactor, one CrawlService with its extraction pool, as the daemon) it runs two
procrastinate workers on the same loop: one takes the periodic dispatch jobs (concurrency
1, its own queue, so crawls never starve it), the other takes ``crawl_source`` jobs,
``--concurrency`` at a time. A crawl job is the crawl job of scraper.service.job, inside
the source's host lease (scraper.fleet.politeness).

Dispatch (one worker at a time, under an advisory lock) first recovers the jobs of lost
workers: procrastinate lists the jobs of workers whose heartbeat is older than
``STALLED_AFTER`` seconds; their crawl_runs rows are closed as ``abandoned`` and the job
is retried, so it runs again elsewhere. When a newer job of the same source already waits
(its queueing lock would refuse the retry, procrastinate issue #1446), that newer job is
the source's next run and the stalled one is closed as failed: the source is crawled
once, by the job that waits, and neither job is left stuck. Then it defers a
``crawl_source`` job for every due source (scraper.fleet.dispatch).

Each worker reads the config folder (a shared volume) and checks it every dispatch
period: a changed file is picked up without a restart, an invalid change is refused with
one line and the old config kept (scraper.service.reload). SIGTERM stops taking jobs,
lets the runs in flight finish (20 s, then they are abandoned and recorded) and exits 0
within 30 s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procrastinate import App, exceptions, jobs
from procrastinate.worker import Worker
from prometheus_client import Counter, Gauge, Histogram

from scraper.config import Settings, Source
from scraper.fleet import dispatch as planning
from scraper.fleet import store
from scraper.fleet.engine import (
    CRAWL_QUEUE,
    CRAWL_TASK,
    DISPATCH_QUEUE,
    DISPATCH_SECONDS,
    DISPATCH_TASK,
    Handlers,
    build_app,
    migrate_engine,
    source_lock,
)
from scraper.fleet.politeness import HostLeases
from scraper.health import HealthServer, Response, bind_host
from scraper.logs import one_line
from scraper.metrics import DaemonMetrics
from scraper.schedule import BackoffPolicy, SourceChanges, diff_sources, interval_of
from scraper.service.admission import Admission
from scraper.service.dblink import DatabaseLink
from scraper.service.job import CrawlEngine, CrawlJob, RunResult, now_local, worker_name
from scraper.service.lifecycle import (
    CANCEL_GRACE,
    STOP_GRACE,
    Background,
    ServiceError,
    drain,
    run_service,
)
from scraper.service.reload import ConfigLocation, LiveConfig
from scraper.service.states import SourceStates
from scraper.service.views import health_response, metrics_response
from scraper.storage.open import sqlite_path

if TYPE_CHECKING:
    from scraper.storage.base import Database

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
HEARTBEAT_SECONDS = 5.0
STALLED_AFTER = 30.0  # seconds without a heartbeat before a worker's jobs run elsewhere
LAG_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300, 600)


class NeedsPostgres(ServiceError):
    """The settings select SQLite: a fleet shares its schedule through PostgreSQL."""


class FleetMetrics:
    """The worker's own metrics, beside the daemon's (same registry)."""

    def __init__(self, metrics: DaemonMetrics) -> None:
        r = metrics.registry
        self.lag = Histogram(
            "scraper_dispatch_lag_seconds",
            "Time from a source's due time to the start of its run.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.deferred = Counter(
            "scraper_jobs_deferred",
            "crawl_source jobs deferred by dispatch: deferred, already queued (a job of "
            "the source waits), backoff (failing source, due time let pass).",
            ["result"],
            registry=r,
        )
        self.recovered = Counter(
            "scraper_stalled_jobs",
            "Jobs of lost workers: retried, superseded (a newer job of the source waits), "
            "closed (a past dispatch).",
            ["action"],
            registry=r,
        )
        self.dispatches = Counter(
            "scraper_dispatches", "Dispatch jobs by result (done, busy).", ["result"], registry=r
        )
        self.concurrency = Gauge(
            "scraper_worker_concurrency", "crawl_source jobs this worker runs at once.", registry=r
        )


class FleetWorker:
    def __init__(
        self,
        location: ConfigLocation,
        settings: Settings,
        sources: Mapping[str, Source],
        concurrency: int = DEFAULT_CONCURRENCY,
        invalid_sources: Mapping[Path, list[str]] | None = None,
        http_host: str | None = None,
    ) -> None:
        if settings.database_url is None or sqlite_path(settings) is not None:
            raise NeedsPostgres(
                "scraper worker needs PostgreSQL: set database_url (settings, "
                "SCRAPER_DATABASE_URL or --database) to a postgresql:// URL; "
                "SQLite is for one node (scraper daemon)"
            )
        self.dsn: str = settings.database_url
        # The crawl service's gate must not hold back the jobs the engine hands out.
        self.settings = settings.model_copy(
            update={"max_concurrent_sources": max(concurrency, settings.max_concurrent_sources)}
        )
        self.concurrency = concurrency
        self.name = worker_name()
        self.metrics = DaemonMetrics()
        self.fleet_metrics = FleetMetrics(self.metrics)
        self.fleet_metrics.concurrency.set(concurrency)
        self.config = LiveConfig(
            location, settings, sources, self.metrics, log, invalid_sources, process="worker"
        )
        self.policy = BackoffPolicy()
        self.source_states = SourceStates(sources, self.policy, self.metrics, log)
        self.background = Background()
        self.database = DatabaseLink(
            self.settings, _open_database, self.metrics, self.background, log
        )
        self.admission = Admission(concurrency, self.metrics)
        self.health = HealthServer(
            {"/healthz": self.healthz, "/metrics": self.metrics_response},
            http_host or bind_host(),
            settings.http_port,
        )
        self.leases = HostLeases(self.dsn, concurrency)
        self.service: CrawlEngine | None = None
        self.job: CrawlJob | None = None
        self.app: App | None = None
        self.workers: list[Worker] = []
        self._worker_tasks: list[asyncio.Future[Any]] = []
        self.stopping = False
        self.started_at = now_local()
        self._stop_requested = asyncio.Event()
        self._rng = random.Random()

    @property
    def sources(self) -> dict[str, Source]:
        return self.config.sources

    # --- life cycle ------------------------------------------------------------------------
    async def run(self) -> None:
        self.started_at = now_local()
        self.metrics.started.set(time.time())
        database = await self._open()
        await self.source_states.restore(database, self.sources)
        self.service = _crawl_service(self.settings, database)
        self.job = CrawlJob(self.service, self.database, log, lambda: self.stopping, self.name)
        self.database.attach(self.service, _done(database))
        self.app = build_app(
            self.dsn,
            Handlers(self.dispatch, self.crawl),
            pool_size=self.concurrency + 6,
            job_retention_days=self.settings.fleet_job_retention_days,
        )
        await self.app.open_async()
        await self.leases.open()
        try:
            port = await self.health.start()
        except OSError as exc:
            raise ServiceError(
                f"cannot listen on {self.health.host}:{self.settings.http_port}: "
                f"{exc.strerror or exc}"
            ) from exc
        log.info(
            "health and metrics on %s/healthz and %s/metrics (port %d)",
            self.health.url,
            self.health.url,
            port,
        )
        common: dict[str, Any] = {
            "install_signal_handlers": False,
            "update_heartbeat_interval": HEARTBEAT_SECONDS,
            "stalled_worker_timeout": STALLED_AFTER,
            "fetch_job_polling_interval": 1.0,
            "shutdown_graceful_timeout": STOP_GRACE,
            "delete_jobs": jobs.DeleteJobCondition.SUCCESSFUL,
        }
        self.workers = [
            Worker(self.app, queues=[DISPATCH_QUEUE], concurrency=1, name="dispatch", **common),
            Worker(
                self.app, queues=[CRAWL_QUEUE], concurrency=self.concurrency, name="crawl", **common
            ),
        ]
        self._worker_tasks = [asyncio.ensure_future(w.run()) for w in self.workers]  # type: ignore[no-untyped-call]
        self.source_states.update_gauges(self.sources)
        log.info(
            "worker %s started: %d source(s), %d crawl(s) at once",
            self.name,
            len(self.sources),
            self.concurrency,
        )
        self.config.log_invalid(kept=())
        self.background.spawn(self.config.watch(DISPATCH_SECONDS, self._apply))
        stopped = asyncio.ensure_future(self._stop_requested.wait())
        done, _ = await asyncio.wait(
            [stopped, *self._worker_tasks], return_when=asyncio.FIRST_COMPLETED
        )
        if stopped not in done:  # a procrastinate worker ended on its own: a failure
            for task in done:
                if task.exception() is not None:
                    log.error("job engine stopped: %s", one_line(task.exception()))  # type: ignore[arg-type]
            self.request_stop()
        await self._shutdown()

    async def _open(self) -> Database:
        """The database, migrated, and the job engine's schema: the worker cannot work
        without them (ServiceError, one line)."""
        try:
            database = await asyncio.to_thread(_open_database, self.settings)
            await asyncio.to_thread(migrate_engine, self.dsn)
        except Exception as exc:
            raise ServiceError(f"cannot start the worker: {one_line(exc)}") from None
        return database

    def request_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = self.database.stopping = True
        log.warning(
            "stopping: no new jobs; %d run(s) in flight get %.0f s to finish "
            "(signal again to exit at once)",
            len(self.admission.inflight),
            STOP_GRACE,
        )
        for worker in self.workers:
            worker.stop()  # type: ignore[no-untyped-call]
        self._stop_requested.set()

    def request_reload(self) -> None:
        if not self.stopping:
            self.background.spawn(self.reload("SIGHUP"))

    def close(self) -> None:
        if self.service is not None:
            self.service.close()

    async def _shutdown(self) -> None:
        self.background.cancel_all()
        service = self.service
        await drain(self.admission.inflight, service.stop if service is not None else None)
        if self._worker_tasks:
            # The engine records the jobs' ends and unregisters its workers.
            await asyncio.wait(self._worker_tasks, timeout=CANCEL_GRACE + 2)
        if self.app is not None:
            await self.app.close_async()
        await self.leases.close()
        await self.health.close()
        log.info("stopped")

    # --- configuration ------------------------------------------------------------------------
    async def reload(self, reason: str) -> SourceChanges | None:
        return await self.config.reload(reason, self._apply)

    def _apply(self, sources: dict[str, Source]) -> SourceChanges:
        changes = diff_sources(self.sources, sources)
        for source_id in changes.removed:
            self.sources.pop(source_id, None)
            self.source_states.forget(source_id)
        self.sources.update(sources)
        for source_id in changes.added:
            self.source_states.add(source_id)
        self.source_states.update_gauges(self.sources)
        return changes

    # --- the tasks ------------------------------------------------------------------------------
    async def dispatch(self, timestamp: int) -> None:
        """Recover lost workers' jobs, then defer a job for every due source."""
        if self.stopping or self.app is None:
            return
        app = self.app
        connector: Any = app.connector
        async with connector.pool.connection() as conn, conn.transaction():
            if not await store.try_dispatch_lock(conn):
                self.fleet_metrics.dispatches.labels("busy").inc()
                return
            await self._recover_stalled(app, conn)
            now = now_local()
            rows = await store.timetable(conn)
            wanted = planning.needs_last_run(self.sources, rows, now)
            last = await store.last_runs(conn, wanted)
            decided = planning.plan(
                self.sources, rows, last, now, self.settings.zone, self.policy, self._rng
            )
            for source_id, due in decided.defer:
                await self._defer(app, source_id, due)
            for source_id in decided.backoff:
                self.fleet_metrics.deferred.labels("backoff").inc()
                self.metrics.skipped_runs.labels(source_id, "backoff").inc()
                log.info("%s: due, skipped: backing off", source_id, extra={"source": source_id})
            await store.save_rows(conn, decided.rows)
        self.fleet_metrics.dispatches.labels("done").inc()

    async def _defer(self, app: App, source_id: str, due: datetime) -> None:
        lock = source_lock(source_id)
        deferrer = app.configure_task(CRAWL_TASK, queue=CRAWL_QUEUE, lock=lock, queueing_lock=lock)
        try:
            await deferrer.defer_async(source_id=source_id, due=due.isoformat())
        except exceptions.AlreadyEnqueued:
            # A job of the source waits already: it is the next run.
            self.fleet_metrics.deferred.labels("already queued").inc()
            return
        self.fleet_metrics.deferred.labels("deferred").inc()

    async def _recover_stalled(self, app: App, conn: Any) -> None:
        for action in await recover_stalled(app, conn):
            self.fleet_metrics.recovered.labels(action).inc()

    async def crawl(self, source_id: str, due: str, job_id: int | None) -> None:
        """One run of ``source_id`` (the crawl_source job)."""
        source = self.sources.get(source_id)
        if source is None and await self.config.changed():
            await self.reload("a job names a source this worker does not know yet")
            source = self.sources.get(source_id)
        if source is None:
            log.warning("%s: not configured here; job skipped", source_id)
            return
        if self.job is None or self.stopping:
            return
        job = self.job
        with self.admission.running(source_id):
            async with self.leases.lease(source, lambda: self.stopping) as leased:
                if not leased:
                    return
                self.fleet_metrics.lag.observe(
                    max(0.0, (now_local() - datetime.fromisoformat(due)).total_seconds())
                )
                await job.run(source, job_id=job_id, on_finished=self._finished)

    def _finished(self, result: RunResult) -> None:
        source = self.sources.get(result.source_id)
        interval = interval_of(source.schedule, self.settings.zone) if source else None
        self.source_states.record(result, interval)
        self.source_states.update_gauges(self.sources, [result.source_id])
        self.metrics.database_behind.set(1 if self.database.error else 0)

    # --- HTTP ------------------------------------------------------------------------------------
    def healthz(self) -> Response:
        serving = bool(self._worker_tasks) and not self.stopping
        return health_response(
            serving=serving and not any(t.done() for t in self._worker_tasks),
            stopping=self.stopping,
            started_at=self.started_at,
            now=now_local(),
            sources=len(self.sources),
            running=self.admission.inflight,
            waiting=0,
            failing=self.source_states.failing(),
            database=self.database.health(),
            config=self.config.health(),
            states=self.source_states.states,
            extra={"worker": self.name, "concurrency": self.concurrency},
        )

    def metrics_response(self) -> Response:
        return metrics_response(self.metrics, self.service)


async def recover_stalled(app: App, conn: Any) -> list[str]:
    """Recover the jobs of lost workers (no heartbeat for STALLED_AFTER seconds): close
    their runs as abandoned (on ``conn``, the dispatch's transaction), then retry each
    crawl job; when a newer job of its source waits, that one stays and this one is
    closed as failed. A lost dispatch job is closed (the next one covers it). Returns
    what was done with each job: retried, superseded, closed or kept (retry refused)."""
    manager = app.job_manager
    actions = []
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
        assert job.id is not None
        source_id = job.task_kwargs.get("source_id")
        for run_id, run_source, worker in await store.abandon_runs_of_job(
            conn, job.id, "its worker was lost"
        ):
            log.warning(
                "%s: run %d of lost worker %s closed as abandoned",
                run_source,
                run_id,
                worker,
                extra={"source": run_source},
            )
        if job.task_name != CRAWL_TASK:
            await manager.finish_job(job, jobs.Status.FAILED, delete_job=False)
            actions.append("closed")
            continue
        try:
            await manager.retry_job(job)
        except exceptions.UniqueViolation:
            # The queueing lock refuses the retry: a newer job of the source waits, and
            # it is the source's next run (procrastinate issue #1446).
            await manager.finish_job(job, jobs.Status.FAILED, delete_job=False)
            actions.append("superseded")
            log.warning(
                "%s: job %d of a lost worker closed: a newer job of the source waits and "
                "runs instead",
                source_id,
                job.id,
                extra={"source": source_id},
            )
            continue
        except exceptions.ConnectorException as exc:
            log.warning("job %d of a lost worker: cannot retry: %s", job.id, one_line(exc))
            actions.append("kept")
            continue
        actions.append("retried")
        log.warning(
            "%s: job %d of a lost worker runs again",
            source_id,
            job.id,
            extra={"source": source_id},
        )
    await manager.prune_stalled_workers(STALLED_AFTER)
    return actions


def _done(value: Database) -> asyncio.Future[Database | None]:
    future: asyncio.Future[Database | None] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _crawl_service(settings: Settings, database: Database | None) -> CrawlEngine:
    from scraper.crawl import CrawlService

    return CrawlService(settings, database)


def _open_database(settings: Settings) -> Database:
    from scraper.storage.open import open_database

    return open_database(settings)


def run_worker(location: ConfigLocation, concurrency: int = DEFAULT_CONCURRENCY) -> int:
    """Load the config, run a worker in the reactor until a signal, return the exit code.

    Raises ConfigError (invalid config), NeedsPostgres (SQLite) and ServiceError."""
    settings, loaded = location.load()
    worker = FleetWorker(
        location, settings, loaded.sources, concurrency, invalid_sources=loaded.invalid
    )
    return run_service(worker, log)


__all__ = ["DISPATCH_TASK", "FleetWorker", "NeedsPostgres", "run_worker"]
