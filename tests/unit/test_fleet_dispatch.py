"""The fleet's dispatch decisions (scraper.fleet.dispatch), the engine's schema files, the
host lease keys and the orphaned-run rule, without a database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scraper.config import Source
from scraper.fleet.dispatch import (
    LastRun,
    TimetableRow,
    first_run_offset,
    needs_last_run,
    next_due,
    plan,
    schedule_text,
)
from scraper.fleet.engine import DISPATCH_CRON, pending_engine_migrations
from scraper.fleet.politeness import host_of, lease_key
from scraper.fleet.store import consecutive_failures
from scraper.schedule import BackoffPolicy
from scraper.service.orphans import orphaned_runs

ZONE = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2024, 6, 3, 12, 0, 0, tzinfo=UTC)


def source(source_id: str, schedule: dict[str, Any] | None = None, home: str = "") -> Source:
    return Source.model_validate(
        {
            "id": source_id,
            "name": source_id,
            "homepage": home or f"https://{source_id}.example.org",
            "schedule": schedule or {"every": "10m"},
            "discovery": [{"kind": "feed", "url": "https://example.org/rss"}],
        }
    )


def row(source_id: str, due: datetime, text: str = "every 600s") -> TimetableRow:
    return TimetableRow(source_id, text, due)


def test_a_new_source_never_run_is_due_within_its_spread() -> None:
    sources = {"a": source("a", {"every": "10m"}), "b": source("b", {"every": "5s"})}
    result = plan(sources, {}, {}, NOW, ZONE, rng=random.Random(1))
    assert result.defer == []  # not due this very second: spread
    by_id = {r.source_id: r for r in result.rows}
    assert NOW <= by_id["a"].next_due <= NOW + timedelta(seconds=60)
    assert NOW <= by_id["b"].next_due <= NOW + timedelta(seconds=5)
    # Stable: every dispatcher computes the same first due time.
    assert first_run_offset("a", timedelta(minutes=10)) == first_run_offset(
        "a", timedelta(minutes=10)
    )


def test_first_runs_of_many_sources_spread_over_the_window() -> None:
    offsets = sorted(first_run_offset(f"s{i}", timedelta(minutes=10)) for i in range(2000))
    assert offsets[0] < timedelta(seconds=1) and offsets[-1] > timedelta(seconds=59)
    assert offsets[1000] == pytest.approx(timedelta(seconds=30), abs=timedelta(seconds=3))


def test_a_source_with_history_is_due_one_interval_after_its_last_run() -> None:
    sources = {"a": source("a")}
    last = {"a": LastRun(NOW - timedelta(minutes=4))}
    result = plan(sources, {}, last, NOW, ZONE)
    assert result.defer == []
    assert result.rows[0].next_due == NOW + timedelta(minutes=6)
    long_ago = {"a": LastRun(NOW - timedelta(hours=3))}
    result = plan(sources, {}, long_ago, NOW, ZONE, rng=random.Random(2))
    assert result.defer == [("a", NOW)]


def test_a_due_source_is_deferred_for_its_due_time_and_moves_on_one_interval() -> None:
    due = NOW - timedelta(seconds=3)
    result = plan({"a": source("a")}, {"a": row("a", due)}, {}, NOW, ZONE, rng=random.Random(3))
    assert result.defer == [("a", due)]
    (written,) = result.rows
    assert written.last_due == due
    # One interval from the due time (not from now), plus at most 5 % jitter.
    assert due + timedelta(minutes=10) <= written.next_due <= due + timedelta(minutes=10.5)


def test_not_yet_due_sources_are_left_alone() -> None:
    result = plan({"a": source("a")}, {"a": row("a", NOW + timedelta(seconds=1))}, {}, NOW, ZONE)
    assert result.defer == [] and result.rows == []
    assert needs_last_run({"a": source("a")}, {"a": row("a", NOW + timedelta(1))}, NOW) == []


def test_runs_missed_while_the_fleet_was_down_collapse_into_one() -> None:
    due = NOW - timedelta(hours=5)
    result = plan({"a": source("a")}, {"a": row("a", due)}, {}, NOW, ZONE, rng=random.Random(4))
    assert result.defer == [("a", due)]
    assert NOW + timedelta(minutes=10) <= result.rows[0].next_due


def test_a_changed_schedule_recomputes_the_due_time() -> None:
    sources = {"a": source("a", {"every": "1h"})}
    rows = {"a": row("a", NOW + timedelta(minutes=9), text="every 600s")}
    last = {"a": LastRun(NOW - timedelta(minutes=1))}
    assert needs_last_run(sources, rows, NOW) == ["a"]
    result = plan(sources, rows, last, NOW, ZONE)
    assert result.rows[0].schedule == "every 3600s"
    assert result.rows[0].next_due == NOW + timedelta(minutes=59)


def test_cron_schedules_take_their_next_fire_time() -> None:
    sources = {"a": source("a", {"cron": "0 * * * *"})}
    due = NOW - timedelta(seconds=2)
    rows = {"a": row("a", due, text=schedule_text(sources["a"].schedule))}
    result = plan(sources, rows, {}, NOW, ZONE, rng=random.Random(5))
    assert result.defer == [("a", due)]
    nxt = result.rows[0].next_due
    assert NOW + timedelta(hours=1) <= nxt <= NOW + timedelta(hours=1, minutes=3)
    assert next_due(sources["a"].schedule, ZONE, due, NOW, random.Random(6)).minute in (0, 1, 2)


def test_a_failing_source_backs_off_like_the_daemon() -> None:
    policy = BackoffPolicy()
    sources = {"a": source("a")}
    rows = {"a": row("a", NOW)}
    # Three failures in a row: skip 3 due times, i.e. run once per 4 intervals.
    recent = {"a": LastRun(NOW - timedelta(minutes=10), consecutive_failures=3)}
    result = plan(sources, rows, recent, NOW, ZONE, policy)
    assert result.defer == [] and result.backoff == ["a"]
    assert result.rows[0].next_due > NOW
    old = {"a": LastRun(NOW - timedelta(minutes=40), consecutive_failures=3)}
    assert plan(sources, rows, old, NOW, ZONE, policy).defer == [("a", NOW)]
    once = {"a": LastRun(NOW - timedelta(minutes=10), consecutive_failures=1)}
    assert plan(sources, rows, once, NOW, ZONE, policy).defer == [("a", NOW)]


def test_consecutive_failures_ignore_running_runs() -> None:
    assert consecutive_failures(["running", "failed", "failed", "ok", "failed"]) == 2
    assert consecutive_failures(["ok", "failed"]) == 0
    assert consecutive_failures(["abandoned", "failed"]) == 0


def test_the_dispatch_runs_every_five_seconds() -> None:
    croniter = pytest.importorskip("croniter")
    start = datetime(2024, 6, 3, 12, 0, 1, tzinfo=UTC).timestamp()
    it = croniter.croniter(DISPATCH_CRON, start)
    ticks = [it.get_next(float) - start for _ in range(3)]
    assert ticks == [4.0, 9.0, 14.0]


def test_engine_migrations_between_versions(tmp_path: Path) -> None:
    for name in (
        "03.01.00_01_pre_add_heartbeat.sql",
        "03.01.00_50_post_add_heartbeat.sql",
        "03.04.00_01_pre_x.sql",
        "03.11.00_01_pre_future.sql",
        "02.00.03_01_old.sql",
        "__init__.py",
    ):
        (tmp_path / name).write_text("")
    names = [p.name for p in pending_engine_migrations("3.0.0", "3.10.0", tmp_path)]
    assert names == [
        "03.01.00_01_pre_add_heartbeat.sql",
        "03.01.00_50_post_add_heartbeat.sql",
        "03.04.00_01_pre_x.sql",
    ]
    assert pending_engine_migrations("3.10.0", "3.10.0", tmp_path) == []


def test_host_leases_are_per_host_and_port() -> None:
    a = source("a", home="https://www.gov.example/news")
    b = source("b", home="https://WWW.gov.example:443/other")
    c = source("c", home="http://www.gov.example:8080/")
    assert host_of(a) == host_of(b) == "www.gov.example:443"
    assert host_of(c) == "www.gov.example:8080"
    assert lease_key(host_of(a)) == lease_key(host_of(b)) != lease_key(host_of(c))
    assert -(2**63) <= lease_key("x:1") < 2**63


def test_orphaned_runs_are_those_whose_process_is_gone() -> None:
    started = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    rows = [
        {"id": 1, "worker": "here:100", "started_at": started},  # dead pid
        {"id": 2, "worker": "here:200", "started_at": started},  # alive, same process
        {"id": 3, "worker": "there:100", "started_at": started},  # another host: not ours
        {"id": 4, "worker": None, "started_at": started},  # before workers were recorded
        {"id": 5, "worker": "here:7", "started_at": started},  # our own pid: a restart
        {"id": 6, "worker": "here:300", "started_at": started},  # pid reused since
    ]
    process_start = {200: started.timestamp() - 60, 300: started.timestamp() + 600}
    found = orphaned_runs(
        rows,
        "here",
        7,
        alive=lambda pid: pid in (200, 300),
        started_at=process_start.get,
    )
    assert found == [1, 4, 5, 6]


def test_scraper_sources_names_the_worker_of_the_last_run() -> None:
    from scraper.schedule import summarize_runs

    started = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    rows = [
        {
            "source_id": "a",
            "started_at": started,
            "finished_at": started,
            "status": "ok",
            "counts": {"new": 1},
            "worker": "node-2:4711",
        },
        {
            "source_id": "a",
            "started_at": started - timedelta(minutes=5),
            "finished_at": started,
            "status": "abandoned",
            "counts": {},
            "worker": "node-1:99",
        },
    ]
    (status,) = summarize_runs(["a"], rows)
    assert status.last_worker == "node-2:4711"
    assert " ok on node-2:4711," in status.describe()
