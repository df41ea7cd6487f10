"""Changes seen: which stored articles are fetched again, and the log of last fetches.

The decision (scraper.refresh), the source config key ``refresh``, the check log beside
the files (scraper.storage.checks) and the crawl context's use of them
(SourceCrawl._already_stored, stored_validators, not_modified), without a network.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scraper.config import ConfigError, RefreshPolicy, Settings, Source, load_sources
from scraper.crawl import CrawlOptions, SourceCrawl
from scraper.document import Document
from scraper.lru import BoundedCache
from scraper.models import Discovery
from scraper.refresh import changed_since, publication_time, refresh_due
from scraper.storage import checks as checks_module
from scraper.storage.checks import CHECKS_NAME, ArticleCheck, CheckLog
from scraper.storage.files import FileStore
from scraper.urls import article_id

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
DEFAULT = RefreshPolicy()  # window 2 days, every 6 hours


# --- the decision -----------------------------------------------------------------------


def test_within_the_window_and_stale_is_fetched_again() -> None:
    published = NOW - timedelta(days=1)
    assert refresh_due(DEFAULT, published, NOW - timedelta(hours=7), NOW)
    assert refresh_due(DEFAULT, published, NOW - timedelta(hours=6), NOW)  # exactly due


def test_within_the_window_and_fresh_is_not() -> None:
    published = NOW - timedelta(hours=3)
    assert not refresh_due(DEFAULT, published, NOW - timedelta(hours=5, minutes=59), NOW)
    assert not refresh_due(DEFAULT, published, NOW, NOW)


def test_outside_the_window_is_not_however_stale() -> None:
    published = NOW - timedelta(days=2, seconds=1)
    assert not refresh_due(DEFAULT, published, NOW - timedelta(days=30), NOW)


def test_a_window_of_zero_never_refreshes() -> None:
    policy = RefreshPolicy(window=timedelta(0), every=timedelta(seconds=1))
    assert not refresh_due(policy, NOW, NOW - timedelta(days=1), NOW)


def test_a_future_publication_time_is_within_the_window() -> None:
    assert refresh_due(DEFAULT, NOW + timedelta(hours=2), NOW - timedelta(days=1), NOW)


def test_times_in_other_zones_compare_as_instants() -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    published = (NOW - timedelta(days=1, hours=23)).astimezone(zone)
    last = (NOW - timedelta(hours=6)).astimezone(zone)
    assert refresh_due(DEFAULT, published, last, NOW)


def test_a_channel_modification_after_the_last_fetch_is_a_change() -> None:
    last = NOW - timedelta(hours=1)
    assert changed_since(NOW, last, UTC)
    assert not changed_since(last, last, UTC)
    assert not changed_since(None, last, UTC)
    assert not changed_since(date(2024, 5, 9), last, UTC)  # a day: its start


def test_a_zone_less_modification_is_read_in_the_source_zone() -> None:
    last = datetime(2024, 5, 9, 12, 0, tzinfo=UTC)
    written = datetime(2024, 5, 9, 14, 30)  # no offset: the publisher's local time
    # In Kyiv (UTC+3) that is 11:30 UTC, before the last fetch; in the output zone
    # (UTC) it would be 14:30, after it.
    assert not changed_since(written, last, UTC, ZoneInfo("Europe/Kyiv"))
    assert changed_since(written, last, UTC)


def test_publication_time_prefers_the_stored_one_then_the_channel_then_the_folder() -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    path = Path("/out/2024-05-08/000_0123456789abcdef.txt")
    stored = ArticleCheck("0123456789abcdef", NOW, published=NOW - timedelta(hours=1))
    listed = datetime(2024, 5, 8, 9, 0, tzinfo=UTC)
    assert publication_time(stored, listed, path, zone) == stored.published
    no_time = ArticleCheck("0123456789abcdef", NOW)
    assert publication_time(no_time, listed, path, zone) == listed
    assert publication_time(None, None, path, zone) == datetime(2024, 5, 8, tzinfo=zone)


# --- the config key ---------------------------------------------------------------------

SOURCE = """\
id: example
name: Example
homepage: https://www.example.gov
discovery:
  - kind: feed
    url: https://www.example.gov/rss.xml
