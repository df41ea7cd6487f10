"""The daemon: every source crawled on its own schedule, for weeks, unattended.

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
- The service is shared by every run: its ``gate`` semaphore is the global limit on
  sources crawling at once (``max_concurrent_sources``), each source's crawl policy
  limits requests per host, and what runs learn carries over to later runs (resolved
  Google News links, stored article URLs in the file store).
- A run is a job with plain inputs and outputs: source ids and CrawlOptions in, a
  CrawlReport of counts out. Nothing else passes between runs, so runs could be handed
  to other machines later without changing what a run is.

Each run is recorded in the database (``start_run`` / ``finish_run``) from a thread, as
the database clients are synchronous. When the database is down the daemon keeps
crawling (the files are the primary copy), says that the database is behind, retries,
and brings it level once it answers again.

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
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from scraper.config import (
    ConfigError,
    Settings,
    Source,
    SourcesLoad,
    load_settings,
    load_sources_report,
)
from scraper.crawl import CrawlOptions, CrawlReport, RunOutcome, outcome_of
from scraper.health import HealthServer, Response, bind_host
from scraper.logs import one_line
from scraper.metrics import CONTENT_TYPE, DaemonMetrics
from scraper.schedule import (
    RUNS_PER_SOURCE,
    BackoffPolicy,
    JobSpec,
    SourceChanges,
    SourceState,
    diff_sources,
    first_run_offsets,
    job_spec,
    summarize_runs,
)
from scraper.storage.files import FileStore
from scraper.storage.sync import sync_if_behind
from scraper.summary import CrawlSummary

if TYPE_CHECKING:
    from scraper.storage.base import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_GRACE = 20.0  # seconds runs in flight get to finish after a stop request
CANCEL_GRACE = 3.0  # then, seconds for cancelled runs to record themselves
HARD_DEADLINE = 28.0  # after the stop request the process exits, whatever is left
CONFIG_POLL_SECONDS = 5.0
EXIT_ABORTED = 1  # a second signal: stopped at once
EXIT_FAILED = 1
DATABASE_RETRY_SECONDS = 60.0
DATABASE_START_WAIT = 2.0  # seconds the start waits for the database before going on


class DaemonError(Exception):
    """The daemon cannot start (message is one line)."""


class CrawlEngine(Protocol):
    """What the daemon needs of scraper.crawl.CrawlService (tests pass a fake)."""

    database: Database | None
    files: FileStore

    async def crawl(self, sources: list[Source], options: CrawlOptions) -> CrawlReport: ...

    async def stop(self) -> None: ...

    def close(self) -> None: ...


EngineFactory = Callable[[Settings, "Database | None"], CrawlEngine]
# Returns the database with its schema migrated (as open_database does).
DatabaseOpener = Callable[[Settings], "Database"]


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigLocation:
    """Where the config lives and the command-line overrides applied on every load."""

    folder: Path
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # The command-line flag of each override, named in its errors ("--database").
    flags: Mapping[str, str] = field(default_factory=dict)

    def load(self) -> tuple[Settings, SourcesLoad]:
        """Settings and sources; ConfigError (one line per problem) when the settings are
        invalid or the sources folder is missing. Invalid source files are in the result."""
        settings = load_settings(self.folder, flags=self.flags, **dict(self.overrides))
        return settings, load_sources_report(self.folder)

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Names, mtimes and sizes of the config files: changes when any file does."""
        paths = [self.folder / "settings.yaml"]
        sources = self.folder / "sources"
        if sources.is_dir():
            paths += sorted([*sources.glob("*.yaml"), *sources.glob("*.yml")])
        entries = []
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(entries)


def changed_settings(old: Settings, new: Settings) -> list[str]:
    return [name for name in Settings.model_fields if getattr(old, name) != getattr(new, name)]


# --- one run's outcome ----------------------------------------------------------------------


def crashed(source_id: str, exc: BaseException) -> RunOutcome:
    summary = CrawlSummary(source_id)
    reason = f"run crashed: {type(exc).__name__}"
    summary.fail(reason)
    return RunOutcome("failed", summary, f"{reason}: {one_line(exc)}")


