"""The daemon's Prometheus metrics, in a registry of their own.

A private CollectorRegistry (not prometheus_client's global one) keeps /metrics to what
this service measures, and lets tests build as many daemons as they like in one process.
Label values are bounded: source ids come from config, statuses are a closed set, and
failure reasons are cut short and limited per source, so a site that answers with ever
new error texts cannot grow the series without end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from scraper.summary import CrawlSummary

CONTENT_TYPE = CONTENT_TYPE_LATEST
_disable_created_metrics: Callable[[], None] = disable_created_metrics
MAX_REASONS_PER_SOURCE = 20
MAX_REASON_LENGTH = 80
OTHER_REASON = "other"
# Run durations: a local feed takes well under a second, a slow site with a long listing
# and polite delays several minutes.
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
ARTICLE_STATUSES = ("new", "updated", "unchanged")


class DaemonMetrics:
    def __init__(self) -> None:
        # No "_created" twin of every counter: it doubles /metrics and nobody graphs it.
        _disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "scraper_runs",
            "Finished source runs by status (ok, partial, failed).",
            ["source", "status"],
            registry=r,
        )
        self.skipped_runs = Counter(
            "scraper_runs_skipped",
            "Scheduled runs not started: backoff (failing source) or still running.",
            ["source", "reason"],
            registry=r,
        )
        self.articles = Counter(
            "scraper_articles",
            "Articles stored, by what storing did (new, updated, unchanged).",
            ["source", "status"],
            registry=r,
        )
        self.discovered = Counter(
            "scraper_discovered_articles",
            "Article URLs listed by discovery channels.",
            ["source"],
            registry=r,
        )
        self.failures = Counter(
            "scraper_failures",
            "Failures within runs (pages, channels, runs), by reason.",
            ["source", "reason"],
            registry=r,
        )
        self.last_success = Gauge(
            "scraper_last_success_timestamp_seconds",
            "Unix time of the end of the last run that was not a failure.",
            ["source"],
            registry=r,
        )
        self.last_run = Gauge(
            "scraper_last_run_timestamp_seconds",
            "Unix time of the end of the last run.",
            ["source"],
            registry=r,
        )
        self.source_failing = Gauge(
            "scraper_source_failing",
            "1 while the source's runs keep failing (backing off).",
            ["source"],
            registry=r,
        )
        self.sources_failing = Gauge(
            "scraper_sources_failing", "Sources whose runs keep failing.", registry=r
        )
        self.sources = Gauge("scraper_sources", "Sources scheduled.", registry=r)
        self.running = Gauge("scraper_runs_in_progress", "Source runs crawling.", registry=r)
        self.waiting = Gauge(
            "scraper_runs_waiting",
            "Runs due but waiting for a slot (max_concurrent_sources): growing = overloaded.",
            registry=r,
        )
        self.duration = Histogram(
            "scraper_run_duration_seconds",
            "Wall-clock time of one source run.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.database_behind = Gauge(
            "scraper_database_behind",
            "1 while the database is unreachable or behind the files.",
            registry=r,
        )
        self.invalid_source_files = Gauge(
            "scraper_invalid_source_files",
            "Source files that fail validation: not loaded (a source that was running keeps "
            "its last good config).",
            registry=r,
        )
        self.reloads = Counter(
            "scraper_config_reloads",
            "Configuration reloads by result (applied, refused).",
            ["result"],
            registry=r,
        )
        self.started = Gauge(
            "scraper_start_time_seconds", "Unix time the daemon started.", registry=r
        )
        self.cache_entries = Gauge(
            "scraper_cache_entries",
            "Entries in the bounded in-memory caches (redirects, article checks, Google News "
            "ids, feed validators, refused host names).",
            ["cache"],
            registry=r,
        )
        self.cache_evictions = Gauge(
            "scraper_cache_evictions",
            "Entries the bounded in-memory caches dropped to stay within their size.",
            ["cache"],
            registry=r,
        )
        self._reasons: dict[str, set[str]] = {}

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def set_caches(self, caches: Mapping[str, tuple[int, int]]) -> None:
        """Sizes and evictions of the bounded caches, by name."""
        for name, (size, evictions) in caches.items():
            self.cache_entries.labels(name).set(size)
            self.cache_evictions.labels(name).set(evictions)

    def run_finished(
        self,
        source_id: str,
        status: str,
        summary: CrawlSummary | None,
        seconds: float,
        finished_at: float,
        failure: str | None = None,
    ) -> None:
        self.runs.labels(source_id, status).inc()
        self.duration.observe(seconds)
        self.last_run.labels(source_id).set(finished_at)
        if status != "failed":
            self.last_success.labels(source_id).set(finished_at)
        if failure is not None:
            self.failures.labels(source_id, self.reason_label(source_id, failure)).inc()
        if summary is not None:
            self._count_summary(source_id, summary)

    def _count_summary(self, source_id: str, summary: CrawlSummary) -> None:
        for status in ARTICLE_STATUSES:
            count = getattr(summary, status)
            if count:
                self.articles.labels(source_id, status).inc(count)
        if summary.discovered:
            self.discovered.labels(source_id).inc(summary.discovered)
        for reason, count in summary.failed.items():
            self.failures.labels(source_id, self.reason_label(source_id, reason)).inc(count)

    def reason_label(self, source_id: str, reason: str) -> str:
        """``reason`` as a label value; past the per-source limit, "other"."""
        reason = " ".join(reason.split())[:MAX_REASON_LENGTH] or "unknown"
        seen = self._reasons.setdefault(source_id, set())
        if reason in seen:
            return reason
        if len(seen) >= MAX_REASONS_PER_SOURCE:
            return OTHER_REASON
        seen.add(reason)
        return reason

    def set_failing(self, all_sources: Iterable[str], failing: set[str]) -> None:
        for source_id in all_sources:
            self.source_failing.labels(source_id).set(1 if source_id in failing else 0)
        self.sources_failing.set(len(failing))

    def forget(self, source_id: str) -> None:
        """Drop the gauges of a source that left the config (its counters stay: they are
        history, and Prometheus handles a counter that stops growing)."""
        for gauge in (self.last_success, self.last_run, self.source_failing):
            with contextlib.suppress(KeyError):
                gauge.remove(source_id)
