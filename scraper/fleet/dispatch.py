"""Which sources are due: the fleet's dispatch decisions, as pure functions.

Every dispatch period one worker (the one whose dispatch job holds the advisory lock)
reads the timetable (``fleet_schedule``: when each source is due next) and plans:

- a source new to the timetable (or whose schedule changed) is due one interval after
  its last run (``crawl_runs``, so a fleet taking over from a daemon does not crawl
  everything at once), or soon when it never ran: first runs are spread over the smaller
  of its interval and a minute, so 2,000 new sources do not all start in one second;
- a due source gets a ``crawl_source`` job for its due time, and its next due time is
  computed from that due time, with the same jitter as the daemon (scraper.schedule: a
  few percent of the interval, at most 5 minutes): ``every`` schedules count from the
  jittered time, cron schedules take their next fire time; runs missed while the whole
  fleet was down collapse into one;
- a failing source backs off as in the daemon (``BackoffPolicy``): after its n-th
  failure in a row it lets 2^(n-1) - 1 due times pass (capped).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from scraper.config import Schedule, Source
from scraper.schedule import FIRST_RUN_WINDOW, BackoffPolicy, cron_trigger, interval_of, jitter_for


@dataclass(frozen=True)
class TimetableRow:
    """A row of fleet_schedule."""

    source_id: str
    schedule: str
    next_due: datetime
    last_due: datetime | None = None


@dataclass(frozen=True)
class LastRun:
    """What dispatch needs of a source's recent crawl_runs."""

    started_at: datetime
    consecutive_failures: int = 0


@dataclass
class Plan:
    defer: list[tuple[str, datetime]] = field(default_factory=list)  # (source id, due)
    backoff: list[str] = field(default_factory=list)  # due, skipped: failing source
    rows: list[TimetableRow] = field(default_factory=list)  # rows to write


def schedule_text(schedule: Schedule) -> str:
    if schedule.every is not None:
        return f"every {int(schedule.every.total_seconds())}s"
    return f"cron {schedule.cron}"


def first_run_offset(source_id: str, interval: timedelta) -> timedelta:
    """Where a never-run source's first run falls within min(interval, a minute): a
    stable hash of its id, so every dispatcher agrees and sources spread evenly."""
    spread = min(interval, FIRST_RUN_WINDOW)
    digest = hashlib.sha256(source_id.encode("utf-8")).digest()
    return spread * (int.from_bytes(digest[:8], "big") / 2**64)


def next_due(
    schedule: Schedule, zone: ZoneInfo, due: datetime, now: datetime, rng: random.Random
) -> datetime:
    """The due time after ``due``: one interval (``every``) or the next fire time
    (``cron``) later, plus jitter; never in the past (missed runs collapse into one)."""
    interval = interval_of(schedule, zone, now)
    jitter = timedelta(seconds=rng.uniform(0, jitter_for(interval)))
    if schedule.every is not None:
        base = due + schedule.every
        if base <= now:
            base = now + schedule.every
        return base + jitter
    assert schedule.cron is not None
    trigger = cron_trigger(schedule.cron, zone)
    start = max(due, now)
    fire: datetime | None = trigger.get_next_fire_time(None, start + timedelta(seconds=1))
    return (fire or start + interval) + jitter


def first_due(source: Source, zone: ZoneInfo, now: datetime, last: LastRun | None) -> datetime:
    interval = interval_of(source.schedule, zone, now)
    if last is not None:
        return max(last.started_at + interval, now)
    return now + first_run_offset(source.id, interval)


def backing_off(
    last: LastRun | None, interval: timedelta, now: datetime, policy: BackoffPolicy
) -> bool:
    """True when a failing source is to let this due time pass."""
    if last is None or not policy.is_failing(last.consecutive_failures):
        return False
    skips = policy.skips_after(last.consecutive_failures, interval)
    return now < last.started_at + interval * (skips + 1)


def plan(
    sources: Mapping[str, Source],
    rows: Mapping[str, TimetableRow],
    last_runs: Mapping[str, LastRun],
    now: datetime,
    zone: ZoneInfo,
    policy: BackoffPolicy | None = None,
    rng: random.Random | None = None,
) -> Plan:
    """What to defer now and which timetable rows to write. ``last_runs`` needs only the
    sources that are new to the timetable or due (``needs_last_run``)."""
    policy = policy or BackoffPolicy()
    rng = rng or random.Random()
    result = Plan()
    for source_id in sorted(sources):
        source = sources[source_id]
        text = schedule_text(source.schedule)
        row = rows.get(source_id)
        changed = False
        if row is None or row.schedule != text:
            due = first_due(source, zone, now, last_runs.get(source_id))
            row = TimetableRow(source_id, text, due, row.last_due if row else None)
            changed = True
        if row.next_due <= now:
            interval = interval_of(source.schedule, zone, now)
            if backing_off(last_runs.get(source_id), interval, now, policy):
                result.backoff.append(source_id)
            else:
                result.defer.append((source_id, row.next_due))
                row = replace(row, last_due=row.next_due)
            row = replace(row, next_due=next_due(source.schedule, zone, row.next_due, now, rng))
            changed = True
        if changed:
            result.rows.append(row)
    return result


def needs_last_run(
    sources: Mapping[str, Source], rows: Mapping[str, TimetableRow], now: datetime
) -> list[str]:
    """The sources whose last run ``plan`` will look at: new to the timetable, with a
    changed schedule, or due."""
    wanted = []
    for source_id, source in sources.items():
        row = rows.get(source_id)
        if row is None or row.schedule != schedule_text(source.schedule) or row.next_due <= now:
            wanted.append(source_id)
    return sorted(wanted)
