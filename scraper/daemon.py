"""The daemon: every source crawled on its own schedule, for weeks, unattended, on one
machine (SQLite or PostgreSQL). Many machines sharing one schedule: scraper.fleet.

Process model, and why
----------------------
One process runs everything, for its whole life, inside Scrapy's asyncio Twisted reactor
(``scraper.reactor.run_in_reactor``):

- Twisted's reactor cannot be restarted, so the process cannot run one crawl, stop the
  reactor and run the next: the daemon has to live inside a single reactor run, and
  every scheduled run is a coroutine on that reactor's asyncio loop. APScheduler's
  AsyncIOScheduler runs on the same loop; so do the /healthz and /metrics endpoints.
- A fresh Scrapy process per run would cost about half a CPU-second just to start
  (imports, settings, extensions); at 200 sources a minute that alone would eat both
  cores. Within one process, starting a crawler for a run is cheap.
- Extraction (HTML parsing, trafilatura, date and language detection) is CPU-bound. The
  one long-lived CrawlService owns a process pool with a worker per core, so downloads
  stay on the loop while both cores extract. Workers are replaced after a number of
  tasks (see scraper.workers), so memory stays bounded over weeks however leaky a
  parser is.
- The service is shared by every run: at most ``max_concurrent_sources`` sources crawl
  at once (scraper.service.admission), each source's crawl policy limits requests per
  host, and what runs learn carries over to later runs (resolved Google News links,
  stored article URLs in the file store).
- A run is the crawl job of scraper.service.job (one source, one run), the same unit a
  fleet worker runs for a job of its queue.

The parts, one module each under scraper.service: ``lifecycle`` (signals, watchdog,
draining), ``admission`` (slots), ``scheduling`` (APScheduler jobs), ``reload`` (config),
``dblink`` (a database that may be behind), ``states`` (failing sources), ``views``
(/healthz, /metrics), ``orphans`` (runs a killed process left ``running``, closed at
start as ``abandoned``).

Signals: SIGTERM or SIGINT stop scheduling, let runs in flight finish (or abandon them
after a grace period; files are written atomically, so an abandoned run leaves nothing
half-written) and exit 0 within 30 seconds; a second signal exits at once. SIGHUP reloads
the config; the config folder is also polled, so an edited source file is picked up on
its own. Invalid settings are refused (one line per problem) and the running config
stays. An invalid source file never stops the others: it is reported in the log,
/healthz and /metrics, and its source, if it was running, keeps its last good config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from scraper.config import Settings, Source
from scraper.health import HealthServer, Response, bind_host
from scraper.metrics import DaemonMetrics
from scraper.schedule import BackoffPolicy, JobSpec, SourceChanges, SourceState, diff_sources
from scraper.service.admission import Admission
from scraper.service.dblink import DatabaseLink, DatabaseOpener
from scraper.service.job import CrawlEngine, CrawlJob, RunResult, now_local
from scraper.service.lifecycle import (
    CANCEL_GRACE,
    STOP_GRACE,
    Background,
    ServiceError,
    drain,
    run_service,
)
from scraper.service.orphans import close_orphaned_runs
from scraper.service.reload import CONFIG_POLL_SECONDS, ConfigLocation, LiveConfig
from scraper.service.scheduling import SourceScheduler
from scraper.service.states import SourceStates
from scraper.service.views import health_response, metrics_response

if TYPE_CHECKING:
    from scraper.storage.base import Database

__all__ = ["ConfigLocation", "Daemon", "DaemonError", "run_daemon"]

log = logging.getLogger(__name__)

DaemonError = ServiceError
EngineFactory = Callable[[Settings, "Database | None"], CrawlEngine]


class Daemon:
    def __init__(
        self,
        location: ConfigLocation,
        settings: Settings,
        sources: dict[str, Source],
        engine_factory: EngineFactory | None = None,
        database_opener: DatabaseOpener | None = None,
        policy: BackoffPolicy | None = None,
        http_host: str | None = None,
        config_poll: float = CONFIG_POLL_SECONDS,
        invalid_sources: Mapping[Path, list[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = DaemonMetrics()
        self.config = LiveConfig(
            location, settings, sources, self.metrics, log, invalid_sources, process="daemon"
        )
        self.source_states = SourceStates(sources, policy or BackoffPolicy(), self.metrics, log)
        self.timetable = SourceScheduler(settings.zone, self.run_source, self.metrics, log)
        self.scheduler = self.timetable.scheduler
        self.health = HealthServer(
            {"/healthz": self.healthz, "/metrics": self.metrics_response},
            http_host or bind_host(),
            settings.http_port,
        )
        self.config_poll = config_poll
        self.service: CrawlEngine | None = None
        self.job: CrawlJob | None = None
        self.stopping = False
        self.started_at = now_local()
        self.background = Background()
        self.database = DatabaseLink(
            settings, database_opener or _open_database, self.metrics, self.background, log
        )
        self.admission = Admission(settings.max_concurrent_sources, self.metrics)
        self._engine_factory = engine_factory or _crawl_service
        self._stop_requested = asyncio.Event()

    # --- views of the parts, as the daemon's own -------------------------------------------
    @property
    def sources(self) -> dict[str, Source]:
        return self.config.sources

    @property
    def states(self) -> dict[str, SourceState]:
        return self.source_states.states

    @property
    def specs(self) -> dict[str, JobSpec]:
        return self.timetable.specs

    @property
    def invalid_sources(self) -> dict[str, list[str]]:
        return self.config.invalid_sources

    @property
    def last_reload_error(self) -> str | None:
        return self.config.last_reload_error

    @property
    def database_error(self) -> str | None:
        return self.database.error

    def failing(self) -> set[str]:
        return self.source_states.failing()

    # --- life cycle ----------------------------------------------------------------------
    async def run(self) -> None:
        """Run until ``request_stop()``; then stop cleanly (see ``_shutdown``)."""
        self.started_at = now_local()
        self.metrics.started.set(time.time())
        database, connecting = await self.database.connect_at_start()
        if database is not None:
            await self.source_states.restore(database, self.sources)
            await close_orphaned_runs(database)
        self.service = self._engine_factory(self.settings, database)
        self.job = CrawlJob(self.service, self.database, log, lambda: self.stopping)
        try:
            port = await self.health.start()
        except OSError as exc:
            raise DaemonError(
                f"cannot listen on {self.health.host}:{self.settings.http_port}: "
                f"{exc.strerror or exc}"
            ) from exc
        log.info(
            "health and metrics on %s/healthz and %s/metrics (port %d)",
            self.health.url,
            self.health.url,
            port,
        )
        self._schedule(sorted(self.sources), first_runs=True)
        self.timetable.start()
        self._update_gauges()
        log.info("daemon started: %d source(s) scheduled", len(self.sources))
        self.config.log_invalid(kept=())
        if not self.sources:
            log.warning(
                "no sources configured: add files to %s/sources", self.config.location.folder
            )
        self.background.spawn(self.config.watch(self.config_poll, self._apply))
        self.database.attach(self.service, connecting)
        await self._stop_requested.wait()
        await self._shutdown()

    def request_stop(self) -> None:
        """Stop scheduling and wind down (call from the loop's thread)."""
        if self.stopping:
            return
        self.stopping = self.database.stopping = True
        log.warning(
            "stopping: no new runs; %d run(s) in flight get %.0f s to finish, %d waiting "
            "are dropped (signal again to exit at once)",
            len(self.admission.inflight),
            STOP_GRACE,
            len(self.admission.waiting),
        )
        self.timetable.pause()
        self._stop_requested.set()

    def request_reload(self) -> None:
        """Reload the config (SIGHUP); runs as a task on the loop."""
        if not self.stopping:
            self.background.spawn(self.reload(reason="SIGHUP"))

    def close(self) -> None:
        if self.service is not None:
            self.service.close()

    async def _shutdown(self) -> None:
        self.background.cancel_all()
        await self.admission.drop_waiting(CANCEL_GRACE)
        service = self.service
        await drain(self.admission.inflight, service.stop if service is not None else None)
        self.timetable.shutdown()
        await self.health.close()
        await asyncio.sleep(0)  # let the scheduler's deferred shutdown run
        log.info("stopped")

    # --- scheduling ----------------------------------------------------------------------
    def _schedule(self, source_ids: list[str], first_runs: bool) -> None:
        self.timetable.schedule(self.sources, source_ids, first_runs)

    # --- one run ---------------------------------------------------------------------------
    async def run_source(self, source_id: str) -> None:
        """The scheduled job: crawl one source once and record what happened."""
        source = self.sources.get(source_id)
        state = self.states.get(source_id)
        if source is None or state is None or self.stopping or self.job is None:
            return
        if state.take_skip():
            self.metrics.skipped_runs.labels(source_id, "backoff").inc()
            log.info(
                "%s: skipped, backing off after %d failed runs (%d more to skip)",
                source_id,
                state.consecutive_failures,
                state.skips_left,
                extra={"source": source_id},
            )
            return
        if not await self.admission.acquire(source_id):
            return  # stopped while waiting: the run never started, nothing to record
        try:
            if not self.stopping:
                with self.admission.running(source_id):
                    await self.job.run(source, on_finished=self._finished)
        finally:
            self.admission.release()

    def _finished(self, result: RunResult) -> None:
        spec = self.specs.get(result.source_id)  # None: removed from config meanwhile
        self.source_states.record(result, spec.interval if spec is not None else None)
        self._update_gauges([result.source_id])

    def _update_gauges(self, source_ids: list[str] | None = None) -> None:
        self.source_states.update_gauges(self.sources, source_ids)
        self.metrics.database_behind.set(1 if self.database.error else 0)

    # --- configuration -------------------------------------------------------------------------
    async def reload(self, reason: str) -> SourceChanges | None:
        """Load the config again and apply it; refuse it (keeping the running config)
        when it is invalid. Returns what changed, or None when refused."""
        return await self.config.reload(reason, self._apply)

    def _apply(self, sources: dict[str, Source]) -> SourceChanges:
        changes = diff_sources(self.sources, sources)
        for source_id in changes.removed:
            self.timetable.remove(source_id)
            self.sources.pop(source_id, None)
            self.source_states.forget(source_id)
        self.sources.update(sources)  # updated sources take effect at their next run
        for source_id in changes.added:
            self.source_states.add(source_id)
        self._schedule(changes.added, first_runs=True)
        self._schedule(changes.rescheduled, first_runs=False)
        self._update_gauges()
        return changes

    # --- HTTP ------------------------------------------------------------------------------------
    def healthz(self) -> Response:
        return health_response(
            serving=self.timetable.running and not self.stopping,
            stopping=self.stopping,
            started_at=self.started_at,
            now=now_local(),
            sources=len(self.sources),
            running=self.admission.inflight,
            waiting=len(self.admission.waiting),
            failing=self.failing(),
            database=self.database.health(),
            config=self.config.health(),
            states=self.states,
        )

    def metrics_response(self) -> Response:
        return metrics_response(self.metrics, self.service)


def _crawl_service(settings: Settings, database: Database | None) -> CrawlEngine:
    from scraper.crawl import CrawlService

    return CrawlService(settings, database)


def _open_database(settings: Settings) -> Database:
    from scraper.storage.open import open_database

    return open_database(settings)  # migrated, or closed again when migrating fails


def run_daemon(location: ConfigLocation) -> int:
    """Load the config, run the daemon in the reactor until a signal, return the exit code.

    Raises ConfigError when the config is invalid and DaemonError when it cannot start."""
    settings, loaded = location.load()
    daemon = Daemon(location, settings, loaded.sources, invalid_sources=loaded.invalid)
    return run_service(daemon, log)
