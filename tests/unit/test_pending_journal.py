"""The pending journal (.db-pending.jsonl) is read only after each line is checked: a bad
line is skipped with its reason and its path is never followed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scraper.document import Document
from scraper.sink import ArticleSink
from scraper.storage.base import (
    AliasRecord,
    ArticleRecord,
    ClaimRecord,
    DatabaseError,
    DiscoveryRecord,
    RowStatus,
    RunRecord,
)
from scraper.storage.files import FileStore
from scraper.storage.sqlite import SQLiteDatabase
from scraper.storage.sync import (
    MAX_LINE_BYTES,
    claim_pending,
    load_pending,
    note_pending,
    pending_path,
    read_pending,
    release_pending,
    replay_discoveries,
    sync_files,
    sync_pending,
)
from scraper.summary import CrawlSummary

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def make(n: int) -> Document:
    return Document(
        title=f"Article {n}",
        published=datetime(2024, 5, 2, 9, 30, tzinfo=UTC),
        type="Notícias",
        url=f"https://news.example.org/article-{n}",
        source_name="Example News",
        source_url="https://news.example.org",
        language="en",
        aggregator="RSS",
        content=f"Body of article {n}.\n\nSecond paragraph.",
    )


def line(article: str, source: str, file: str) -> str:
    return json.dumps({"id": article, "source_id": source, "file": file})


def write_journal(root: Path, *lines: str) -> None:
    pending_path(root).write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "articles"


def test_only_the_good_line_is_used(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore(root)
    good, other = store.write(make(1)), store.write(make(2))
    other_id = make(2).id
    # A record-shaped file outside the output folder, for the bad lines to point at.
    outside = tmp_path / "outside" / "2024-05-02"
    outside.mkdir(parents=True)
    (outside / f"001_{other_id}.txt").write_text("not yours", encoding="utf-8")
    write_journal(
        root,
        line(other_id, "traversal", f"../outside/2024-05-02/001_{other_id}.txt"),
        line(other_id, "dotdot", f"2024-05-02/../../outside/2024-05-02/001_{other_id}.txt"),
        line(other_id, "absolute", str(outside / f"001_{other_id}.txt")),
        "{garbage, not json",
        line(make(1).id, "good-source", good.relative_path),
    )

    with caplog.at_level(logging.WARNING, logger="scraper.storage.sync"):
        journal = load_pending(root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    assert read_pending(root) == {make(1).id: "good-source"}
    assert [(e.id, e.source_id, e.file) for e in journal.entries] == [
        (make(1).id, "good-source", good.path.resolve())
    ]
    assert journal.skipped == [
        "line 1: file: '..' in the path",
        "line 2: file: '..' in the path",
        "line 3: file: absolute path",
        "line 4: not JSON",
    ]
    assert len(warnings) == 4 and all("\n" not in message for message in warnings)
    assert other.path.exists()


def test_sync_takes_the_source_from_good_lines_only(root: Path, tmp_path: Path) -> None:
    store = FileStore(root)
    first, second = store.write(make(1)), store.write(make(2))
    write_journal(
        root,
        # Names the second article, but by a path out of the folder: not believed.
        line(make(2).id, "forged", f"../{second.relative_path}"),
        line(make(1).id, "noted", first.relative_path),
    )
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        assert sync_pending(db, store) == 2
        rows = {row["id"]: row["source_id"] for row in db.articles_since()}
    finally:
        db.close()

    assert rows == {make(1).id: "noted", make(2).id: ""}
    assert not pending_path(root).exists()


def test_symlinks_out_of_the_output_folder_are_refused(root: Path, tmp_path: Path) -> None:
    store = FileStore(root)
    good = store.write(make(1))
    target = make(2).id
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / f"001_{target}.txt").write_text("secret", encoding="utf-8")
    # A date folder that is a symlink out of the root, and a record file that is one.
    (root / "2024-06-01").symlink_to(elsewhere, target_is_directory=True)
    (root / "2024-05-02" / f"009_{target}.txt").symlink_to(elsewhere / f"001_{target}.txt")
    write_journal(
        root,
        line(target, "linked-folder", f"2024-06-01/001_{target}.txt"),
        line(target, "linked-file", f"2024-05-02/009_{target}.txt"),
        line(make(1).id, "good", good.relative_path),
    )

    journal = load_pending(root)

    assert journal.sources == {make(1).id: "good"}
    assert journal.skipped == [
        "line 1: file: leads out of the output folder (symlink)",
        "line 2: file: leads out of the output folder (symlink)",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"id": "0123456789abcdef", "source_id": "s"}', "expected the keys"),
        (line("0123456789ABCDEF", "s", "2024-05-02/001_0123456789ABCDEF.txt"), "id: not an"),
        (line("0123456789abcdef", "Bad Source", "2024-05-02/001_0123456789abcdef.txt"), "source"),
        (line("0123456789abcdef", "s", "2024-05-02/001_fedcba9876543210.txt"), "another article"),
        (line("0123456789abcdef", "s", "notes/001_0123456789abcdef.txt"), "not <YYYY-MM-DD>"),
        (line("0123456789abcdef", "s", "2024-05-02/001_0123456789abcdef.txt"), "no such record"),
        (json.dumps({"id": "0123456789abcdef", "source_id": "s", "file": 7}), "not a string"),
    ],
)
def test_each_malformed_line_is_skipped_with_its_reason(root: Path, text: str, reason: str) -> None:
    root.mkdir()
    write_journal(root, text)

    journal = load_pending(root)

    assert journal.entries == []
    assert len(journal.skipped) == 1 and reason in journal.skipped[0], journal.skipped


def test_an_overlong_line_is_skipped_without_losing_the_next(root: Path) -> None:
    good = FileStore(root).write(make(1))
    write_journal(root, "x" * (MAX_LINE_BYTES * 3), line(make(1).id, "good", good.relative_path))

    journal = load_pending(root)

    assert journal.sources == {make(1).id: "good"}
    assert journal.skipped == [f"line 1: longer than {MAX_LINE_BYTES} bytes"]


def test_a_journal_that_is_a_symlink_is_not_read(root: Path, tmp_path: Path) -> None:
    good = FileStore(root).write(make(1))
    decoy = tmp_path / "decoy.jsonl"
    decoy.write_text(line(make(1).id, "decoy", good.relative_path) + "\n", encoding="utf-8")
    pending_path(root).symlink_to(decoy)

    journal = load_pending(root)

    assert journal.entries == [] and journal.skipped == ["journal: a symlink"]


def test_a_folder_named_like_the_journal_is_neither_claimed_nor_a_crash(root: Path) -> None:
    # Renamed as a claimed journal, it could not be deleted: every catch-up (every
    # crawl's start) then crashed with IsADirectoryError.
    pending_path(root).mkdir(parents=True)

    claimed = claim_pending(root)
    release_pending(claimed)

    assert claimed == []
    assert pending_path(root).is_dir()


def test_what_note_pending_writes_reads_back(root: Path) -> None:
    store = FileStore(root)
    written = store.write(make(1))
    note_pending(root, [ArticleRecord(make(1), "city", written.relative_path, "")])

    assert read_pending(root) == {make(1).id: "city"}
    assert load_pending(root).skipped == []
    assert os.path.getsize(pending_path(root)) > 0


# -- the date's provenance and the sightings (issue 8) ----------------------------------


def dated(n: int, original: str | None = "2024-05-02T06:30:00-03:00") -> Document:
    return replace(make(n), published_original=original, date_source="jsonld")


def sighting(n: int, channel: str = "feed", minutes: int = 0) -> DiscoveryRecord:
    seen = datetime(2024, 5, 2, 10, 0, 0, 123456, tzinfo=UTC) + timedelta(minutes=minutes)
    return DiscoveryRecord(make(n).url, "city", channel, "RSS", seen.astimezone(SAO_PAULO))


def test_the_journal_carries_the_provenance_and_the_sightings(root: Path) -> None:
    store = FileStore(root)
    first, second = store.write(dated(1)), store.write(make(2))
    sightings = [sighting(1), sighting(2, "sitemap", minutes=5)]
    note_pending(
        root,
        [
            ArticleRecord(dated(1), "city", first.relative_path, first.content_hash),
            ArticleRecord(make(2), "city", second.relative_path, second.content_hash),
        ],
        sightings,
    )

    journal = load_pending(root)

    assert journal.skipped == []
    assert [(e.id, e.published_original, e.date_source) for e in journal.entries] == [
        (make(1).id, "2024-05-02T06:30:00-03:00", "jsonld"),
        (make(2).id, None, None),
    ]
    assert journal.provenance == {make(1).id: ("2024-05-02T06:30:00-03:00", "jsonld")}
    assert journal.discoveries == sightings
    assert [d.discovered_at.utcoffset() for d in journal.discoveries] == [timedelta(hours=-3)] * 2
    assert load_pending(root, discoveries=False).discoveries == []
    assert read_pending(root) == {make(1).id: "city", make(2).id: "city"}


def test_sightings_alone_are_journalled(root: Path) -> None:
    note_pending(root, [], [sighting(1)])
    note_pending(root, [], [])  # nothing to note: nothing written
    assert load_pending(root).discoveries == [sighting(1)]
    assert pending_path(root).read_text(encoding="utf-8").count("\n") == 1


def test_older_lines_without_provenance_still_load(root: Path) -> None:
    good = FileStore(root).write(make(1))
    write_journal(root, line(make(1).id, "city", good.relative_path))

    (entry,) = load_pending(root).entries

    assert (entry.source_id, entry.published_original, entry.date_source) == ("city", None, None)
    assert load_pending(root).provenance == {}


def test_the_last_line_of_an_article_gives_its_provenance(root: Path) -> None:
    written = FileStore(root).write(make(1))
    records = [
        ArticleRecord(dated(1, "2024-05-01"), "city", written.relative_path, ""),
        ArticleRecord(dated(1, "2024-05-02"), "city", written.relative_path, ""),
    ]
    note_pending(root, records)
    assert load_pending(root).provenance == {make(1).id: ("2024-05-02", "jsonld")}
    note_pending(root, [ArticleRecord(make(1), "city", written.relative_path, "")])
    assert load_pending(root).provenance == {}  # the file's last writer did not know


def discovery_line(**changes: object) -> str:
    value: dict[str, object] = {
        "kind": "discovery",
        "url": "https://news.example.org/article-1",
        "source_id": "city",
        "channel": "feed",
        "aggregator": "RSS",
        "discovered_at": "2024-05-02T10:00:00.123456+00:00",
    }
    value.update(changes)
    return json.dumps({k: v for k, v in value.items() if v is not ...})


def claim_line(**changes: object) -> str:
    value: dict[str, object] = {
        "kind": "claim",
        "url": "https://news.example.org/article-1",
        "article_id": "0123456789abcdef",
        "created_at": "2024-05-02T10:00:00+00:00",
    }
    value.update(changes)
    return json.dumps({k: v for k, v in value.items() if v is not ...})


def article_line(**changes: object) -> str:
    value: dict[str, object] = {
        "id": "0123456789abcdef",
        "source_id": "s",
        "file": "2024-05-02/001_0123456789abcdef.txt",
    }
    value.update(changes)
    return json.dumps(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (discovery_line(url="javascript:alert(1)"), "url: not an http(s) URL"),
        (discovery_line(url="https://a.example/x y"), "url: not an http(s) URL"),
        (discovery_line(url=7), "url: not an http(s) URL"),
        (discovery_line(source_id="../etc"), "source_id: not a source id"),
        (discovery_line(channel="Feed Channel"), "channel: not a channel name"),
        (discovery_line(aggregator=None), "aggregator: not a string"),
        (discovery_line(aggregator="RSS\nInjected"), "aggregator: not a short one-line"),
        (discovery_line(discovered_at="2024-05-02T10:00:00"), "discovered_at: not an ISO"),
        (discovery_line(discovered_at="yesterday"), "discovered_at: not an ISO"),
        (discovery_line(discovered_at=...), "expected the keys of a sighting"),
        (discovery_line(extra=1), "expected the keys of a sighting"),
        (article_line(published_original=["2024"]), "published_original: not a short"),
        (article_line(published_original="x" * 201), "published_original: not a short"),
        (article_line(date_source="JSON-LD"), "date_source: not a date source name"),
        (article_line(date_source=1), "date_source: not a date source name"),
        (article_line(other="x"), "expected the keys file, id, source_id"),
        (claim_line(url="file:///etc/passwd"), "url: not an http(s) URL"),
        (claim_line(article_id="../../etc"), "article_id: not an article id"),
        (claim_line(created_at="2024-05-02"), "created_at: not an ISO"),
        (claim_line(created_at=...), "expected the keys of a claim"),
        (claim_line(kind="alias", url="file:///etc/passwd"), "url: not an http(s) URL"),
        (
            claim_line(kind="alias", created_at=...),
            "expected the keys of an alias (article_id, created_at, kind, url), got "
            "article_id, kind, url",
        ),
    ],
)
def test_each_malformed_sighting_or_provenance_is_skipped_with_its_reason(
    root: Path, text: str, reason: str
) -> None:
    root.mkdir()
    write_journal(root, text)

    journal = load_pending(root)

    assert journal.entries == [] and journal.discoveries == [] and journal.claims == []
    assert journal.aliases == []
    assert len(journal.skipped) == 1 and reason in journal.skipped[0], journal.skipped


def test_sync_pending_keeps_the_provenance_and_records_the_sightings_once(
    root: Path, tmp_path: Path
) -> None:
    store = FileStore(root)
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        # Stored earlier from its file alone (no provenance), then crawled while the
        # database was down: its row is level with the file but learns the provenance.
        level = store.write(make(3))
        assert sync_pending(db, store) == 1
        written = [store.write(dated(1)), store.write(make(2))]
        records = [
            ArticleRecord(dated(1), "city", written[0].relative_path, ""),
            ArticleRecord(make(2), "city", written[1].relative_path, ""),
            ArticleRecord(dated(3, "2024-05-02"), "city", level.relative_path, ""),
        ]
        sightings = [sighting(1), sighting(2, "sitemap"), sighting(1, minutes=60)]
        note_pending(root, records, sightings)

        assert sync_pending(db, store) == 2
        # A crawl that found the database down again journals the same sighting again.
        note_pending(root, [], sightings[:1])
        assert sync_pending(db, store) == 0

        rows = {row["id"]: row for row in db.articles_since()}
        found = db._conn.execute(
            "SELECT url, channel, discovered_at FROM discoveries ORDER BY discovered_at, channel"
        ).fetchall()
    finally:
        db.close()

    provenance = {key: (r["published_original"], r["date_source"]) for key, r in rows.items()}
    assert provenance == {
        make(1).id: ("2024-05-02T06:30:00-03:00", "jsonld"),
        make(2).id: (None, None),
        make(3).id: ("2024-05-02", "jsonld"),
    }
    assert {rows[key]["source_id"] for key in (make(1).id, make(2).id)} == {"city"}
    assert [tuple(row) for row in found] == [
        (make(1).url, "feed", "2024-05-02T10:00:00.123456+00:00"),
        (make(2).url, "sitemap", "2024-05-02T10:00:00.123456+00:00"),
        (make(1).url, "feed", "2024-05-02T11:00:00.123456+00:00"),
    ]
    assert not pending_path(root).exists()


def test_replay_discoveries_goes_in_batches(root: Path) -> None:
    batches: list[int] = []

    class Recorder:
        def record_discoveries(self, records: list[DiscoveryRecord]) -> None:
            batches.append(len(records))

    note_pending(root, [], [sighting(1, minutes=m) for m in range(5)])
    assert replay_discoveries(Recorder(), root, batch_size=2) == 5  # type: ignore[arg-type]
    assert batches == [2, 2, 1]


class _FailingDatabase:
    def save_articles(self, records: object) -> list[str]:
        raise DatabaseError("PostgreSQL at 127.0.0.1:5432/news: connection refused")

    def record_discoveries(self, records: object) -> None:
        raise DatabaseError("PostgreSQL at 127.0.0.1:5432/news: connection refused")


@pytest.mark.parametrize("database", [None, _FailingDatabase()], ids=["absent", "failing"])
def test_the_sink_journals_articles_and_sightings_when_the_database_is_down(
    root: Path, database: object
) -> None:
    sink = ArticleSink(FileStore(root), database, database_error=None)  # type: ignore[arg-type]
    summary = CrawlSummary("city")

    async def crawl() -> None:
        sink.discovered(sighting(1))
        sink.discovered(sighting(1, "sitemap"))
        await sink.store(dated(1), "city", summary)
        await sink.flush()

    asyncio.run(crawl())

    journal = load_pending(root)
    assert journal.sources == {make(1).id: "city"}
    assert journal.provenance == {make(1).id: ("2024-05-02T06:30:00-03:00", "jsonld")}
    assert journal.discoveries == [sighting(1), sighting(1, "sitemap")]


def test_a_row_the_database_refuses_is_counted_as_failed_and_the_rest_is_stored(
    root: Path, tmp_path: Path
) -> None:
    # One refused row marked the database behind for the rest of the crawl: every later
    # row went to the journal and the crawl exited 4.
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    sink = ArticleSink(FileStore(root), db)
    summary = CrawlSummary("city")

    async def crawl() -> None:
        await sink.store(dated(1), "city", summary)
        await sink.store(dated(2), None, summary)  # type: ignore[arg-type]  # NOT NULL
        await sink.flush()
        await sink.store(dated(3), "city", summary)
        await sink.flush()

    try:
        asyncio.run(crawl())
        assert (summary.new, dict(summary.failed)) == (2, {"database: row refused": 1})
        assert sink.database_error is None and not pending_path(root).exists()
        ids = [dated(n).id for n in (1, 2, 3)]
        assert sorted(db.content_hashes(ids)) == sorted([dated(1).id, dated(3).id])
        assert len(list(root.rglob("*.txt"))) == 3  # the file of the refused row stays
    finally:
        db.close()


def test_a_flush_cancelled_during_a_slow_write_still_stores_the_whole_batch(
    root: Path, tmp_path: Path
) -> None:
    # The crawl cancels its periodic flush when it ends. Cancelled while the database
    # was saving the articles, it dropped the batch's sightings (taken from the queue,
    # neither stored nor journalled): a crawl on a slow PostgreSQL kept no sightings.
    entered, release = threading.Event(), threading.Event()

    class SlowDatabase(SQLiteDatabase):
        def save_articles(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
            entered.set()
            release.wait(10)
            return super().save_articles(records)

    db = SlowDatabase(tmp_path / "scraper.db")
    db.migrate()
    sink = ArticleSink(FileStore(root), db)
    summary = CrawlSummary("city")

    async def crawl() -> None:
        sink.discovered(sighting(1))
        await sink.store(dated(1), "city", summary)
        periodic = asyncio.ensure_future(sink.flush())
        await asyncio.to_thread(entered.wait, 10)
        periodic.cancel()
        release.set()
        await sink.flush()  # the crawl's last one

    try:
        asyncio.run(crawl())
        assert sink.database_error is None and not pending_path(root).exists()
        assert list(db.content_hashes([dated(1).id])) == [dated(1).id]
    finally:
        db.close()
    with sqlite3.connect(tmp_path / "scraper.db") as check:
        assert check.execute("SELECT count(*) FROM discoveries").fetchone()[0] == 1


def test_a_write_failing_with_an_unexpected_error_journals_the_batch(root: Path) -> None:
    class BrokenDriver:
        def save_articles(self, records: object) -> list[str]:
            raise RuntimeError("the driver lost its way")

    sink = ArticleSink(FileStore(root), BrokenDriver())  # type: ignore[arg-type]

    async def crawl() -> None:
        sink.discovered(sighting(1))
        await sink.store(dated(1), "city", CrawlSummary("city"))
        await sink.flush()

    asyncio.run(crawl())

    assert sink.database_error == "the driver lost its way"  # the crawl exits 4
    journal = load_pending(root)
    assert journal.sources == {make(1).id: "city"}
    assert journal.discoveries == [sighting(1)]


def test_db_sync_counts_a_row_the_database_refuses_and_stores_the_rest(
    root: Path, tmp_path: Path
) -> None:
    store = FileStore(root)
    for n in (1, 2, 3):
        store.write(dated(n))
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    refused = dated(2).id

    def source_of(doc: Document) -> str:
        return None if doc.id == refused else "city"  # type: ignore[return-value]  # NOT NULL

    try:
        result = sync_files(db, root, source_of)
        assert (result.checked, result.new, result.refused) == (3, 2, 1)
        assert refused not in db.content_hashes([refused])
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["claim", "alias"])
def test_a_claim_or_alias_made_while_the_database_is_down_is_stored_by_the_catch_up(
    root: Path, tmp_path: Path, kind: str
) -> None:
    # A claim lost with the outage let the page it names be stored a second time; an
    # alias lost cost a fetch of its page at every later crawl until one found the
    # database up.
    url = "https://news.example.org/other-url"
    moment = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    record = (ClaimRecord if kind == "claim" else AliasRecord)(url, dated(1).id, moment)
    sink = ArticleSink(FileStore(root), None)
    summary = CrawlSummary("city")

    async def crawl() -> None:
        await sink.store(dated(1), "city", summary)
        (sink.claim if isinstance(record, ClaimRecord) else sink.alias)(record)
        await sink.flush()

    asyncio.run(crawl())
    journal = load_pending(root)
    assert (journal.claims, journal.aliases) == (
        ([record], []) if kind == "claim" else ([], [record])
    )

    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        assert sync_pending(db, FileStore(root)) == 1
        assert (db.claims() if kind == "claim" else db.aliases()) == {url: dated(1).id}
        assert not pending_path(root).exists()
    finally:
        db.close()


def test_lines_journalled_during_a_catch_up_wait_for_the_next_one(
    root: Path, tmp_path: Path
) -> None:
    store = FileStore(root)
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    late = sighting(2, "sitemap")

    class JournalsMidway(SQLiteDatabase):
        """A crawl journals a sighting while the catch-up replays the old ones."""

        def record_discoveries(self, records: Sequence[DiscoveryRecord]) -> None:
            note_pending(root, [], [late])
            super().record_discoveries(records)

    midway = JournalsMidway(tmp_path / "scraper.db")
    try:
        note_pending(root, [], [sighting(1)])
        sync_pending(midway, store)
        # The sighting journalled meanwhile is still there, and only it.
        assert load_pending(root).discoveries == [late]
        sync_pending(db, store)
        assert load_pending(root).discoveries == []
    finally:
        midway.close()
        db.close()
    with sqlite3.connect(tmp_path / "scraper.db") as check:
        assert check.execute("SELECT count(*) FROM discoveries").fetchone()[0] == 2


RUN_START = datetime(2024, 5, 2, 10, 0, tzinfo=SAO_PAULO)


def finished_run(
    source: str = "city",
    run_id: int | None = None,
    status: str = "ok",
    worker: str = "host:42",
    started: datetime = RUN_START,
) -> RunRecord:
    counts = {"source_id": source, "new": 3, "failed": {"article: HTTP 404": 1}}
    return RunRecord(
        source, started, started + timedelta(minutes=2), status, counts, worker, None, run_id
    )


def test_a_journalled_run_reads_back_as_written(root: Path) -> None:
    run = finished_run(run_id=7)
    note_pending(root, [], runs=[run, finished_run("other")])
    assert load_pending(root).runs == [run, finished_run("other")]


def run_line(**changes: object) -> str:
    value: dict[str, object] = {
        "kind": "run",
        "source_id": "city",
        "started_at": "2024-05-02T10:00:00-03:00",
        "finished_at": "2024-05-02T10:02:00-03:00",
        "status": "ok",
        "counts": {"new": 3},
        "worker": "host:42",
        "job_id": None,
        "run_id": 7,
    }
    value.update(changes)
    return json.dumps({k: v for k, v in value.items() if v is not ...})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (run_line(source_id="../x"), "source_id: not a source id"),
        (run_line(status="running"), "status: not one of failed, ok, partial"),
        (run_line(finished_at="2024-05-02T09:59:00-03:00"), "finished_at: before started_at"),
        (
            run_line(started_at="0001-01-01T00:00:00+01:00"),
            "started_at, finished_at: not ISO 8601 times with their offset",
        ),
        (run_line(counts={"new": float("nan")}), "not JSON"),
        (
            run_line().replace('"counts": {"new": 3}', '"counts": ' + "[" * 5000 + "]" * 5000),
            "nested too deep",
        ),
        (run_line(counts=[1, 2]), "counts: not a JSON object"),
        (
            run_line(started_at="2024-05-02T10:00:00"),
            "started_at, finished_at: not ISO 8601 times with their offset",
        ),
        (run_line(run_id=True), "run_id: not a positive 64-bit integer"),
        (run_line(job_id=-1), "job_id: not a positive 64-bit integer"),
        (run_line(job_id=2**63), "job_id: not a positive 64-bit integer"),
        (run_line(worker="a\nb"), "worker: not a short one-line string"),
        (
            run_line(run_id=...),
            "expected the keys of a run (counts, finished_at, job_id, kind, run_id, source_id, "
            "started_at, status, worker), got counts, finished_at, job_id, kind, source_id, "
            "started_at, status, worker",
        ),
    ],
)
def test_each_malformed_run_line_is_skipped_with_its_reason(
    root: Path, text: str, reason: str
) -> None:
    root.mkdir()
    write_journal(root, text, run_line())

    journal = load_pending(root)

    assert journal.skipped == [f"line 1: {reason}"]
    assert [run.run_id for run in journal.runs] == [7]


def crawl_runs(db: SQLiteDatabase) -> list[tuple[object, ...]]:
    return [
        (row["id"], row["source_id"], row["status"], row["counts"].get("new"))
        for row in sorted(db.recent_runs(10), key=lambda row: row["id"])
    ]


def test_the_catch_up_writes_the_runs_the_database_did_not_hear_end(
    root: Path, tmp_path: Path
) -> None:
    # A crawl while the database was down left no crawl_runs row at all, and one whose
    # database failed mid-run left its row "running" until the orphan sweep called it
    # abandoned: neither said what the run did.
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        later = RUN_START + timedelta(hours=1)
        open_row = db.start_run("city", RUN_START, "host:42")
        swept_row = db.start_run("other", RUN_START, "host:43")
        db.finish_run(swept_row, RUN_START, "abandoned", {})
        another = db.start_run("city", later, "host:44")  # another run, never journalled
        journalled = [
            finished_run("city", run_id=open_row, status="partial"),
            finished_run("other", run_id=swept_row, worker="host:43"),
            finished_run("city", worker="host:45"),  # the database was down at its start
            # A row id that is another run's (the database was restored meanwhile): that
            # row is left alone.
            finished_run("city", run_id=another, worker="host:46", started=later),
        ]
        note_pending(root, [], runs=journalled)

        sync_pending(db, FileStore(root))
        # Replayed again (a catch-up cut short after writing them): nothing twice.
        note_pending(root, [], runs=journalled)
        sync_pending(db, FileStore(root))

        assert crawl_runs(db) == [
            (open_row, "city", "partial", 3),
            (swept_row, "other", "ok", 3),
            (another, "city", "running", None),
            (another + 1, "city", "ok", 3),
            (another + 2, "city", "ok", 3),
        ]
        assert not pending_path(root).exists()
    finally:
        db.close()
