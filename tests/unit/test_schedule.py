"""When sources run: triggers, jitter, first-run spread, reload diffs and backoff."""

from __future__ import annotations

import asyncio
import itertools
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from scraper.config import Source
from scraper.daemon import ConfigLocation, Daemon
from scraper.schedule import (
    BackoffPolicy,
    SourceState,
    cron_trigger,
    crontab_weekdays,
    diff_sources,
    first_run_offsets,
    interval_of,
    jitter_for,
    job_spec,
    misfire_grace,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
MONDAY = datetime(2024, 6, 3, 12, 0, tzinfo=SAO_PAULO)  # a Monday


def source(source_id: str = "a", **changes: Any) -> Source:
    data: dict[str, Any] = {
        "id": source_id,
        "name": f"Source {source_id}",
        "homepage": "https://example.org",
        "schedule": {"every": "30m"},
        "discovery": [{"kind": "feed", "url": "https://example.org/rss"}],
    }
    data.update(changes)
    return Source.model_validate(data)


def fire_times(trigger: Any, start: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        moment = trigger.get_next_fire_time(previous, now)
        times.append(moment)
        previous, now = moment, moment
    return times


# --- triggers -------------------------------------------------------------------------------


def test_every_fires_at_its_interval_plus_at_most_the_jitter() -> None:
    spec = job_spec(source(schedule={"every": "10m"}), SAO_PAULO)
    jitter = jitter_for(timedelta(minutes=10))
    assert jitter == pytest.approx(30.0)  # 5 % of ten minutes
    times = fire_times(spec.trigger, MONDAY, 50)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(600 <= gap <= 600 + jitter for gap in gaps)
    assert len(set(gaps)) > 1, "jitter should vary the gaps"


def test_jitter_is_a_few_percent_and_capped() -> None:
    assert jitter_for(timedelta(seconds=5)) == pytest.approx(0.25)
    assert jitter_for(timedelta(hours=1)) == pytest.approx(180.0)
    assert jitter_for(timedelta(days=1)) == 300.0  # not 72 minutes


def test_cron_fires_in_the_settings_time_zone() -> None:
    spec = job_spec(source(schedule={"cron": "0 6 * * *"}), SAO_PAULO)
    first = spec.trigger.get_next_fire_time(None, MONDAY)
    local = first.astimezone(SAO_PAULO)
    six = local.replace(hour=6, minute=0, second=0, microsecond=0)
    assert spec.trigger.jitter == 300.0  # a daily schedule: the cap
    assert 0 <= (local - six).total_seconds() <= 300, "06:00 plus at most the jitter"
    assert six.astimezone(UTC).hour == 9  # São Paulo is UTC-3
    assert local.date() == MONDAY.date() + timedelta(days=1)


def test_cron_weekdays_count_from_sunday_like_crontab() -> None:
    # "1-5" is Monday to Friday in crontab; APScheduler's from_crontab reads Tuesday-Saturday.
    trigger = cron_trigger("0 9 * * 1-5", SAO_PAULO)
    days = {t.strftime("%a") for t in fire_times(trigger, MONDAY, 10)}
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    wrong = {
        t.strftime("%a") for t in fire_times(CronTrigger.from_crontab("0 9 * * 1-5"), MONDAY, 10)
    }
    assert wrong != days, "APScheduler fixed its numbering: crontab_weekdays may go"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0-7", "sun,mon,tue,wed,thu,fri,sat"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("sat,sun", "sun,sat"),
    ],
)
def test_crontab_weekday_fields(field: str, expected: str) -> None:
    assert crontab_weekdays(field) == expected


def test_bad_weekday_field_is_refused() -> None:
    with pytest.raises(ValueError):
        crontab_weekdays("8")
    with pytest.raises(ValueError):
        crontab_weekdays("5-2")