def abandoned(source_id: str, live: list[CrawlSummary]) -> RunOutcome:
    summary = live[0] if live else CrawlSummary(source_id)
    summary.fail("abandoned at shutdown")
    return RunOutcome("partial", summary, "abandoned at shutdown")


def now_local() -> datetime:
    return datetime.now().astimezone()


# --- the daemon ------------------------------------------------------------------------------


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
        self.location = location
        self.settings = settings
        self.sources = dict(sources)
        self.policy = policy or BackoffPolicy()
        self.metrics = DaemonMetrics()
        # Source files that failed validation (path -> one line per problem).
        self.invalid_sources: dict[str, list[str]] = {}
        self._set_invalid(invalid_sources or {})
        self.states: dict[str, SourceState] = {i: SourceState() for i in sources}
        self.specs: dict[str, JobSpec] = {}
        self.scheduler = AsyncIOScheduler(timezone=settings.zone)
        self.health = HealthServer(
            {"/healthz": self.healthz, "/metrics": self.metrics_response},
            http_host or bind_host(),
            settings.http_port,
        )
        self.config_poll = config_poll
        self.service: CrawlEngine | None = None
        self.stopping = False
        self.started_at = now_local()
        self.database_error: str | None = None
        self.last_reload: datetime | None = None
        self.last_reload_error: str | None = None
        self._engine_factory = engine_factory or _crawl_service
        self._database_opener = database_opener or _open_database
        # Runs crawling, and runs waiting for one of max_concurrent_sources slots. The
        # daemon admits runs itself (the service's gate is never contended) so that a stop
        # can drop the waiting ones at once: they have not started anything.
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._waiting: dict[str, asyncio.Task[Any]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_sources)
        self._stop_requested = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._background: list[asyncio.Future[Any]] = []
        self._catching_up = False
        self._fingerprint = location.fingerprint()

    # --- life cycle ----------------------------------------------------------------------
    async def run(self) -> None:
        """Run until ``request_stop()``; then stop cleanly (see ``_shutdown``)."""
        _quiet_scheduler_logs()
        self.started_at = now_local()
        self.metrics.started.set(time.time())
        # A database that does not answer must not keep /healthz and the crawls from
        # starting: wait a moment for it, then go on with files only and attach it
        # when the connection is made.
        connecting = asyncio.ensure_future(self._connect_database())
        done, _ = await asyncio.wait({connecting}, timeout=DATABASE_START_WAIT)
        database = connecting.result() if done else None
        if database is not None:
            await self._restore_states(database)
        self.service = self._engine_factory(self.settings, database)
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
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler.start()
        self._update_gauges()
        log.info("daemon started: %d source(s) scheduled", len(self.sources))
        self._log_invalid(kept=())
        if not self.sources:
            log.warning("no sources configured: add files to %s/sources", self.location.folder)
        self._spawn(self._watch_config())
        if database is None:
            self._spawn(self._reconnect_database(None if done else connecting))
        else:
            self._start_catch_up(database)
        await self._stop_requested.wait()
        await self._shutdown()

    def request_stop(self) -> None:
        """Stop scheduling and wind down (call from the loop's thread)."""
        if self.stopping:
            return
        self.stopping = True
        log.warning(
            "stopping: no new runs; %d run(s) in flight get %.0f s to finish, %d waiting "
            "are dropped (signal again to exit at once)",
            len(self._inflight),
            STOP_GRACE,
            len(self._waiting),
        )
        if self.scheduler.state == STATE_RUNNING:
            self.scheduler.pause()
        self._stop_requested.set()

    def request_reload(self) -> None:
        """Reload the config (SIGHUP); runs as a task on the loop."""
        if not self.stopping:
            self._spawn(self.reload(reason="SIGHUP"))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` beside the runs; it is cancelled at shutdown."""
        self._background = [task for task in self._background if not task.done()]
        self._background.append(asyncio.ensure_future(work))

    async def _shutdown(self) -> None:
        for task in self._background:
            task.cancel()
        await self._finish_inflight()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.health.close()
        await asyncio.sleep(0)  # let the scheduler's deferred shutdown run
        log.info("stopped")

    async def _finish_inflight(self) -> None:
        """Drop the waiting runs, ask the crawls to stop and wait for their runs; cancel
        what outlives the grace.

        ``stop()`` is asked again every half second: a run moving on to its next channel
        starts a new crawler that must be stopped too."""
        waiting = list(self._waiting.values())
        for task in waiting:
            task.cancel()
        if waiting:
            await asyncio.wait(waiting, timeout=CANCEL_GRACE)
        deadline = time.monotonic() + STOP_GRACE
        stop_calls: list[asyncio.Future[None]] = []
        while self._inflight and time.monotonic() < deadline:
            if self.service is not None:
                stop_calls.append(asyncio.ensure_future(self.service.stop()))
            await asyncio.wait(list(self._inflight.values()), timeout=0.5)
        leftover = list(self._inflight.values())
        if leftover:
            log.warning("abandoning %d run(s) still in flight", len(leftover))
            for task in leftover:
                task.cancel()
            await asyncio.wait(leftover, timeout=CANCEL_GRACE)
        for call in stop_calls:
            call.cancel()

    # --- scheduling ----------------------------------------------------------------------
    def _schedule(self, source_ids: list[str], first_runs: bool) -> None:
        """Add (or replace) the jobs of ``source_ids``; ``first_runs`` starts them soon,
        spread out, instead of one interval from now."""
        specs = {i: job_spec(self.sources[i], self.settings.zone) for i in source_ids}
        offsets = first_run_offsets(specs) if first_runs else {}
        start = now_local()
        for source_id, spec in specs.items():
            self.specs[source_id] = spec
            options = spec.scheduler_options()
            if source_id in offsets:
                options["next_run_time"] = start + offsets[source_id]
            self.scheduler.add_job(self.run_source, args=[source_id], **options)

    def _on_job_event(self, event: JobEvent) -> None:
        source_id = str(event.job_id)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self.metrics.skipped_runs.labels(source_id, "still running").inc()
            log.info(
                "%s: still running from its previous schedule; this run is skipped",
                source_id,
                extra={"source": source_id},
            )
        elif event.code == EVENT_JOB_MISSED:
            self.metrics.skipped_runs.labels(source_id, "missed").inc()
            log.warning(
                "%s: run missed its start time (the daemon was busy or suspended)",
                source_id,
                extra={"source": source_id},
            )

    # --- one run ---------------------------------------------------------------------------
    async def run_source(self, source_id: str) -> None:
        """The scheduled job: crawl one source once and record what happened."""
        source = self.sources.get(source_id)
        state = self.states.get(source_id)
        if source is None or state is None or self.stopping or self.service is None:
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
        task = asyncio.current_task()
        assert task is not None
        self._waiting[source_id] = task
        self._count_runs()
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            return  # stopped while waiting: the run never started, nothing to record
        finally:
            self._waiting.pop(source_id, None)
        try:
            if not self.stopping:
                await self._run_admitted(source, task)
        finally:
            self._slots.release()

    async def _run_admitted(self, source: Source, task: asyncio.Task[Any]) -> None:
        assert self.service is not None
        self._inflight[source.id] = task
        self._count_runs()
        started, clock = now_local(), time.monotonic()
        try:
            run_id = await self._database_call(lambda db: db.start_run(source.id, started))
            live: list[CrawlSummary] = []
            try:
                outcome = await self._crawl(self.service, source, live)
            except asyncio.CancelledError:
                # Abandoned at shutdown: record what the run did so far. The cancellation
                # ends here: this task is the scheduled job itself, nothing awaits it.
                await self._record(source, run_id, abandoned(source.id, live), clock)
                return
            await self._record(source, run_id, outcome, clock)
        finally:
            self._inflight.pop(source.id, None)
            self._count_runs()

    def _count_runs(self) -> None:
        self.metrics.running.set(len(self._inflight))
        self.metrics.waiting.set(len(self._waiting))

    async def _crawl(
        self, service: CrawlEngine, source: Source, live: list[CrawlSummary]
    ) -> RunOutcome:
        """Run the crawl job; ``live`` receives its running summary, so a run abandoned
        at shutdown still records the articles it stored."""
        crawl = asyncio.ensure_future(service.crawl([source], CrawlOptions()))
        await asyncio.sleep(0)  # crawl() registers its contexts in service.active first
        summary = getattr(getattr(service, "active", {}).get(source.id), "summary", None)
        if isinstance(summary, CrawlSummary):
            live.append(summary)
        try:
            report = await crawl
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one source's bug must not end the daemon
            log.exception("%s: run crashed", source.id, extra={"source": source.id})
            return crashed(source.id, exc)
        return outcome_of(report, source.id, stopping=self.stopping)

    async def _record(
        self, source: Source, run_id: int | None, outcome: RunOutcome, clock: float
    ) -> None:
        finished = now_local()
        seconds = time.monotonic() - clock
        state = self.states.get(source.id)
        spec = self.specs.get(source.id)
        if state is not None and spec is not None:  # None: removed from config meanwhile
            was_failing = self.policy.is_failing(state.consecutive_failures)
            state.record(outcome.status, finished, spec.interval, self.policy, outcome.error)
            self._log_failing_change(source.id, state, was_failing)
        self.metrics.run_finished(
            source.id, outcome.status, outcome.summary, seconds, finished.timestamp()
        )
        self._update_gauges([source.id])
        _log_run(source.id, outcome, seconds)
        if outcome.database_error is not None:
            self._database_failed(outcome.database_error)
        if run_id is not None:
            counts = outcome.summary.as_dict()
            await self._database_call(
                lambda db: db.finish_run(run_id, finished, outcome.status, counts)
            )

    def _log_failing_change(self, source_id: str, state: SourceState, was_failing: bool) -> None:
        failing = self.policy.is_failing(state.consecutive_failures)
        if failing and state.skips_left:
            log.warning(
                "%s: failing (%d runs in a row: %s); skipping its next %d run(s)",
                source_id,
                state.consecutive_failures,
                state.last_error,
                state.skips_left,
                extra={"source": source_id},
            )
        elif was_failing and not failing:
            log.warning("%s: recovered", source_id, extra={"source": source_id})

    def failing(self) -> set[str]:
        return {i for i, s in self.states.items() if self.policy.is_failing(s.consecutive_failures)}

    def _update_gauges(self, source_ids: list[str] | None = None) -> None:
        """Refresh the gauges of ``source_ids`` (all sources when None): after a run,
        only its own source changed, and 200 sources run every minute."""
        self.metrics.sources.set(len(self.sources))
        ids = self.sources if source_ids is None else [i for i in source_ids if i in self.sources]
        self.metrics.set_failing(ids, self.failing())
        self.metrics.database_behind.set(1 if self.database_error else 0)

    # --- the database ----------------------------------------------------------------------
    async def _connect_database(self) -> Database | None:
        try:
            return await asyncio.to_thread(self._database_opener, self.settings)
        except Exception as exc:
            self._database_failed(one_line(exc))
            log.error(
                "database unavailable: %s; crawling on, writing files only, retrying every %.0f s",
                one_line(exc),
                DATABASE_RETRY_SECONDS,
            )
            return None

    async def _restore_states(self, database: Database) -> None:
        """Carry each source's last success and failing streak over a restart, from
        crawl_runs, so /healthz and /metrics do not
        forget a failing source because the daemon restarted."""
        try:
            rows = await asyncio.to_thread(database.recent_runs, RUNS_PER_SOURCE)
            statuses = summarize_runs(self.sources, rows, self.policy)
        except Exception as exc:
            log.warning("cannot read past runs, starting with no history: %s", one_line(exc))
            return
        for status in statuses:
            state = self.states[status.source_id]
            state.consecutive_failures = status.consecutive_failures
            state.last_run, state.last_status = status.last_run, status.last_status
            state.last_success = status.last_success
            if status.last_success is not None:
                self.metrics.last_success.labels(status.source_id).set(
                    status.last_success.timestamp()
                )

    async def _reconnect_database(
        self, connecting: asyncio.Future[Database | None] | None = None
    ) -> None:
        """Attach the database once it answers: the start-up connection still under
        way (if any), then a new try every DATABASE_RETRY_SECONDS."""
        if connecting is not None:
            database = await connecting
            if database is not None and self.service is not None:
                self.service.database = database
                log.warning("database reachable")
                self._start_catch_up(database)
                return
        while self.service is not None and self.service.database is None:
            await asyncio.sleep(DATABASE_RETRY_SECONDS)
            try:
                database = await asyncio.to_thread(self._database_opener, self.settings)
            except Exception as exc:
                log.warning("database still unavailable: %s", one_line(exc))
                continue
            self.service.database = database
            log.warning("database reachable again")
            self._start_catch_up(database)

    async def _database_call(self, call: Callable[[Database], T]) -> T | None:
        """``call(database)`` in a thread; None (and the database marked behind) when the
        database is missing or fails: bookkeeping never stops a crawl."""
        database = self.service.database if self.service is not None else None
        if database is None:
            return None
        try:
            result = await asyncio.to_thread(call, database)
        except Exception as exc:
            self._database_failed(one_line(exc))
            return None
        if self.database_error is not None:
            self._start_catch_up(database)
        return result

    def _database_failed(self, reason: str) -> None:
        if self.database_error is None:
            log.error(
                "the database is behind the files (%s); crawling goes on, files are "
                "written, and the database is brought level when it answers",
                reason,
            )
        self.database_error = reason
        self.metrics.database_behind.set(1)

    def _start_catch_up(self, database: Database) -> None:
        if not self._catching_up and not self.stopping:
            self._catching_up = True
            self._spawn(self._catch_up(database))

    async def _catch_up(self, database: Database) -> None:
        """Bring the database level with the files written while it was behind."""
        try:
            assert self.service is not None
            await sync_if_behind(database, self.service.files)
            if self.database_error is not None:
                log.warning("the database is level with the files again")
            self.database_error = None
            self.metrics.database_behind.set(0)
        except Exception as exc:
            self._database_failed(one_line(exc))
        finally:
            self._catching_up = False

    # --- configuration -------------------------------------------------------------------------
    async def _watch_config(self) -> None:
        while True:
            await asyncio.sleep(self.config_poll)
            fingerprint = await asyncio.to_thread(self.location.fingerprint)
            if fingerprint != self._fingerprint:
                await self.reload(reason="config files changed")

    async def reload(self, reason: str) -> SourceChanges | None:
        """Load the config again and apply it; refuse it (keeping the running config)
        when it is invalid. Returns what changed, or None when refused."""
        async with self._reload_lock:
            self._fingerprint = await asyncio.to_thread(self.location.fingerprint)
            try:
                settings, loaded = await asyncio.to_thread(self.location.load)
            except ConfigError as exc:
                self.last_reload_error = str(exc)
                self.metrics.reloads.labels("refused").inc()
                for problem in str(exc).splitlines():
                    log.error("config reload refused, the running config stays: %s", problem)
                return None
            self.last_reload, self.last_reload_error = now_local(), None
            self.metrics.reloads.labels("applied").inc()
            # A running source whose file became invalid runs on with its last good config.
            kept = {
                path.stem: self.sources[path.stem]
                for path in loaded.invalid
                if path.stem in self.sources and path.stem not in loaded.sources
            }
            self._set_invalid(loaded.invalid)
            self._log_invalid(kept)
            changes = self._apply({**loaded.sources, **kept})
            restart = changed_settings(self.settings, settings)
            if restart:
                log.warning(
                    "settings changed (%s): they take effect when the daemon restarts",
                    ", ".join(restart),
                )
            log.info("config reloaded (%s): %s", reason, changes.describe())
            return changes

    def _apply(self, sources: dict[str, Source]) -> SourceChanges:
        changes = diff_sources(self.sources, sources)
        for source_id in changes.removed:
            if self.scheduler.get_job(source_id) is not None:
                self.scheduler.remove_job(source_id)
            self.sources.pop(source_id, None)
            self.states.pop(source_id, None)
            self.specs.pop(source_id, None)
            self.metrics.forget(source_id)
        self.sources.update(sources)  # updated sources take effect at their next run
        for source_id in changes.added:
            self.states[source_id] = SourceState()
        self._schedule(changes.added, first_runs=True)
        self._schedule(changes.rescheduled, first_runs=False)
        self._update_gauges()
        return changes

    def _set_invalid(self, invalid: Mapping[Path, list[str]]) -> None:
        self.invalid_sources = {str(path): list(problems) for path, problems in invalid.items()}
        self.metrics.invalid_source_files.set(len(invalid))

    def _log_invalid(self, kept: Collection[str]) -> None:
        for path, problems in self.invalid_sources.items():
            source_id = Path(path).stem
            what = "runs on with its last good config" if source_id in kept else "not scheduled"
            for problem in problems:
                log.error(
                    "invalid source file: %s (%s %s)",
                    problem,
                    source_id,
                    what,
                    extra={"source": source_id},
                )

    # --- HTTP ------------------------------------------------------------------------------------
    def healthz(self) -> Response:
        scheduling = self.scheduler.state == STATE_RUNNING and not self.stopping
        status = "ok" if scheduling else "stopping" if self.stopping else "not scheduling"
        payload = {
            "status": status,
            "uptime_seconds": round((now_local() - self.started_at).total_seconds(), 1),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "sources": len(self.sources),
            "running": sorted(self._inflight),
            "waiting": len(self._waiting),
            "failing": sorted(self.failing()),
            "database": {"behind": self.database_error is not None, "error": self.database_error},
            "config": {
                "last_reload": _iso(self.last_reload),
                "last_reload_error": self.last_reload_error,
                "invalid_sources": self.invalid_sources,
            },
            "last_success": {i: _iso(s.last_success) for i, s in sorted(self.states.items())},
        }
        code = HTTPStatus.OK if scheduling else HTTPStatus.SERVICE_UNAVAILABLE
        return Response.json(code, payload)

    def metrics_response(self) -> Response:
        cache_sizes = getattr(self.service, "cache_sizes", None)
        if cache_sizes is not None:
            self.metrics.set_caches(cache_sizes())
        return Response(HTTPStatus.OK, self.metrics.render(), CONTENT_TYPE)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _log_run(source_id: str, outcome: RunOutcome, seconds: float) -> None:
    s = outcome.summary
    failed = sum(s.failed.values())
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    log.log(
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


def _quiet_scheduler_logs() -> None:
    # The daemon reports skipped and missed runs itself, per source and with metrics;
    # APScheduler's own lines ("Running job ...") would repeat every run.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def _crawl_service(settings: Settings, database: Database | None) -> CrawlEngine:
    from scraper.crawl import CrawlService

    return CrawlService(settings, database)


def _open_database(settings: Settings) -> Database:
    from scraper.storage.open import open_database

    return open_database(settings)  # migrated, or closed again when migrating fails


# --- the process ---------------------------------------------------------------------------


class _Watchdog:
    """Ends the process HARD_DEADLINE seconds after it starts to stop, whatever is stuck:
    a hung download, an extraction worker that does not return, or a process pool that
    deadlocks when the interpreter joins its threads at exit. Orchestrators send SIGKILL
    at 30 s; an exit of our own, with the intended exit code, is cleaner than that.

    It is never disarmed: it is a daemon thread, so a process that exits in time is not
    held up by it, and one that hangs anywhere on the way out (even after
    ``run_daemon`` returned) is ended."""

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


def run_daemon(location: ConfigLocation) -> int:
    """Load the config, run the daemon in the reactor until a signal, return the exit code.

    Raises ConfigError when the config is invalid and DaemonError when it cannot start."""
    from scraper.reactor import run_in_reactor

    settings, loaded = location.load()
    daemon = Daemon(location, settings, loaded.sources, invalid_sources=loaded.invalid)
    watchdog = _Watchdog()

    def on_stop_signal(signum: int) -> None:
        log.warning("received %s", signal.Signals(signum).name)
        watchdog.arm()
        daemon.request_stop()

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def on_hangup(_signum: int, _frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(daemon.request_reload)

        previous = signal.signal(signal.SIGHUP, on_hangup)
        try:
            await daemon.run()
        finally:
            signal.signal(signal.SIGHUP, previous)

    code = EXIT_FAILED
    try:
        run_in_reactor(main, on_stop_signal)
        code = 0
    except KeyboardInterrupt:  # a second signal: the reactor stopped at once
        log.warning("stopped at once by a second signal; runs in flight were abandoned")
        code = EXIT_ABORTED
    finally:
        watchdog.arm(code)  # from here on the process only winds down: bound it
        if daemon.service is not None:
            daemon.service.close()
    return code