"""


def load(tmp_path: Path, extra: str = "") -> Source:
    (tmp_path / "sources").mkdir(exist_ok=True)
    (tmp_path / "sources" / "example.yaml").write_text(SOURCE + extra, encoding="utf-8")
    return load_sources(tmp_path)["example"]


def test_refresh_defaults_to_two_days_every_six_hours(tmp_path: Path) -> None:
    policy = load(tmp_path).refresh
    assert policy.window == timedelta(days=2) and policy.every == timedelta(hours=6)


def test_refresh_takes_the_schedule_durations_and_zero(tmp_path: Path) -> None:
    policy = load(tmp_path, "refresh: {window: 1d12h, every: 30m}\n").refresh
    assert policy.window == timedelta(days=1, hours=12) and policy.every == timedelta(minutes=30)
    assert load(tmp_path, "refresh: {window: 0}\n").refresh.window == timedelta(0)
    assert load(tmp_path, "refresh: {window: 0s, every: 1s}\n").refresh.window == timedelta(0)
    assert load(tmp_path, "refresh: {every: 2h}\n").refresh.window == timedelta(days=2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{window: soon}", "refresh.window: bad duration 'soon'"),
        ("{window: 2}", "or 0 to never refresh"),
        ("{every: 0}", "refresh.every: bad duration '0'"),
        ("{every: -1h}", "refresh.every: bad duration"),
        ("{evrey: 1h}", "refresh.evrey: unknown key; did you mean 'every'?"),
        ("yes", "refresh: Input should be"),
    ],
)
def test_bad_refresh_values_are_one_line_each(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, f"refresh: {value}\n")
    lines = str(error.value).splitlines()
    assert len(lines) == 1
    assert "example.yaml: " in lines[0] and message in lines[0], lines[0]


# --- the check log ----------------------------------------------------------------------

ID_A, ID_B = "0123456789abcdef", "fedcba9876543210"


def test_checks_survive_a_new_process(tmp_path: Path) -> None:
    first = CheckLog(tmp_path)
    first.load()
    check = ArticleCheck(
        ID_A, NOW, NOW - timedelta(hours=2), '"v1"', "Fri, 10 May 2024 10:00:00 GMT"
    )
    first.note(check)
    assert first.get(ID_A) == check  # in memory at once
    first.save()
    second = CheckLog(tmp_path)
    assert second.get(ID_A) is None
    second.load()
    assert second.get(ID_A) == check


def test_the_newest_fetch_wins_and_other_writers_are_read_incrementally(tmp_path: Path) -> None:
    one, two = CheckLog(tmp_path), CheckLog(tmp_path)
    one.load()
    two.load()
    one.note(ArticleCheck(ID_A, NOW - timedelta(hours=1)))
    one.save()
    two.note(ArticleCheck(ID_A, NOW, etag='"v2"'))
    two.note(ArticleCheck(ID_B, NOW))
    two.save()
    one.load()  # reads only the lines appended since
    assert one.get(ID_A) == ArticleCheck(ID_A, NOW, etag='"v2"')
    assert one.get(ID_B) is not None
    two.load()  # its own older line read back changes nothing
    assert two.get(ID_A) == ArticleCheck(ID_A, NOW, etag='"v2"')
    one.note(ArticleCheck(ID_A, NOW - timedelta(days=1)))  # older than known: ignored
    assert one.get(ID_A) == ArticleCheck(ID_A, NOW, etag='"v2"')


def test_bad_lines_are_ignored(tmp_path: Path) -> None:
    good = ArticleCheck(ID_A, NOW, etag='"ok"')
    lines = [
        b"not json",
        json.dumps({"id": "../../etc", "fetched": NOW.isoformat()}).encode(),
        json.dumps({"id": ID_B, "fetched": "2024-05-10T12:00:00"}).encode(),  # no offset
        json.dumps({"id": ID_B, "fetched": NOW.isoformat(), "etag": "a\r\nX-Evil: 1"}).encode(),
        json.dumps({"id": ID_B, "fetched": NOW.isoformat(), "etag": "x" * 600}).encode(),
        json.dumps([ID_B]).encode(),
        good.to_line().rstrip(b"\n"),
        b'{"id": "' + ID_B.encode() + b'", "fetched": "2024-05',  # a torn last line
    ]
    (tmp_path / CHECKS_NAME).write_bytes(b"\n".join(lines))
    log = CheckLog(tmp_path)
    log.load()
    assert log.get(ID_A) == good
    assert log.get(ID_B) is None
    assert len(log) == 1


def test_compaction_keeps_the_latest_of_each_and_drops_long_unfetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks_module, "COMPACT_AT", 2000)
    now = datetime.now(UTC)
    log = CheckLog(tmp_path, retention=timedelta(days=3))
    log._compact_at = 2000
    reader = CheckLog(tmp_path)
    reader.load()
    log.note(ArticleCheck(ID_B, now - timedelta(days=4)))  # past the retention
    for n in range(40):
        log.note(ArticleCheck(ID_A, now - timedelta(minutes=40 - n)))
        log.save()
    text = (tmp_path / CHECKS_NAME).read_text()
    assert text.count(ID_A) < 40, "compacted"
    assert ID_B not in text
    assert log.get(ID_A) == ArticleCheck(ID_A, now - timedelta(minutes=1))
    assert log.get(ID_B) is None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    reader.load()  # another process sees a new file and reads it whole
    assert reader.get(ID_A) == ArticleCheck(ID_A, now - timedelta(minutes=1))


def test_an_unwritable_folder_costs_only_the_checks(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    log = CheckLog(tmp_path / "file" / "out")
    log.load()
    log.note(ArticleCheck(ID_A, NOW))
    log.save()  # logged, not raised
    assert log.get(ID_A) is not None


# --- the crawl context ------------------------------------------------------------------


@dataclass
class FakeService:
    settings: Settings
    files: FileStore
    checks: CheckLog
    redirects: BoundedCache[str, str] = field(default_factory=lambda: BoundedCache(100))


@dataclass
class FakeJob:
    service: FakeService
    options: CrawlOptions = field(default_factory=CrawlOptions)


def context_for(tmp_path: Path, refresh: str = "") -> SourceCrawl:
    source = Source.model_validate(
        {
            "id": "city",
            "name": "City",
            "homepage": "https://city.example",
            "discovery": [{"kind": "feed", "url": "https://city.example/rss"}],
            **({"refresh": _yaml_map(refresh)} if refresh else {}),
        }
    )
    settings = Settings(output_dir=tmp_path / "out", workers=1)
    service = FakeService(settings, FileStore(settings.output_dir), CheckLog(settings.output_dir))
    service.files.prepare()
    job = FakeJob(service)
    return SourceCrawl(job, source)  # type: ignore[arg-type]


def _yaml_map(text: str) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(textwrap.dedent(text))
    return data


def store(context: SourceCrawl, url: str, published: datetime) -> Path:
    doc = Document(
        title="A story",
        published=published.astimezone(ZoneInfo("America/Sao_Paulo")),
        type="Notícias",
        url=url,
        source_name="City",
        source_url="https://city.example",
        language="en",
        aggregator="RSS",
        content="The council met on Tuesday and approved the budget.",
    )
    return context.job.service.files.write(doc).path


def wanted(context: SourceCrawl, listed: Discovery) -> bool:
    """Whether the article is fetched (the part of claim() that asks about storage)."""
    return not context._already_stored(listed)


def discovery(url: str, **fields: Any) -> Discovery:
    return Discovery(url=url, source_id="city", channel="feed", aggregator="RSS", **fields)


def fetched(context: SourceCrawl, url: str, at: datetime, published: datetime, **kw: Any) -> None:
    context.job.service.checks.note(ArticleCheck(article_id(url), at, published, **kw))


def test_a_recent_article_is_fetched_again_once_its_last_fetch_is_stale(tmp_path: Path) -> None:
    context = context_for(tmp_path, "{window: 2d, every: 1h}")
    url = "https://city.example/news/1"
    now = datetime.now(UTC)
    store(context, url, now - timedelta(hours=5))
    fetched(context, url, now - timedelta(minutes=10), now - timedelta(hours=5))
    assert not wanted(context, discovery(url))
    fetched(context, url, now - timedelta(hours=2), now - timedelta(hours=5))  # older: ignored
    assert not wanted(context, discovery(url))
    context.job.service.checks = CheckLog(tmp_path / "out")  # a log that says 2 h ago
    fetched(context, url, now - timedelta(hours=2), now - timedelta(hours=5))
    assert wanted(context, discovery(url))


def test_an_old_article_is_not_fetched_again_unless_its_channel_says_it_changed(
    tmp_path: Path,
) -> None:
    context = context_for(tmp_path, "{window: 2d, every: 1s}")
    url = "https://city.example/news/2"
    now = datetime.now(UTC)
    store(context, url, now - timedelta(days=5))
    fetched(context, url, now - timedelta(days=4), now - timedelta(days=5))
    assert not wanted(context, discovery(url))
    assert wanted(context, discovery(url, modified=now - timedelta(hours=1)))
    assert not wanted(context, discovery(url, modified=now - timedelta(days=4, hours=1)))


def test_without_a_check_the_file_time_and_folder_day_stand_in(tmp_path: Path) -> None:
    context = context_for(tmp_path, "{window: 3d, every: 1h}")
    url = "https://city.example/news/3"
    now = datetime.now(UTC)
    path = store(context, url, now - timedelta(days=1))
    assert not wanted(context, discovery(url))  # the file was just written: fresh
    old = (now - timedelta(hours=2)).timestamp()
    os.utime(path, (old, old))
    assert wanted(context, discovery(url))  # its folder's day is within 3 days


def test_a_window_of_zero_leaves_stored_articles_alone(tmp_path: Path) -> None:
    context = context_for(tmp_path, "{window: 0, every: 1s}")
    url = "https://city.example/news/4"
    now = datetime.now(UTC)
    store(context, url, now - timedelta(hours=1))
    fetched(context, url, now - timedelta(days=1), now - timedelta(hours=1))
    assert not wanted(context, discovery(url))


def test_validators_go_out_only_for_a_stored_article_and_not_with_refresh(
    tmp_path: Path,
) -> None:
    url = "https://city.example/news/5"
    now = datetime.now(UTC)
    context = context_for(tmp_path)
    fetched(context, url, now, now, etag='"v1"')
    assert context.stored_validators(discovery(url)) is None, "no file: fetch it whole"
    store(context, url, now)
    check = context.stored_validators(discovery(url))
    assert check is not None and check.etag == '"v1"'
    forced = context_for(tmp_path)
    forced.job.options = CrawlOptions(refresh=True)
    forced.job.service.checks = context.job.service.checks
    assert forced.stored_validators(discovery(url)) is None


def test_a_304_is_unchanged_and_moves_the_last_fetch(tmp_path: Path) -> None:
    url = "https://city.example/news/6"
    before = datetime.now(UTC) - timedelta(hours=3)
    context = context_for(tmp_path)
    store(context, url, before)
    fetched(context, url, before, before, etag='"v1"', last_modified="Thu, 09 May 2024 GMT")
    context.not_modified(discovery(url), '"v2"', None)
    assert context.summary.unchanged == 1 and not context.summary.failed
    check = context.job.service.checks.get(article_id(url))
    assert check is not None and check.fetched_at > before
    assert check.etag == '"v2"' and check.last_modified == "Thu, 09 May 2024 GMT"


def test_a_stored_page_that_gives_nothing_to_store_still_counts_as_fetched(
    tmp_path: Path,
) -> None:
    """A skip or an alias on a refresh fetch: not asked for again on every run."""
    from scraper.models import FetchedPage, SourceDefaults

    context = context_for(tmp_path, "{window: 2d, every: 1h}")
    url = "https://city.example/news/7"
    now = datetime.now(UTC)
    store(context, url, now - timedelta(hours=5))
    fetched(context, url, now - timedelta(hours=2), now - timedelta(hours=5), etag='"v1"')
    assert wanted(context, discovery(url))
    page = FetchedPage(
        discovery=discovery(url),
        source=SourceDefaults.of(context.source),
        url=url,
        body=b"<html></html>",
        encoding=None,
        timezone="UTC",
    )
    context._note_fetch_of_stored(page)
    assert not wanted(context, discovery(url))
    check = context.job.service.checks.get(article_id(url))
    assert check is not None and check.etag == '"v1"' and check.published is not None
    other = "https://city.example/new"
    context._note_fetch_of_stored(
        FetchedPage(discovery(other), page.source, other, b"", None, "UTC")
    )
    assert context.job.service.checks.get(article_id(other)) is None  # not stored: no note
