"""The crawl job (daemon, fleet) and the manual crawl record every run: in crawl_runs
while the database answers, in the pending journal (for the catch-up to write) while it
does not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scraper.config import Source
from scraper.crawl import CrawlOptions, CrawlReport
from scraper.runner import finish_runs
from scraper.service.job import CrawlJob, worker_name
from scraper.storage.base import Database, DatabaseError
from scraper.storage.files import FileStore
from scraper.storage.sqlite import SQLiteDatabase
from scraper.storage.sync import load_pending, sync_pending
from scraper.summary import CrawlSummary

T = TypeVar("T")


class OneArticleEngine:
    """A crawl service whose every crawl stores one new article."""

    def __init__(self, root: Path) -> None:
        self.database: Database | None = None
        self.files = FileStore(root)

    async def crawl(self, sources: list[Source], options: CrawlOptions) -> CrawlReport:
        summary = CrawlSummary(sources[0].id)
        summary.add("new")
        return CrawlReport({sources[0].id: summary})

    async def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class Books:
    """The database link: ``down`` makes every call fail, as DatabaseLink.call does
    (None) while the database does not answer."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.down_from = 0  # the call from which the database is down
        self.calls = 0

    async def call(self, call: Callable[[Database], T]) -> T | None:
        self.calls += 1
        if self.calls > self.down_from:
            return None
        return await asyncio.to_thread(call, self.database)

    def failed(self, reason: str) -> None:
        pass


def source() -> Source:
    return make_source("city")


def make_source(source_id: str) -> Source:
    return Source.model_validate(
        {
            "id": source_id,
            "name": source_id,
            "homepage": "https://example.org",
            "schedule": {"every": "1h"},
            "discovery": [{"kind": "feed", "url": "https://example.org/rss"}],
        }
    )


def runs(database: SQLiteDatabase) -> list[tuple[Any, ...]]:
    rows = sorted(database.recent_runs(10), key=lambda row: row["id"])
    return [(row["source_id"], row["status"], row["counts"].get("new")) for row in rows]


@pytest.mark.parametrize(
    ("down_from", "journalled"),
    [
        (0, ["ok"]),  # down before the run started: no row at all
        (1, ["ok"]),  # down before it ended: its row stayed "running"
        (2, []),  # up throughout: the row holds the run, nothing to journal
    ],
)
def test_a_run_the_database_missed_is_journalled_and_written_by_the_catch_up(
    tmp_path: Path, down_from: int, journalled: list[str]
) -> None:
    database = SQLiteDatabase(tmp_path / "scraper.db")
    database.migrate()
    engine = OneArticleEngine(tmp_path / "articles")
    books = Books(database)
    books.down_from = down_from
    job = CrawlJob(engine, books, logging.getLogger("test"), lambda: False)
    try:
        result = asyncio.run(job.run(source()))

        journal = load_pending(engine.files.root)
        assert [run.status for run in journal.runs] == journalled
        assert all(run.run_id == result.run_id for run in journal.runs)
        sync_pending(database, engine.files)
        assert runs(database) == [("city", "ok", 1)]
    finally:
        database.close()


def test_a_manual_crawl_journals_the_runs_whose_rows_it_could_not_close(tmp_path: Path) -> None:
    # The database failed while the second of three runs was being closed: that run and
    # the third are journalled, the first (closed) is not, or the catch-up would write
    # it a second row.
    database = SQLiteDatabase(tmp_path / "scraper.db")
    database.migrate()
    started = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    sources = [make_source(name) for name in ("one", "two", "three")]
    run_ids = {s.id: database.start_run(s.id, started, worker_name()) for s in sources}

    class FailsAfterOne(SQLiteDatabase):
        closed = 0

        def finish_run(self, run_id: int, *args: Any) -> None:
            if self.closed:
                raise DatabaseError("the database went away")
            self.closed += 1
            super().finish_run(run_id, *args)

    failing = FailsAfterOne(tmp_path / "scraper.db")
    root = tmp_path / "articles"
    report = CrawlReport({s.id: CrawlSummary(s.id) for s in sources})
    try:
        asyncio.run(finish_runs(failing, run_ids, report, sources, started, root))

        assert [run.source_id for run in load_pending(root).runs] == ["two", "three"]
        sync_pending(database, FileStore(root))
        assert runs(database) == [("one", "ok", 0), ("two", "ok", 0), ("three", "ok", 0)]
    finally:
        failing.close()
        database.close()


def test_a_run_that_cannot_be_journalled_is_logged_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The database down and the output folder unwritable: the crawl reports the folder;
    # journalling its run raised instead (the crawl ended "crashed").
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the output folder should be")
    started = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    report = CrawlReport({"city": CrawlSummary("city")})

    asyncio.run(finish_runs(None, {}, report, [source()], started, blocked / "articles"))

    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        f"crawl runs not recorded: [Errno 20] Not a directory: '{blocked / 'articles'}'"
    ]
