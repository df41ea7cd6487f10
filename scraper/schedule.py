"""When each source runs: APScheduler triggers from source schedules, and the backoff of
failing sources.

Pure functions and small value classes, so the timing rules are unit-tested without a
running scheduler:

- ``every`` becomes an IntervalTrigger, ``cron`` a CronTrigger in the settings' time zone
  (crontab semantics, see ``cron_trigger``).
- Every trigger gets a jitter of a few percent of its interval (capped), so sources with
  the same schedule drift apart instead of firing together.
- First runs are spread over the first minute after start (``first_run_offsets``), so
  200 sources do not all start in the same second.
- A source whose runs keep failing skips an exponentially growing number of its
  scheduled runs (``BackoffPolicy``), but is never dropped: the next run that succeeds
  ends the backoff.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scraper.config import Schedule, Source

JITTER_FRACTION = 0.05  # of the interval
JITTER_CAP = timedelta(minutes=5)
# First runs start after this delay and spread over at most this window.
FIRST_RUN_DELAY = timedelta(seconds=1)
FIRST_RUN_WINDOW = timedelta(seconds=60)
MISFIRE_GRACE_MIN = timedelta(seconds=1)
MISFIRE_GRACE_MAX = timedelta(hours=1)

_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_NUMBER = {name: number for number, name in enumerate(_WEEKDAY_NAMES)}


# --- triggers ----------------------------------------------------------------------------


def crontab_weekdays(expr: str) -> str:
    """A crontab day-of-week field as an APScheduler ``day_of_week`` expression.

    APScheduler 3 numbers weekdays from Monday = 0 while crontab uses Sunday = 0 (and 7),
    so "1-5" would silently mean Tuesday to Saturday. Every field other than ``*`` is
    expanded to explicit day names, which mean the same thing to both."""
    expr = expr.strip().lower()
    if expr in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in expr.split(","):
        days.update(_weekday_part(part))
    return ",".join(_WEEKDAY_NAMES[day] for day in sorted(days))


def _weekday_part(part: str) -> Iterable[int]:
    span, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if step < 1:
        raise ValueError(f"bad step in day-of-week {part!r}")
    if span in ("*", "?"):
        first, last = 0, 6
    elif "-" in span:
        low, high = span.split("-", 1)
        first, last = _weekday(low), _weekday(high)
        if last == 0 and first > 0:  # "5-7" or "fri-sun": 7 is the week's last Sunday
            last = 7
    else:
        first = last = _weekday(span)
        if step_text:  # "1/2" means from Monday on, every second day
            last = 6
    if first > last:
        raise ValueError(f"day-of-week range {span!r} runs backwards")
    return {day % 7 for day in range(first, last + 1, step)}


def _weekday(text: str) -> int:
    text = text.strip()
    if text in _WEEKDAY_NUMBER:
        return _WEEKDAY_NUMBER[text]
    if text[:3] in _WEEKDAY_NUMBER and len(text) > 3:
        return _WEEKDAY_NUMBER[text[:3]]
    if not text.isdigit() or not 0 <= int(text) <= 7:
        raise ValueError(f"bad day of week {text!r}")
    return int(text)  # 7 stays 7 here so that "0-7" spans the whole week


def cron_trigger(expr: str, zone: ZoneInfo, jitter: float | None = None) -> BaseTrigger:
    """A trigger firing as cron(8) would for ``expr`` ("min hour dom month dow").

    Two crontab rules APScheduler's own ``from_crontab`` gets wrong are kept: weekdays are
    numbered from Sunday (see ``crontab_weekdays``), and when both day-of-month and
    day-of-week are restricted a day matching either one fires."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expr!r} needs 5 fields, got {len(fields)}")
    minute, hour, day, month, weekday = fields
    weekdays = crontab_weekdays(weekday)

    def cron(day_field: str, weekday_field: str) -> CronTrigger:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day_field,
            month=month,
            day_of_week=weekday_field,
            timezone=zone,
            jitter=jitter,
        )

    if day not in ("*", "?") and weekdays != "*":
        return OrTrigger([cron(day, "*"), cron("*", weekdays)], jitter=jitter)
    return cron(day, weekdays)


def interval_of(schedule: Schedule, zone: ZoneInfo, now: datetime | None = None) -> timedelta:
    """The time between two runs: exact for ``every``; for ``cron``, the gap between its
    next two fire times from ``now`` (used only to size jitter, grace and backoff)."""
    if schedule.every is not None:
        return schedule.every
    assert schedule.cron is not None
    trigger = cron_trigger(schedule.cron, zone)
    now = now or datetime.now(zone)
    first: datetime | None = trigger.get_next_fire_time(None, now)
    second: datetime | None = (
        trigger.get_next_fire_time(first, first) if first is not None else None
    )
    if first is None or second is None:
        return timedelta(days=1)
    return max(second - first, timedelta(seconds=1))


