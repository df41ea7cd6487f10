"""Consumers: reading the files and the database, exporting, and the db commands
(on the embedded SQLite database; PostgreSQL is covered by tests/integration)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from scraper.cli_db import db_app, export_command, parse_since
from scraper.document import Document, DocumentFormatError, render
from scraper.export import export
from scraper.reader import articles_since, iter_documents, read_document
from scraper.storage.base import ArticleRecord, ClaimRecord, DiscoveryRecord
from scraper.storage.files import FileStore
from scraper.storage.migrate import latest_version, load_migrations
from scraper.storage.sqlite import SQLiteDatabase, split_statements
from scraper.storage.sync import note_pending, pending_path

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
DAY = datetime(2023, 12, 6, 5, 0, tzinfo=SAO_PAULO)
runner = CliRunner()


def make(n: int, content: str | None = None, **changes: object) -> Document:
    fields: dict[str, object] = {
        "title": f"Article {n} - Офіційне представництво",
        "published": DAY + timedelta(hours=7 * n),
        "type": "Notícias",
        "url": f"https://www.president.gov.ua/en/news/article-{n}",
        "source_name": "Офіційне інтернет-представництво Президента України",
        "source_url": "https://www.president.gov.ua",
        "language": "en",
        "aggregator": "GNews",
        "content": content or f"Body of article {n}: ação.\n\nSecond paragraph.",
    }
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


def write_all(root: Path, docs: list[Document]) -> list[Path]:
    store = FileStore(root)
    return [store.write(doc).path for doc in docs]


def store_all(db: SQLiteDatabase, root: Path, docs: list[Document], source: str = "p") -> None:
    store = FileStore(root)
    records = []
    for doc in docs:
        written = store.write(doc)
        records.append(ArticleRecord(doc, source, written.relative_path, written.content_hash))
    db.save_articles(records)


@pytest.fixture
def db(tmp_path: Path) -> SQLiteDatabase:
    database = SQLiteDatabase(tmp_path / "scraper.db")
    database.migrate()
    return database


# -- reader: files ----------------------------------------------------------------------


def test_iter_documents_reads_every_record_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [make(n) for n in range(5)]  # spread over two date folders
    paths = write_all(tmp_path, docs)
    bad = paths[0].parent / "099_0123456789abcdef.txt"
    bad.write_text("not a record\n", encoding="utf-8")
    (paths[0].parent / "notes.txt").write_text("ignored", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="scraper.reader"):
        found = list(iter_documents(tmp_path))

    assert found == docs
    assert [render(d) for d in found] == [p.read_text(encoding="utf-8") for p in paths]
    assert any(bad.name in message for message in caplog.messages)


def test_iter_documents_since_keeps_files_written_since(tmp_path: Path) -> None:
    paths = write_all(tmp_path, [make(n) for n in range(3)])
    old = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    for path in paths[:2]:
        os.utime(path, (old, old))

    recent = list(iter_documents(tmp_path, since=datetime(2024, 6, 1, tzinfo=UTC)))

    assert recent == [make(2)]
    with pytest.raises(ValueError, match="time zone"):
        list(iter_documents(tmp_path, since=datetime(2024, 6, 1)))


def test_read_document_refuses_what_is_not_a_record(tmp_path: Path) -> None:
    path = write_all(tmp_path, [make(1)])[0]
    assert read_document(path) == make(1)
    path.write_bytes(render(make(1)).replace("\n", "\r\n").encode())
    with pytest.raises(DocumentFormatError):
        read_document(path)
    path.write_bytes(render(make(1)).encode("utf-16"))
    with pytest.raises(DocumentFormatError, match="UTF-8"):
        read_document(path)


# -- reader: database -------------------------------------------------------------------


def test_articles_since_gives_documents_equal_to_the_files(
    tmp_path: Path, db: SQLiteDatabase
) -> None:
    docs = [make(n) for n in range(3)]
    store_all(db, tmp_path / "files", docs)

    stored = list(articles_since(db, zone=SAO_PAULO))

    assert [a.document for a in stored] == sorted(docs, key=lambda d: d.id)
    for article in stored:
        path = tmp_path / "files" / article.file_path
        assert render(article.document) == path.read_text(encoding="utf-8")
        assert article.source_id == "p"
        assert article.id == article.document.id
    resumed = articles_since(db, since=stored[0].updated_at, after_id=stored[0].id)
    assert [a.id for a in resumed] == [a.id for a in stored[1:]]


# -- export -----------------------------------------------------------------------------


def test_export_jsonl_from_the_database(tmp_path: Path, db: SQLiteDatabase) -> None:
    store_all(db, tmp_path, [make(1), make(2)], source="p")
    store_all(db, tmp_path, [make(3)], source="other")
    out = tmp_path / "out.jsonl"

    with out.open("w", encoding="utf-8") as handle:
        count = export(handle, database=db, source_id="p", zone=SAO_PAULO)

    lines = out.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert count == 2
    assert sorted(r["id"] for r in rows) == sorted([make(1).id, make(2).id])
    first = next(r for r in rows if r["id"] == make(1).id)
    assert first["published_at"] == "2023-12-06T12:00:00-03:00"
    assert first["title"] == make(1).title  # not \u-escaped: readable UTF-8
    assert "Офіційне" in lines[0]
    assert first["source_id"] == "p"
    assert datetime.fromisoformat(first["updated_at"]).tzinfo is not None


def test_export_md_gives_the_record_texts(tmp_path: Path, db: SQLiteDatabase) -> None:
    docs = [make(1), make(2)]
    store_all(db, tmp_path, docs)
    out = tmp_path / "out.md"

    with out.open("w", encoding="utf-8", newline="\n") as handle:
        export(handle, database=db, fmt="md", zone=SAO_PAULO)

    records = [render(d) for d in sorted(docs, key=lambda d: d.id)]
    assert out.read_text(encoding="utf-8") == "\n".join(records)


def test_export_from_the_files(tmp_path: Path) -> None:
    paths = write_all(tmp_path / "files", [make(1), make(2)])
    out = tmp_path / "out.jsonl"

    with out.open("w", encoding="utf-8") as handle:
        count = export(handle, folder=tmp_path / "files")
        with pytest.raises(ValueError, match="--source needs the database"):
            export(handle, folder=tmp_path / "files", source_id="p")

    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert count == 2
    assert [r["file_path"] for r in rows] == [
        p.relative_to(tmp_path / "files").as_posix() for p in paths
    ]
    assert rows[0]["source_id"] is None
    assert rows[0]["content"] == make(1).content


def test_parse_since() -> None:
    assert parse_since("2024-01-31", SAO_PAULO) == datetime(2024, 1, 31, tzinfo=SAO_PAULO)
    assert parse_since("2024-01-31T08:00", SAO_PAULO) == datetime(2024, 1, 31, 8, tzinfo=SAO_PAULO)
    assert parse_since("2024-01-31T08:00:00+00:00", SAO_PAULO) == datetime(
        2024, 1, 31, 8, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="not a date"):
        parse_since("yesterday", SAO_PAULO)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--since", "0001-01-01T00:00:00+14:00"),
        ("--since", "0001-01-01"),
        ("--until", "9999-12-31"),
        ("--stored-since", "9999-12-31T23:59:59-12:00"),
    ],
)
def test_times_no_zone_can_hold_are_refused_with_one_line(
    config: Path, option: str, value: str
) -> None:
    # Each crashed the command with OverflowError (exit 1, a traceback).
    result = runner.invoke(export_app(), ["--config", str(config), option, value])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {option}: {value!r} is too far in the past or the future\n"


# -- the commands -----------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    (folder / "sources").mkdir(parents=True)
    (folder / "settings.yaml").write_text(
        f"output_dir: {tmp_path / 'articles'}\nsqlite_path: {tmp_path / 'data' / 'scraper.db'}\n",
        encoding="utf-8",
    )
    (folder / "sources" / "president-gov-ua.yaml").write_text(
        "id: president-gov-ua\nname: President of Ukraine\n"
        "homepage: https://www.president.gov.ua\nlanguage: en\n"
        "discovery:\n  - kind: feed\n    url: https://www.president.gov.ua/rss\n",
        encoding="utf-8",
    )
    return folder


def test_db_migrate_creates_the_embedded_database(config: Path, tmp_path: Path) -> None:
    result = runner.invoke(db_app, ["migrate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    latest = latest_version(load_migrations("sqlite"))
    assert result.stdout == f"database schema at version {latest}\n"
    assert (tmp_path / "data" / "scraper.db").is_file()


def test_db_sync_brings_the_database_level_with_the_files(config: Path, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "articles")
    written = [store.write(make(n)) for n in range(3)]
    (tmp_path / "articles" / "2023-12-06" / "050_0123456789abcdef.txt").write_text("junk\n")
    # A crawl that found the database down noted the source of the file it wrote.
    noted = ArticleRecord(make(2), "noted-source", written[2].relative_path, "")
    note_pending(tmp_path / "articles", [noted])

    first = runner.invoke(db_app, ["sync", "--config", str(config), "--batch-size", "2"])
    store.write(make(1, "Corrected body."))  # the database was down during this crawl
    second = runner.invoke(db_app, ["sync", "--config", str(config)])
    third = runner.invoke(db_app, ["sync", "--config", str(config)])

    # The junk file is not level with anything: every sync says so in its exit code.
    assert [first.exit_code, second.exit_code, third.exit_code] == [5, 5, 5], first.output
    assert "4 files, 3 new, 0 updated, 0 already level, 1 unreadable" in first.stdout
    assert "1 updated, 2 already level, 1 unreadable" in second.stdout
    assert "0 new, 0 updated, 3 already level, 1 unreadable" in third.stdout
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    rows = {row["id"]: row for row in db.articles_since()}
    assert rows[make(1).id]["content"] == "Corrected body."
    assert rows[make(0).id]["source_id"] == "president-gov-ua"  # from the configured homepage
    assert rows[make(2).id]["source_id"] == "noted-source"
    assert not pending_path(tmp_path / "articles").exists()
    db.close()


def test_db_sync_stores_what_the_database_takes_and_exits_5_for_a_row_it_refuses(
    config: Path, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "articles")
    for n in range(3):
        store.write(make(n))
    assert runner.invoke(db_app, ["migrate", "--config", str(config)]).exit_code == 0
    # A constraint the row breaks (one an administrator added, say): SQLite says so as
    # it says a CHECK failed.
    with sqlite3.connect(tmp_path / "data" / "scraper.db") as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles "
            f"WHEN NEW.id = '{make(1).id}' BEGIN SELECT RAISE(ABORT, 'not this one'); END"
        )

    result = runner.invoke(db_app, ["sync", "--config", str(config)])

    assert result.exit_code == 5, result.output
    assert "3 files, 2 new, 0 updated, 0 already level, 0 unreadable" in result.stdout
    assert ", 1 refused by the database (see the log)" in result.stdout
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    assert sorted(row["id"] for row in db.articles_since()) == sorted([make(0).id, make(2).id])
    db.close()


def test_db_sync_exits_5_while_a_lost_record_file_cannot_be_written_again(
    config: Path, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "articles")
    written = store.write(make(1))
    level = runner.invoke(db_app, ["sync", "--config", str(config)])
    assert level.exit_code == 0, level.output
    # The file is lost, and its date folder's name is taken by a file: no folder there.
    folder = (tmp_path / "articles" / written.relative_path).parent
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")

    result = runner.invoke(db_app, ["sync", "--config", str(config)])

    assert result.exit_code == 5, result.output
    assert result.stdout.endswith(", 0 restored from the database (1 could not be written)\n")
    folder.unlink()  # the folder can be made again: the next sync restores it
    again = runner.invoke(db_app, ["sync", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith(", 1 restored from the database\n")


def test_db_sync_leaves_out_a_second_file_of_an_article_instead_of_flipping_its_row(
    config: Path, tmp_path: Path
) -> None:
    # An old backup put back after the article's date moved it: each sync set the row to
    # one file and then the other ("1 updated" every time, a new version each run).
    store = FileStore(tmp_path / "articles")
    written = store.write(make(1))
    assert runner.invoke(db_app, ["sync", "--config", str(config)]).exit_code == 0
    stale = tmp_path / "articles" / "2023-01-01" / written.path.name
    stale.parent.mkdir()
    stale.write_text(render(make(1, "An older text of the article.")), encoding="utf-8")

    results = [runner.invoke(db_app, ["sync", "--config", str(config)]) for _ in range(2)]

    for result in results:
        assert result.exit_code == 5, result.output
        assert "2 files, 0 new, 0 updated, 1 already level," in result.stdout
        assert ", 1 second file left out (see the log)" in result.stdout
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    [row] = db.articles_since()
    assert (row["content"], row["file_path"]) == (make(1).content, written.relative_path)
    db.close()


def test_db_sync_stores_the_canonical_claims_journalled_with_their_articles(
    config: Path, tmp_path: Path
) -> None:
    written = FileStore(tmp_path / "articles").write(make(1))
    claimed = "https://www.example.gov/news/original"
    claim = ClaimRecord(claimed, make(1).id, datetime(2024, 5, 2, 10, 0, tzinfo=UTC))
    record = ArticleRecord(make(1), "president-gov-ua", written.relative_path, "")
    note_pending(tmp_path / "articles", [record], claims=[claim])

    result = runner.invoke(db_app, ["sync", "--config", str(config)])

    assert result.exit_code == 0, result.output
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    assert db.claims() == {claimed: make(1).id}
    db.close()


def test_db_commands_fail_with_one_line(config: Path) -> None:
    url = "postgresql://scraper:s3cret@127.0.0.1:1/news"
    result = runner.invoke(db_app, ["migrate", "--config", str(config), "--database", url])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: PostgreSQL at 127.0.0.1:1/news: connection refused (is the server running?)\n"
    )

    (config / "settings.yaml").write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    result = runner.invoke(db_app, ["sync", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "timezone" in result.stderr
    assert "Traceback" not in result.output


def export_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(export_command)
    return app


def test_export_command_reads_the_files_when_there_is_no_database(
    config: Path, tmp_path: Path
) -> None:
    write_all(tmp_path / "articles", [make(1), make(2)])

    result = runner.invoke(export_app(), ["--config", str(config), "--format", "md"])

    assert result.exit_code == 0, result.output
    assert result.stdout == render(make(1)) + "\n" + render(make(2))
    assert not (tmp_path / "data" / "scraper.db").exists()  # export creates nothing


def test_export_from_files_exports_the_readable_and_exits_5_for_a_file_it_cannot_read(
    config: Path, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "articles")
    written = [store.write(make(n)) for n in range(3)]
    (tmp_path / "articles" / written[1].relative_path).write_text("junk\n")

    result = runner.invoke(export_app(), ["--config", str(config), "--format", "md"])

    # A consumer's "export && load" must be able to tell that the export is not whole.
    assert result.exit_code == 5, result.output
    assert result.stdout == render(make(0)) + "\n" + render(make(2))
    assert result.stderr.endswith("error: left out 1 record file that could not be read\n")


def test_db_commands_say_in_one_line_what_file_they_could_not_write(
    config: Path, tmp_path: Path
) -> None:
    write_all(tmp_path / "articles", [make(1)])
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x\n")

    into_a_folder = runner.invoke(export_app(), ["--config", str(config), "-o", str(tmp_path)])
    under_a_file = runner.invoke(
        db_app, ["sync", "--config", str(config), "--output", str(not_a_folder)]
    )

    # Tracebacks before (IsADirectoryError, NotADirectoryError).
    assert into_a_folder.exit_code == 1
    assert into_a_folder.stderr == f"error: {tmp_path}: Is a directory\n"
    assert under_a_file.exit_code == 1
    assert under_a_file.stderr == f"error: {not_a_folder}/.db-pending.jsonl: Not a directory\n"


def test_export_from_a_folder_that_is_not_there_is_an_error_not_an_empty_store(
    config: Path, tmp_path: Path
) -> None:
    # A mistyped --output exported nothing and exited 0: it read like an empty store.
    missing = tmp_path / "artcles"

    result = runner.invoke(export_app(), ["--config", str(config), "--output", str(missing)])

    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: no such folder of record files\n"


def test_articles_since_refuses_a_negative_limit_on_every_backend(tmp_path: Path) -> None:
    # SQLite read LIMIT -1 as no limit, PostgreSQL refused it (RowRefused).
    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        with pytest.raises(ValueError, match="limit must not be negative"):
            next(articles_since(db, limit=-1))
    finally:
        db.close()


def test_export_command_from_the_database(config: Path, tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    db.migrate()
    store_all(db, tmp_path / "articles", [make(1), make(2)], source="president-gov-ua")
    db.close()
    out = tmp_path / "export.jsonl"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()

    everything = runner.invoke(
        export_app(), ["--config", str(config), "--source", "president-gov-ua", "-o", str(out)]
    )
    nothing = runner.invoke(export_app(), ["--config", str(config), "--stored-since", tomorrow])
    bad = runner.invoke(export_app(), ["--config", str(config), "--stored-since", "soon"])

    assert everything.exit_code == 0, everything.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert (nothing.exit_code, nothing.stdout) == (0, "")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --stored-since: 'soon' is not a date")


# -- the date's provenance (issue 8) ----------------------------------------------------

EXPORTED_KEYS = {
    "id",
    "url",
    "title",
    "published_at",
    "published_original",
    "date_source",
    "type",
    "source_id",
    "source_name",
    "source_url",
    "language",
    "aggregator",
    "content",
    "content_hash",
    "file_path",
    "first_seen_at",
    "updated_at",
    "authors",
    "description",
    "image_url",
    "modified_at",
    "section",
    "tags",
}


def dated(n: int, original: str, source: str) -> Document:
    return replace(make(n), published_original=original, date_source=source)


def test_export_jsonl_gives_the_provenance_under_its_column_names(
    config: Path, tmp_path: Path
) -> None:
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    db.migrate()
    store_all(db, tmp_path / "articles", [dated(1, "2023-12-06T14:00:00+02:00", "jsonld")])
    store_all(db, tmp_path / "articles", [dated(2, "2023-12-06", "url"), make(3)])
    db.close()
    from_db, from_files = tmp_path / "db.jsonl", tmp_path / "files.jsonl"

    results = [
        runner.invoke(export_app(), ["--config", str(config), "-o", str(from_db)]),
        runner.invoke(
            export_app(), ["--config", str(config), "--from-files", "-o", str(from_files)]
        ),
    ]

    assert [r.exit_code for r in results] == [0, 0], [r.output for r in results]
    rows = {r["id"]: r for r in map(json.loads, from_db.read_text(encoding="utf-8").splitlines())}
    assert len(rows) == 3 and all(set(row) == EXPORTED_KEYS for row in rows.values())
    provenance = {key: (r["published_original"], r["date_source"]) for key, r in rows.items()}
    assert provenance == {
        make(1).id: ("2023-12-06T14:00:00+02:00", "jsonld"),
        make(2).id: ("2023-12-06", "url"),
        make(3).id: (None, None),  # stored without one
    }
    file_rows = [json.loads(line) for line in from_files.read_text(encoding="utf-8").splitlines()]
    assert len(file_rows) == 3 and all(set(row) == EXPORTED_KEYS for row in file_rows)
    assert {(r["published_original"], r["date_source"]) for r in file_rows} == {(None, None)}


def test_the_reader_gives_the_provenance(tmp_path: Path, db: SQLiteDatabase) -> None:
    store_all(db, tmp_path, [dated(1, "2023-12-06T14:00:00+02:00", "meta"), make(2)])

    stored = {a.id: a for a in articles_since(db, zone=SAO_PAULO)}

    first, second = stored[make(1).id], stored[make(2).id]
    assert (first.published_original, first.date_source) == ("2023-12-06T14:00:00+02:00", "meta")
    assert first.document.published_original == "2023-12-06T14:00:00+02:00"
    assert first.document.date_source == "meta"
    assert first.document == make(1)  # provenance takes no part in equality
    assert (second.published_original, second.date_source) == (None, None)


def test_db_sync_takes_the_provenance_and_the_sightings_from_the_journal(
    config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "articles"
    written = FileStore(root).write(make(1))
    seen = datetime(2023, 12, 6, 8, 0, tzinfo=UTC)
    sightings = [
        DiscoveryRecord(make(1).url, "president-gov-ua", "feed", "RSS", seen),
        DiscoveryRecord(make(1).url, "president-gov-ua", "sitemap", "Sitemap", seen),
    ]
    stored = dated(1, "2023-12-06T14:00:00+02:00", "feed")
    note_pending(root, [ArticleRecord(stored, "noted", written.relative_path, "")], sightings)

    result = runner.invoke(db_app, ["sync", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert "1 new" in result.stdout and "2 journalled sightings recorded" in result.stdout
    db = SQLiteDatabase(tmp_path / "data" / "scraper.db")
    try:
        (row,) = db.articles_since()
        found = db._conn.execute("SELECT source_id, channel FROM discoveries ORDER BY channel")
        assert [tuple(r) for r in found.fetchall()] == [
            ("president-gov-ua", "feed"),
            ("president-gov-ua", "sitemap"),
        ]
    finally:
        db.close()
    assert (row["source_id"], row["published_original"], row["date_source"]) == (
        "noted",
        "2023-12-06T14:00:00+02:00",
        "feed",
    )
    assert not pending_path(root).exists()


def test_export_from_an_older_schema_says_to_migrate(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "data" / "scraper.db"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:  # a database left at schema version 1
        for statement in split_statements(load_migrations("sqlite")[0].sql):
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (1, 'initial', '2024-01-01')")

    result = runner.invoke(export_app(), ["--config", str(config)])

    assert result.exit_code == 1
    latest = latest_version(load_migrations("sqlite"))
    assert result.stderr == (
        f"error: the database schema is at version 1, this scraper reads version {latest}: "
        "run 'scraper db migrate' first\n"
    )