def test_cron_with_day_of_month_and_weekday_fires_on_either() -> None:
    # crontab: on the 15th AND on every Sunday (not only Sundays that are the 15th).
    trigger = cron_trigger("0 0 15 * 0", SAO_PAULO)
    times = fire_times(trigger, datetime(2024, 6, 1, tzinfo=SAO_PAULO), 6)
    days = [(t.day, t.strftime("%a")) for t in times]
    assert (15, "Sat") in days
    assert sum(1 for _, name in days if name == "Sun") >= 4


def test_interval_of_a_cron_schedule_is_the_gap_between_fires() -> None:
    every_15 = source(schedule={"cron": "*/15 * * * *"}).schedule
    assert interval_of(every_15, SAO_PAULO, MONDAY) == timedelta(minutes=15)
    assert interval_of(source().schedule, SAO_PAULO) == timedelta(minutes=30)


def test_jobs_never_overlap_and_coalesce_missed_runs() -> None:
    spec = job_spec(source(schedule={"every": "5s"}), SAO_PAULO)
    options = spec.scheduler_options()
    assert options["max_instances"] == 1
    assert options["coalesce"] is True
    assert options["id"] == "a"
    assert options["misfire_grace_time"] == 5


def test_misfire_grace_is_one_interval_within_bounds() -> None:
    assert misfire_grace(timedelta(milliseconds=100)) == 1
    assert misfire_grace(timedelta(minutes=30)) == 1800
    assert misfire_grace(timedelta(days=1)) == 3600


def test_first_runs_come_soon_and_spread_out() -> None:
    specs = {
        f"s{i:03d}": job_spec(source(f"s{i:03d}", schedule={"every": "1m"}), SAO_PAULO)
        for i in range(200)
    }
    specs["fast"] = job_spec(source("fast", schedule={"every": "5s"}), SAO_PAULO)
    offsets = first_run_offsets(specs)
    assert all(timedelta(seconds=1) <= o < timedelta(seconds=61) for o in offsets.values())
    assert offsets["fast"] < timedelta(seconds=6), "a 5 s source starts within its interval"
    per_second = {int(o.total_seconds()) for o in offsets.values()}
    assert len(per_second) >= 50, "200 sources must not start in the same few seconds"


# --- reload ---------------------------------------------------------------------------------


def test_diff_sources_says_what_changed() -> None:
    old = {"a": source("a"), "b": source("b"), "c": source("c")}
    new = {
        "a": source("a"),
        "b": source("b", schedule={"every": "5m"}),
        "c": source("c", name="Renamed"),
        "d": source("d"),
    }
    changes = diff_sources(old, new)
    assert changes.added == ["d"]
    assert changes.removed == []
    assert changes.rescheduled == ["b"]
    assert changes.updated == ["c"]
    gone = diff_sources(old, {"a": old["a"]})
    assert gone.removed == ["b", "c"]
    assert diff_sources(old, dict(old)).empty


def write_source(folder: Path, source_id: str, every: str = "30m", name: str = "Site") -> None:
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    (folder / "sources" / f"{source_id}.yaml").write_text(
        textwrap.dedent(
            f"""\
            id: {source_id}
            name: {name}
            homepage: https://example.org
            schedule: {{every: {every}}}
            discovery:
              - kind: feed
                url: https://example.org/{source_id}.xml
            """
        ),
        encoding="utf-8",
    )


