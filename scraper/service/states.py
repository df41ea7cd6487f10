"""What a process knows about each source's recent runs: failing streaks, backoff, last
success, and the gauges and log lines that show them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from scraper.logs import one_line
from scraper.metrics import DaemonMetrics
from scraper.schedule import RUNS_PER_SOURCE, BackoffPolicy, SourceState, summarize_runs
from scraper.service.job import RunResult

if TYPE_CHECKING:
    from scraper.storage.base import Database


class SourceStates:
    def __init__(
        self,
        source_ids: Iterable[str],
        policy: BackoffPolicy,
        metrics: DaemonMetrics,
        logger: logging.Logger,
    ) -> None:
        self.states: dict[str, SourceState] = {i: SourceState() for i in source_ids}
        self.policy = policy
        self.metrics = metrics
        self.log = logger

    def add(self, source_id: str) -> None:
        self.states.setdefault(source_id, SourceState())

    def forget(self, source_id: str) -> None:
        self.states.pop(source_id, None)
        self.metrics.forget(source_id)

    def failing(self) -> set[str]:
        return {i for i, s in self.states.items() if self.policy.is_failing(s.consecutive_failures)}

    def record(self, result: RunResult, interval: timedelta | None) -> None:
        """Account for a finished run: its state (when the source is still configured and
        ``interval`` known), its metrics and, when it changes, the failing line."""
        source_id, outcome = result.source_id, result.outcome
        state = self.states.get(source_id)
        if state is not None and interval is not None:
            was_failing = self.policy.is_failing(state.consecutive_failures)
            state.record(outcome.status, result.finished, interval, self.policy, outcome.error)
            self._log_failing_change(source_id, was_failing)
        self.metrics.run_finished(
            source_id, outcome.status, outcome.summary, result.seconds, result.finished.timestamp()
        )

    def update_gauges(
        self, all_ids: Iterable[str], source_ids: Iterable[str] | None = None
    ) -> None:
        """Refresh the failing gauges of ``source_ids`` (all when None): after a run, only
        its own source changed, and 200 sources run every minute."""
        known = list(all_ids)
        self.metrics.sources.set(len(known))
        ids = known if source_ids is None else [i for i in source_ids if i in known]
        self.metrics.set_failing(ids, self.failing())

    def _log_failing_change(self, source_id: str, was_failing: bool) -> None:
        state = self.states[source_id]
        failing = self.policy.is_failing(state.consecutive_failures)
        if failing and state.skips_left:
            self.log.warning(
                "%s: failing (%d runs in a row: %s); skipping its next %d run(s)",
                source_id,
                state.consecutive_failures,
                state.last_error,
                state.skips_left,
                extra={"source": source_id},
            )
        elif was_failing and not failing:
            self.log.warning("%s: recovered", source_id, extra={"source": source_id})

    async def restore(self, database: Database, sources: Mapping[str, object]) -> None:
        """Carry each source's last success and failing streak over a restart, from
        crawl_runs, so /healthz and /metrics do not forget a failing source because the
        process restarted."""
        try:
            rows = await asyncio.to_thread(database.recent_runs, RUNS_PER_SOURCE)
            statuses = summarize_runs(sources, rows, self.policy)
        except Exception as exc:
            self.log.warning("cannot read past runs, starting with no history: %s", one_line(exc))
            return
        for status in statuses:
            state = self.states.setdefault(status.source_id, SourceState())
            state.consecutive_failures = status.consecutive_failures
            state.last_run, state.last_status = status.last_run, status.last_status
            state.last_success = status.last_success
            if status.last_success is not None:
                self.metrics.last_success.labels(status.source_id).set(
                    status.last_success.timestamp()
                )