def jitter_for(interval: timedelta) -> float:
    """Seconds of random delay added to each fire time: a few percent of the interval,
    capped, so a long schedule does not wander by hours."""
    return min(interval * JITTER_FRACTION, JITTER_CAP).total_seconds()


def misfire_grace(interval: timedelta) -> int:
    """Seconds a run may start late (a busy loop, a suspended machine) and still run.

    One interval: with ``coalesce`` the scheduler keeps only the latest missed run, which
    is at most one interval old, so a late run happens once instead of being dropped."""
    grace = min(max(interval, MISFIRE_GRACE_MIN), MISFIRE_GRACE_MAX)
    return max(1, int(grace.total_seconds()))


@dataclass(frozen=True)
class JobSpec:
    """Everything the scheduler needs to run one source."""

    source_id: str
    trigger: BaseTrigger
    interval: timedelta
    misfire_grace_time: int

    def scheduler_options(self) -> dict[str, Any]:
        return {
            "id": self.source_id,
            "name": self.source_id,
            "trigger": self.trigger,
            "max_instances": 1,  # a source never crawls twice at once
            "coalesce": True,  # runs missed while busy collapse into one
            "misfire_grace_time": self.misfire_grace_time,
            "replace_existing": True,
        }


def job_spec(source: Source, zone: ZoneInfo, now: datetime | None = None) -> JobSpec:
    schedule = source.schedule
    interval = interval_of(schedule, zone, now)
    jitter = jitter_for(interval)
    trigger: BaseTrigger
    if schedule.every is not None:
        trigger = IntervalTrigger(
            seconds=schedule.every.total_seconds(), timezone=zone, jitter=jitter or None
        )
    else:
        assert schedule.cron is not None
        trigger = cron_trigger(schedule.cron, zone, jitter=jitter or None)
    return JobSpec(source.id, trigger, interval, misfire_grace(interval))


def first_run_offsets(
    specs: Mapping[str, JobSpec],
    delay: timedelta = FIRST_RUN_DELAY,
    window: timedelta = FIRST_RUN_WINDOW,
) -> dict[str, timedelta]:
    """When each source first runs, counted from now: soon, and spread evenly.

    The i-th of n sources (by id) starts at delay + window_i * i / n, where window_i is
    the smaller of ``window`` and its interval, so even a 5-second source runs within
    its first interval and sources of the same interval keep distinct phases."""
    ids = sorted(specs)
    offsets: dict[str, timedelta] = {}
    for index, source_id in enumerate(ids):
        spread = min(window, specs[source_id].interval)
        offsets[source_id] = delay + spread * (index / len(ids))
    return offsets


# --- reload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceChanges:
    """How a reloaded set of sources differs from the running one."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)  # the schedule changed
    updated: list[str] = field(default_factory=list)  # anything else changed

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.rescheduled or self.updated)

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(ids)}"
            for label, ids in (
                ("added", self.added),
                ("removed", self.removed),
                ("rescheduled", self.rescheduled),
                ("updated", self.updated),
            )
            if ids
        ]
        return "; ".join(parts) or "no change"


def diff_sources(old: Mapping[str, Source], new: Mapping[str, Source]) -> SourceChanges:
    common = sorted(old.keys() & new.keys())
    return SourceChanges(
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        rescheduled=[i for i in common if old[i].schedule != new[i].schedule],
        updated=[i for i in common if old[i].schedule == new[i].schedule and old[i] != new[i]],
    )


# --- failing sources ------------------------------------------------------------------------


@dataclass(frozen=True)
class BackoffPolicy:
    """How many scheduled runs a failing source skips.

    After the n-th failure in a row it skips 2**(n-1) - 1 runs (0, 1, 3, 7, ...): one
    failure is often a blip and is retried on schedule; a source that stays down is
    asked less and less often. The skips are capped by count and by time, so even a
    daily source is retried within ``max_pause`` and a recovered source comes back."""

    max_skips: int = 15
    max_pause: timedelta = timedelta(hours=6)
    failing_after: int = 2  # consecutive failures that mark a source as failing

    def skips_after(self, failures: int, interval: timedelta) -> int:
        if failures <= 1:
            return 0
        exponential = (1 << min(failures - 1, 30)) - 1
        by_time = math.floor(self.max_pause / max(interval, timedelta(seconds=1)))
        return max(0, min(exponential, self.max_skips, by_time))

    def is_failing(self, failures: int) -> bool:
        return failures >= self.failing_after


@dataclass
class SourceState:
    """What the daemon knows about one source's recent runs."""

    consecutive_failures: int = 0
    skips_left: int = 0
    runs: int = 0
    last_run: datetime | None = None
    last_success: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None

    def record(
        self,
        status: str,
        finished: datetime,
        interval: timedelta,
        policy: BackoffPolicy,
        error: str | None = None,
    ) -> None:
        """Account for a finished run and set how many runs to skip next."""
        self.runs += 1
        self.last_run = finished
        self.last_status = status
        self.last_error = error
        if status == "failed":
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0
            self.last_success = finished
        self.skips_left = policy.skips_after(self.consecutive_failures, interval)

    def take_skip(self) -> bool:
        """True when this scheduled run is to be skipped (backing off)."""
        if self.skips_left <= 0:
            return False
        self.skips_left -= 1
        return True


