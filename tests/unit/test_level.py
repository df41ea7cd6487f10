"""When a crawl compares the files with the rows (issue 11): a cheap census first, the
one-by-one comparison only when files or rows may have gone missing."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scraper.config import Source
from scraper.document import Document
from scraper.storage import level as level_module
from scraper.storage.base import ArticleRecord, Database
from scraper.storage.files import FileStore
from scraper.storage.level import FileCensus, Leveler, source_guesser
from scraper.storage.sqlite import SQLiteDatabase
from scraper.storage.sync import pending_path

ZONE = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=ZONE)


def make(n: int, host: str = "www.example.gov") -> Document:
    return Document(
        title=f"Article {n}",
        published=T0 + timedelta(days=n % 3, minutes=n),
        type="Notícias",
        url=f"https://{host}/news/{n}",
        source_name="Example",
        source_url=f"https://{host}",
        language="en",
        aggregator="RSS",
        content=f"Body {n}.\n\nSecond paragraph.",
    )


@pytest.fixture
def database(tmp_path: Path) -> Any:
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    yield db
    db.close()


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "articles")


def crawl_like(files: FileStore, database: Database, docs: list[Document]) -> None:
    records = []
    for doc in docs:
        written = files.write(doc)
        records.append(ArticleRecord(doc, "gov", written.relative_path, written.content_hash))
    database.save_articles(records)


def leveler(files: FileStore) -> Leveler:
    """What a new process has: its own store of the same folder, no census yet."""
    return Leveler(FileStore(files.root), ZONE)


def next_check(checker: Leveler) -> None:
    """Let the next check run now (a process checks at most every few seconds)."""
    checker._checked_at = time.monotonic() - level_module.MIN_INTERVAL_SECONDS - 1


# -- the census -------------------------------------------------------------------------


def test_the_census_counts_record_files_and_sees_losses(files: FileStore) -> None:
    census = FileCensus(files.root)
    assert census.take() == (0, False)
    for n in range(6):
        files.write(make(n))
    (files.root / "2024-05-01" / ".abc.tmp").write_text("")
    (files.root / "2024-05-01" / "notes.txt").write_text("")
    assert census.take() == (6, False)
    assert census.take() == (6, False)

    next(files.root.glob("2024-05-02/*.txt")).unlink()
    assert census.take() == (5, True)
    assert census.take() == (5, False)
    shutil.rmtree(files.root / "2024-05-03")
    assert census.take() == (3, True)
    files.write(make(7))
    assert census.take() == (4, False)


def test_the_census_lists_only_folders_that_changed(
    files: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        files.write(make(n))
    census = FileCensus(files.root)
    census.take()
    # Folders written long ago: their times are not "racy" any more.
    for folder in files.root.iterdir():
        os.utime(folder, ns=(1_000_000_000, 1_000_000_000))
    census.take()
    listed: list[str] = []
    counting = level_module._count_records

    def spy(folder: str) -> int:
        listed.append(Path(folder).name)
        return counting(folder)

    monkeypatch.setattr(level_module, "_count_records", spy)
    assert census.take() == (6, False)
    assert listed == []
    files.write(make(9))  # 2024-05-01
    assert census.take() == (7, False)
    assert listed == ["2024-05-01"]


# -- when a crawl compares --------------------------------------------------------------


def test_level_files_and_rows_cost_no_comparison(
    files: FileStore, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    crawl_like(files, database, [make(n) for n in range(4)])
    compared: list[int] = []
    monkeypatch.setattr(
        level_module, "find_missing", lambda *a: compared.append(1) or level_module.Missing()
    )
    checker = leveler(files)
    assert checker.check(database) is None
    next_check(checker)
    files.write(make(5))  # a crawl in flight: its row is on the way
    assert checker.check(database) is None
    assert compared == []


def test_lost_files_are_restored_at_the_next_check(files: FileStore, database: Database) -> None:
    crawl_like(files, database, [make(n) for n in range(4)])
    checker = leveler(files)
    assert checker.check(database) is None
    before = {p.name: p.read_bytes() for p in files.root.rglob("*.txt")}

    next(files.root.rglob("*.txt")).unlink()
    next_check(checker)
    result = checker.check(database)

    assert result is not None and result.files_restored == 1
    assert {p.name: p.read_bytes() for p in files.root.rglob("*.txt")} == before
    next_check(checker)
    assert checker.check(database) is None  # its own restore is no loss


def test_a_lost_file_hidden_by_a_new_one_is_seen_by_the_census(
    files: FileStore, database: Database
) -> None:
    crawl_like(files, database, [make(n) for n in range(4)])
    checker = leveler(files)
    checker.check(database)
    next(files.root.glob("2024-05-01/*.txt")).unlink()
    files.write(make(13))  # as many files as rows again (its row is on the way)
    next_check(checker)
    result = checker.check(database)
    assert result is not None and result.files_restored == 1


def test_a_loss_in_a_folder_that_grew_as_much_is_seen_once_the_rows_land(
    files: FileStore, database: Database
) -> None:
    crawl_like(files, database, [make(n) for n in range(4)])
    checker = leveler(files)
    checker.check(database)
    next(files.root.glob("2024-05-01/*.txt")).unlink()
    crawl_like(files, database, [make(12)])  # the same folder, 2024-05-01
    next_check(checker)
    result = checker.check(database)  # more rows than files now
    assert result is not None and result.files_restored == 1


def test_a_new_empty_database_is_filled_with_the_guessed_sources(
    files: FileStore, database: Database
) -> None:
    for n in range(3):
        files.write(make(n))
    files.write(make(3, host="other.example.org"))
    checker = leveler(files)
    checker.sources = {
        "gov": Source.model_validate(
            {
                "id": "gov",
                "name": "Gov",
                "homepage": "https://example.gov/",
                "language": "en",
                "schedule": {"every": "1h"},
                "discovery": [{"kind": "feed", "url": "https://example.gov/feed"}],
            }
        )
    }
    result = checker.check(database)
    assert result is not None and result.rows_stored == 4
    assert result.describe() == "stored 4 database rows from the files"
    assert database.count_articles() == 4
    sources = sorted(r["source_id"] for r in database.articles_since())
    assert sources == ["", "gov", "gov", "gov"]


def test_while_other_crawls_run_young_files_wait_for_their_rows(
    files: FileStore, database: Database
) -> None:
    crawl_like(files, database, [make(n) for n in range(2)])
    checker = leveler(files)
    checker.check(database)
    shutil.rmtree(files.root)
    files.write(make(5))  # another crawl's file: young, its row on the way
    next_check(checker)

    result = checker.check(database, busy=True)

    assert result is not None and result.files_restored == 2 and result.rows_stored == 0
    assert len(result.young_files) == 1
    # Once old enough (and still without a row), it gets one: without a full comparison.
    checker._young_until = 0.0
    young = result.young_files[0]
    os.utime(young, (time.time() - 3600, time.time() - 3600))
    next_check(checker)
    again = checker.check(database, busy=True)
    assert again is not None and again.rows_stored == 1 and again.files_missing == 0


def test_nothing_is_compared_while_the_pending_journal_waits(
    files: FileStore, database: Database
) -> None:
    for n in range(2):
        files.write(make(n))
    pending_path(files.root).write_text("")
    assert leveler(files).check(database) is None
    assert database.count_articles() == 0


def test_too_much_to_do_is_left_to_db_sync_and_said_once(
    files: FileStore, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    crawl_like(files, database, [make(n) for n in range(5)])
    shutil.rmtree(files.root)
    checker = Leveler(FileStore(files.root), ZONE, file_limit=3)
    result = checker.check(database)
    assert result is not None and result.files_restored == 0
    assert "5 articles in the database have no record file" in caplog.text
    assert "run 'scraper db sync' to restore them" in caplog.text
    next_check(checker)
    assert checker.check(database) is None  # not every run: it reads every id


def test_before_crawl_never_stops_a_crawl(files: FileStore, tmp_path: Path) -> None:
    class Broken:
        def count_articles(self) -> int:
            from scraper.storage.base import DatabaseError

            raise DatabaseError("gone")

    checker = leveler(files)
    files.write(make(1))
    broken: Any = Broken()
    assert asyncio.run(checker.before_crawl(broken, [], busy=False)) is None
    assert asyncio.run(checker.before_crawl(None, [], busy=False)) is None


def test_the_source_is_guessed_from_the_homepage_host() -> None:
    def source(source_id: str, homepage: str, language: str) -> Source:
        return Source.model_validate(
            {
                "id": source_id,
                "name": source_id,
                "homepage": homepage,
                "language": language,
                "schedule": {"every": "1h"},
                "discovery": [{"kind": "feed", "url": f"{homepage}feed"}],
            }
        )

    guess = source_guesser(
        {
            "gov-en": source("gov-en", "https://www.example.gov/", "en"),
            "gov-pt": source("gov-pt", "https://example.gov/", "pt"),
        }
    )
    assert guess(make(1)) == "gov-en"
    assert guess(make(1, host="elsewhere.org")) == ""