def test_reload_adds_removes_and_reschedules_without_restart(tmp_path: Path) -> None:
    write_source(tmp_path, "a")
    write_source(tmp_path, "b")
    location = ConfigLocation(tmp_path, {"http_port": 0})

    async def scenario() -> None:
        settings, loaded = location.load()
        daemon = Daemon(location, settings, loaded.sources)
        daemon._schedule(sorted(loaded.sources), first_runs=True)
        daemon.scheduler.start(paused=True)
        try:
            (tmp_path / "sources" / "b.yaml").unlink()
            write_source(tmp_path, "a", every="5m")
            write_source(tmp_path, "c")
            changes = await daemon.reload("test")
            assert changes is not None
            assert (changes.added, changes.removed, changes.rescheduled) == (["c"], ["b"], ["a"])
            assert sorted(job.id for job in daemon.scheduler.get_jobs()) == ["a", "c"]
            assert daemon.specs["a"].interval == timedelta(minutes=5)
            assert "b" not in daemon.states and "c" in daemon.states

            # An invalid source file: its source runs on with its last good config.
            (tmp_path / "sources" / "c.yaml").write_text("id: c\nname: [unclosed\n")
            changes = await daemon.reload("test")
            assert changes is not None and changes.empty
            assert sorted(job.id for job in daemon.scheduler.get_jobs()) == ["a", "c"]
            assert list(daemon.invalid_sources) == [str(tmp_path / "sources" / "c.yaml")]
            # Invalid settings: the whole reload is refused.
            (tmp_path / "settings.yaml").write_text("timezone: Mars/Olympus\n")
            assert await daemon.reload("test") is None
            assert daemon.last_reload_error is not None
            assert "settings.yaml: timezone" in daemon.last_reload_error
        finally:
            daemon.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)

    asyncio.run(scenario())


def test_config_fingerprint_changes_with_any_source_file(tmp_path: Path) -> None:
    write_source(tmp_path, "a")
    location = ConfigLocation(tmp_path)
    before = location.fingerprint()
    write_source(tmp_path, "a", name="A much longer name than before")
    assert location.fingerprint() != before
    middle = location.fingerprint()
    write_source(tmp_path, "b")
    assert location.fingerprint() != middle


# --- failing sources ------------------------------------------------------------------------


def test_backoff_skips_grow_exponentially_and_are_capped() -> None:
    policy = BackoffPolicy()
    minute = timedelta(minutes=1)
    assert [policy.skips_after(n, minute) for n in range(1, 8)] == [0, 1, 3, 7, 15, 15, 15]
    assert policy.skips_after(0, minute) == 0
    # A slow schedule is not paused for days: at most max_pause (6 h) worth of runs.
    assert policy.skips_after(10, timedelta(hours=2)) == 3
    assert policy.skips_after(10, timedelta(days=1)) == 0


def test_a_failing_source_skips_runs_then_recovers() -> None:
    policy = BackoffPolicy()
    state = SourceState()
    when = datetime(2024, 6, 3, tzinfo=UTC)
    minute = timedelta(minutes=1)
    state.record("failed", when, minute, policy, "nothing reachable")
    assert not policy.is_failing(state.consecutive_failures)
    assert not state.take_skip(), "one failure is retried at the next scheduled run"
    state.record("failed", when, minute, policy, "nothing reachable")
    state.record("failed", when, minute, policy, "nothing reachable")
    assert policy.is_failing(state.consecutive_failures)
    assert [state.take_skip() for _ in range(4)] == [True, True, True, False]
    assert state.last_success is None
    state.record("partial", when, minute, policy)
    assert state.consecutive_failures == 0
    assert state.last_success == when
    assert not state.take_skip()


def test_source_status_shows_times_in_the_output_zone() -> None:
    """`scraper sources` prints times in the output zone, as the records do (issue 11)."""
    from scraper.schedule import summarize_runs

    started = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    rows = [
        {
            "source_id": "a",
            "started_at": started,
            "finished_at": started + timedelta(seconds=30),
            "status": "ok",
            "counts": {"new": 2},
            "worker": "node-1:42",
        }
    ]
    (status,) = summarize_runs(["a"], rows)
    line = status.describe(ZoneInfo("America/Sao_Paulo"))
    assert "last run 2024-05-02 09:00:30-03:00 ok on node-1:42" in line
    assert "last success 2024-05-02 09:00:30-03:00" in line
    assert "2024-05-02 21:00:30+09:00" in status.describe(ZoneInfo("Asia/Tokyo"))
