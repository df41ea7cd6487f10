"""The daemon's timetable: one APScheduler job per source, on the asyncio loop.

The timing rules themselves (triggers, jitter, first runs, backoff) are pure functions in
scraper.schedule; this module only puts them into a running AsyncIOScheduler and turns
its events (a run skipped because the previous one still runs, a missed start) into
metrics and log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from scraper.config import Source
from scraper.metrics import DaemonMetrics
from scraper.schedule import JobSpec, first_run_offsets, job_spec
from scraper.service.job import now_local

RunSource = Callable[[str], Coroutine[Any, Any, None]]


class SourceScheduler:
    def __init__(
        self, zone: ZoneInfo, run_source: RunSource, metrics: DaemonMetrics, logger: logging.Logger
    ) -> None:
        self.zone = zone
        self.scheduler = AsyncIOScheduler(timezone=zone)
        self.specs: dict[str, JobSpec] = {}
        self.run_source = run_source
        self.metrics = metrics
        self.log = logger

    @property
    def running(self) -> bool:
        return bool(self.scheduler.state == STATE_RUNNING)

    def start(self) -> None:
        # The daemon reports skipped and missed runs itself, per source and with metrics;
        # APScheduler's own lines ("Running job ...") would repeat every run.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler.start()

    def pause(self) -> None:
        if self.running:
            self.scheduler.pause()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule(self, sources: Mapping[str, Source], ids: list[str], first_runs: bool) -> None:
        """Add (or replace) the jobs of ``ids``; ``first_runs`` starts them soon, spread
        out, instead of one interval from now."""
        specs = {i: job_spec(sources[i], self.zone) for i in ids}
        offsets = first_run_offsets(specs) if first_runs else {}
        start = now_local()
        for source_id, spec in specs.items():
            self.specs[source_id] = spec
            options = spec.scheduler_options()
            if source_id in offsets:
                options["next_run_time"] = start + offsets[source_id]
            self.scheduler.add_job(self.run_source, args=[source_id], **options)

    def remove(self, source_id: str) -> None:
        if self.scheduler.get_job(source_id) is not None:
            self.scheduler.remove_job(source_id)
        self.specs.pop(source_id, None)

    def _on_event(self, event: JobEvent) -> None:
        source_id = str(event.job_id)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self.metrics.skipped_runs.labels(source_id, "still running").inc()
            self.log.info(
                "%s: still running from its previous schedule; this run is skipped",
                source_id,
                extra={"source": source_id},
            )
        elif event.code == EVENT_JOB_MISSED:
            self.metrics.skipped_runs.labels(source_id, "missed").inc()
            self.log.warning(
                "%s: run missed its start time (the daemon was busy or suspended)",
                source_id,
                extra={"source": source_id},
            )
