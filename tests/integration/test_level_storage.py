"""Files and rows level whichever is lost (issue 11), on SQLite and PostgreSQL alike:
the database calls it needs, and ``scraper.storage.level`` rebuilding either half."""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from scraper.document import Document
from scraper.storage.base import ArticleRecord, Database
from scraper.storage.files import FileStore
from scraper.storage.level import find_missing, level, restore_files

if TYPE_CHECKING:
    from conftest import Backend

ZONE = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2024, 3, 1, 22, 30, tzinfo=ZONE)  # 01:30 UTC the next day: zone matters


def make(n: int, **changes: Any) -> Document:
    fields: dict[str, Any] = {
        "title": f"Artigo {n}: ação — “aspas”",
        "published": T0 + timedelta(hours=n * 7),
        "type": "Notícias",
        "url": f"https://www.example.gov/news/{n}",
        "source_name": "Example Gov",
        "source_url": "https://www.example.gov",
        "language": "pt",
        "aggregator": "RSS",
        "content": f"Corpo do artigo {n}.\n\nSegundo parágrafo, com acentuação.",
    }
    fields.update(changes)
    return Document(**fields)


def crawl_like(files: FileStore, database: Database, docs: list[Document]) -> None:
    """Store documents as a crawl does: the file first, then its row."""
    records = []
    for doc in docs:
        written = files.write(doc)
        records.append(ArticleRecord(doc, "gov", written.relative_path, written.content_hash))
    database.save_articles(records)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.txt"))}


def test_the_calls_leveling_needs(database: Database, tmp_path: Path) -> None:
    files = FileStore(tmp_path / "articles")
    docs = [make(n) for n in range(5)]
    assert database.count_articles() == 0
    assert list(database.article_ids()) == []
    crawl_like(files, database, docs)

    assert database.count_articles() == 5
    assert list(database.article_ids()) == sorted(doc.id for doc in docs)
    rows = database.articles_by_id([docs[1].id, docs[3].id, "0" * 16])
    assert [row["id"] for row in rows] == sorted([docs[1].id, docs[3].id])
    assert {row["url"] for row in rows} == {docs[1].url, docs[3].url}

    database.set_file_paths({docs[1].id: "2030-01-01/007_" + docs[1].id + ".txt"})
    (row,) = database.articles_by_id([docs[1].id])
    assert row["file_path"] == "2030-01-01/007_" + docs[1].id + ".txt"
    assert row["title"] == docs[1].title  # nothing else changed


def test_lost_files_come_back_byte_for_byte_under_their_names(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    root = tmp_path / "articles"
    files = FileStore(root)
    docs = [make(n) for n in range(6)]
    crawl_like(files, database, docs)
    before = snapshot(root)
    versions = backend.scalar("SELECT count(*) FROM article_versions")
    updated = dict(backend.rows("SELECT id, updated_at FROM articles"))

    paths = sorted(root.rglob("*.txt"))
    paths[0].unlink()  # one file, and a whole day with two files
    (last_day,) = {path.parent for path in paths[-2:]}
    shutil.rmtree(last_day)
    missing = find_missing(database, root)
    assert len(missing.files) == 3 and missing.rows == []

    # A fresh store, as the next process has (the index is built from the disk).
    result = level(database, FileStore(root), ZONE)

    assert (result.files_missing, result.files_restored, result.rows_stored) == (3, 3, 0)
    assert result.describe() == "restored 3 files from the database"
    assert snapshot(root) == before
    # The rows were only read: no new version, no change time, no new content.
    assert backend.scalar("SELECT count(*) FROM article_versions") == versions
    assert dict(backend.rows("SELECT id, updated_at FROM articles")) == updated
    assert find_missing(database, root).files == []


def test_a_lost_file_whose_name_is_taken_gets_the_next_number_and_its_row_follows(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "articles"
    files = FileStore(root)
    first, second = make(1), make(1, url="https://www.example.gov/other")
    crawl_like(files, database, [first])
    old = next(root.rglob("*.txt"))
    text = old.read_bytes()
    old.unlink()
    crawl_like(FileStore(root), database, [second])  # same day: takes the number 000
    assert old.exists() is False and next(root.rglob("*.txt")).name.startswith("000_")

    restored, failed = restore_files(database, FileStore(root), ZONE)

    assert (restored, failed) == (1, 0)
    (again,) = [p for p in root.rglob("*.txt") if first.id in p.name]
    assert again.name == f"001_{first.id}.txt" and again.read_bytes() == text
    (row,) = database.articles_by_id([first.id])
    assert row["file_path"] == again.relative_to(root).as_posix()


def test_an_article_that_got_a_file_meanwhile_is_not_overwritten(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "articles"
    crawl_like(FileStore(root), database, [make(1)])
    path = next(root.rglob("*.txt"))
    newer = make(1, content="A newer version, whose row is still on its way.")
    path.unlink()
    files = FileStore(root)
    files.write(newer)  # a crawl's write: the row is not saved yet

    assert restore_files(database, files, ZONE, [newer.id]) == (0, 0)
    assert "newer version" in next(root.rglob("*.txt")).read_text(encoding="utf-8")


def test_files_without_rows_fill_an_empty_database(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    root = tmp_path / "articles"
    files = FileStore(root)
    for n in range(4):
        files.write(make(n))
    (root / "2024-03-02" / "099_0123456789abcdef.txt").write_text("not a record\n")

    result = level(database, files, ZONE, lambda doc: "gov")

    assert (result.rows_missing, result.rows_stored, result.unreadable) == (5, 4, 1)
    assert result.describe() == (
        "stored 4 database rows from the files; 1 file without a row unreadable (see the log)"
    )
    stored = backend.rows("SELECT source_id, file_path, content_hash FROM articles")
    assert {source for source, _, _ in stored} == {"gov"}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.txt")}
    assert {path for _, path, _ in stored} < on_disk
    for _, path, digest in stored:
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == digest


def test_past_the_limits_nothing_is_done_and_the_user_is_told(
    database: Database, tmp_path: Path
) -> None:
    root = tmp_path / "articles"
    files = FileStore(root)
    crawl_like(files, database, [make(n) for n in range(3)])
    for path in root.rglob("*.txt"):
        path.unlink()
    other = tmp_path / "other"
    for n in range(10, 13):
        FileStore(other).write(make(n))
    shutil.copytree(other, root, dirs_exist_ok=True)

    result = level(database, FileStore(root), ZONE, file_limit=2, row_limit=2)

    assert (result.files_restored, result.rows_stored) == (0, 0)
    assert result.hints == [
        f"3 articles in the database have no record file in {root}: run 'scraper db sync' "
        "to restore them (too many to write before a crawl)",
        f"3 record files in {root} have no row in the database: run 'scraper db sync' "
        "to store them (too many to store before a crawl)",
    ]