# --- run history ------------------------------------------------------------------------------

RUNS_PER_SOURCE = 20  # recent crawl_runs rows read per source
SUCCESS = ("ok", "partial")


class RunHistory(Protocol):
    """Read access to crawl_runs that ``sources_status`` needs from a database."""

    def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
        """The newest runs of each source, newest first: dicts with source_id,
        started_at, finished_at, status and counts (a dict)."""
        ...


@dataclass(frozen=True)
class SourceStatus:
    source_id: str
    runs: int  # among the recent runs read
    last_run: datetime | None
    last_status: str | None  # ok | partial | failed | running
    last_success: datetime | None  # None: no success among the recent runs
    consecutive_failures: int
    failing: bool
    last_counts: Mapping[str, Any]
    last_worker: str | None = None  # host:pid of the process that ran the last run

    def describe(self, zone: tzinfo | None = None) -> str:
        """One line: what an operator asks first about a source. Times are shown in
        ``zone`` (the output time zone, as in the records; default: the local one)."""
        if self.last_run is None:
            return f"{self.source_id}: never run"
        counts = self.last_counts
        success = _when(self.last_success, zone) if self.last_success else "none recent"
        parts = [
            f"last run {_when(self.last_run, zone)} {self.last_status}"
            + (f" on {self.last_worker}" if self.last_worker else ""),
            f"last success {success}",
            "new {} updated {} unchanged {} failed {}".format(
                counts.get("new", 0),
                counts.get("updated", 0),
                counts.get("unchanged", 0),
                sum((counts.get("failed") or {}).values()),
            ),
        ]
        if self.failing:
            parts.append(f"FAILING ({self.consecutive_failures} runs in a row)")
        return f"{self.source_id}: " + ", ".join(parts)


def summarize_runs(
    source_ids: Iterable[str],
    runs: Sequence[Mapping[str, Any]],
    policy: BackoffPolicy | None = None,
) -> list[SourceStatus]:
    """The status of each configured source from its recent crawl_runs rows (any order).
    Sources with no row are listed as never run; rows of removed sources are ignored."""
    policy = policy or BackoffPolicy()
    by_source: dict[str, list[Mapping[str, Any]]] = {}
    for row in runs:
        by_source.setdefault(str(row["source_id"]), []).append(row)
    statuses = []
    for source_id in source_ids:
        rows = sorted(by_source.get(source_id, []), key=_started, reverse=True)
        statuses.append(_status(source_id, rows, policy))
    return statuses


def _status(source_id: str, rows: list[Mapping[str, Any]], policy: BackoffPolicy) -> SourceStatus:
    finished = [r for r in rows if r.get("status") != "running"]
    failures = 0
    for row in finished:
        if row.get("status") != "failed":
            break
        failures += 1
    success = next((r for r in finished if r.get("status") in SUCCESS), None)
    last = rows[0] if rows else None
    counts = last.get("counts") if last else None
    if isinstance(counts, str):
        counts = json.loads(counts or "{}")
    return SourceStatus(
        source_id=source_id,
        runs=len(rows),
        last_run=_moment(last.get("finished_at") or last.get("started_at")) if last else None,
        last_status=str(last.get("status")) if last else None,
        last_success=_moment(success.get("finished_at")) if success else None,
        consecutive_failures=failures,
        failing=policy.is_failing(failures),
        last_counts=counts if isinstance(counts, Mapping) else {},
        last_worker=str(last["worker"]) if last and last.get("worker") else None,
    )


def _started(row: Mapping[str, Any]) -> datetime:
    moment = _moment(row.get("started_at"))
    return moment or datetime.min.astimezone()


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.astimezone()


def _when(moment: datetime | None, zone: tzinfo | None = None) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")
