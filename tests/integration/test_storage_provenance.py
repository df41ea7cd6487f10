"""The date's provenance (published_original, date_source; schema version 2) in the
storage contract, on SQLite and PostgreSQL alike: stored, read back, kept in versions,
never overwritten by "unknown", and added by the migration from version 1."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any

import pytest

from scraper.document import Document
from scraper.reader import articles_since
from scraper.storage import migrate
from scraper.storage.base import ArticleRecord, Database
from tests.integration.test_storage_contract import make, record, updated_at

if TYPE_CHECKING:
    from conftest import Backend

PROVENANCE_COLUMNS = "published_original, date_source"


def dated(doc: Document, original: str | None, source: str | None) -> Document:
    return dataclasses.replace(doc, published_original=original, date_source=source)


def stored_provenance(backend: Backend, table: str = "articles") -> list[tuple[Any, ...]]:
    return backend.rows(f"SELECT {PROVENANCE_COLUMNS} FROM {table} ORDER BY id")


def test_provenance_round_trips_through_every_read_path(database: Database) -> None:
    local = dated(make(1, "A bridge opened."), "2024-03-01T11:00:00-02:00", "jsonld")
    day_only = dated(make(2, "Another bridge."), "2024-03-01", "url")
    unknown = make(3, "No bridge here, nor provenance.")
    assert database.save_articles([record(local), record(day_only), record(unknown)]) == [
        "new",
        "new",
        "new",
    ]

    rows = {row["id"]: row for row in database.articles_since()}
    assert (rows[local.id]["published_original"], rows[local.id]["date_source"]) == (
        "2024-03-01T11:00:00-02:00",
        "jsonld",
    )
    assert (rows[day_only.id]["published_original"], rows[day_only.id]["date_source"]) == (
        "2024-03-01",
        "url",
    )
    assert (rows[unknown.id]["published_original"], rows[unknown.id]["date_source"]) == (
        None,
        None,
    )

    found = {row["id"]: row for row in database.search("bridge")}
    assert found[local.id]["date_source"] == "jsonld"
    assert found[day_only.id]["published_original"] == "2024-03-01"

    articles = {a.id: a for a in articles_since(database)}
    assert articles[local.id].published_original == "2024-03-01T11:00:00-02:00"
    assert articles[local.id].document.date_source == "jsonld"
    assert articles[unknown.id].date_source is None


def test_a_changed_article_gets_the_new_provenance_and_its_version_keeps_the_old(
    database: Database, backend: Backend
) -> None:
    first = dated(make(1, "The first text."), "2024-03-01T10:00:00-03:00", "feed")
    database.save_articles([record(first)])
    second = dated(make(1, "The second text."), "2024-03-01T13:00:00+00:00", "meta")

    assert database.save_articles([record(second)]) == ["updated"]

    assert stored_provenance(backend) == [("2024-03-01T13:00:00+00:00", "meta")]
    versions = backend.rows(f"SELECT content, {PROVENANCE_COLUMNS} FROM article_versions")
    assert versions == [("The first text.", "2024-03-01T10:00:00-03:00", "feed")]


def test_a_record_without_provenance_keeps_the_stored_one(
    database: Database, backend: Backend
) -> None:
    # What `scraper db sync` stores: a document read back from its file knows neither.
    database.save_articles([record(dated(make(1), "2024-03-01", "sitemap"))])

    assert database.save_articles([record(make(1))]) == ["unchanged"]
    assert database.save_articles([record(make(1, "Changed on disk."), "")]) == ["updated"]

    assert stored_provenance(backend) == [("2024-03-01", "sitemap")]
    assert stored_provenance(backend, "article_versions") == [("2024-03-01", "sitemap")]


def test_the_pair_is_replaced_together(database: Database, backend: Backend) -> None:
    database.save_articles([record(dated(make(1), "2024-03-01", "sitemap"))])
    # The crawl found no date at all: the crawl time, with nothing stated by the page.
    database.save_articles([record(dated(make(1, "Changed."), None, "crawl"))])
    assert stored_provenance(backend) == [(None, "crawl")]


def test_an_unchanged_row_without_provenance_gets_it_and_nothing_else_changes(
    database: Database, backend: Backend
) -> None:
    database.save_articles([record(make(1), source_id="first-source")])
    before = updated_at(database, make(1))
    time.sleep(0.02)

    given = dated(make(1), "2024-03-01T10:00:00-03:00", "time")
    assert database.save_articles([record(given, source_id="other-source")]) == ["unchanged"]
    assert stored_provenance(backend) == [("2024-03-01T10:00:00-03:00", "time")]
    assert updated_at(database, make(1)) == before
    assert backend.scalar("SELECT source_id FROM articles") == "first-source"
    assert backend.scalar("SELECT count(*) FROM article_versions") == 0

    # Once it has one, an unchanged article keeps it (no churn between crawls).
    other = dated(make(1), "2024-03-01T13:00:00+00:00", "htmldate")
    assert database.save_articles([record(other)]) == ["unchanged"]
    assert stored_provenance(backend) == [("2024-03-01T10:00:00-03:00", "time")]


def test_the_same_article_twice_in_a_batch_keeps_the_known_provenance(
    database: Database, backend: Backend
) -> None:
    given = dated(make(1), "2024-03-01", "url")
    assert database.save_articles([record(make(1)), record(given)]) == ["new", "unchanged"]
    assert stored_provenance(backend) == [("2024-03-01", "url")]


# -- the migration from schema version 1 -------------------------------------------------

_V1_INSERT = """
    INSERT INTO articles (
        id, url, title, published_at, type, source_id, source_name, source_url, language,
        aggregator, content, content_hash, file_path, first_seen_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def version_1_values(rec: ArticleRecord) -> tuple[str, ...]:
    """The values of ``rec``'s row in the columns of schema version 1 (_V1_INSERT)."""
    doc = rec.document
    stamp = "2024-03-01T12:00:00.000000+00:00"
    return (
        doc.id,
        doc.url,
        doc.title,
        doc.published.astimezone(UTC).isoformat(timespec="seconds"),
        doc.type,
        rec.source_id,
        doc.source_name,
        doc.source_url,
        doc.language,
        doc.aggregator,
        doc.content,
        rec.content_hash,
        rec.file_path,
        stamp,
        stamp,
    )


def _insert_at_version_1(backend: Backend, rec: ArticleRecord) -> None:
    backend.rows(_V1_INSERT, version_1_values(rec))


def test_migrating_a_version_1_database_to_version_2(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = migrate.load_migrations
    with monkeypatch.context() as only_the_first:
        only_the_first.setattr(migrate, "load_migrations", lambda kind: every(kind)[:1])
        old = backend.open()
        assert old.migrate() == 1
        old.close()
    old_doc = make(1, "Stored by a scraper of schema version 1.")
    _insert_at_version_1(backend, record(old_doc))
    # An edit at version 1 leaves a version row without the new columns.
    edited = make(1, "Edited at version 1.")
    backend.rows(
        "UPDATE articles SET content = ?, content_hash = ? WHERE id = ?",
        (edited.content, record(edited).content_hash, edited.id),
    )
    assert backend.scalar("SELECT count(*) FROM article_versions") == 1

    database = backend.open()
    try:
        assert database.migrate() == migrate.latest_version(every(backend.kind))
        assert backend.scalar("SELECT max(version) FROM schema_version") >= 2

        (row,) = database.articles_since()
        assert (row["id"], row["published_original"], row["date_source"]) == (
            old_doc.id,
            None,
            None,
        )
        assert stored_provenance(backend, "article_versions") == [(None, None)]

        new = dated(make(2), "2024-03-01T12:00:00+01:00", "feed")
        assert database.save_articles([record(new)]) == ["new"]
        changed = dated(make(1, "Edited at version 2."), "2024-03-01", "jsonld")
        assert database.save_articles([record(changed)]) == ["updated"]

        rows = {row["id"]: row for row in database.articles_since()}
        assert (rows[new.id]["published_original"], rows[new.id]["date_source"]) == (
            "2024-03-01T12:00:00+01:00",
            "feed",
        )
        assert (rows[changed.id]["published_original"], rows[changed.id]["date_source"]) == (
            "2024-03-01",
            "jsonld",
        )
        versions = backend.rows(
            f"SELECT content, {PROVENANCE_COLUMNS} FROM article_versions ORDER BY id"
        )
        assert versions == [
            ("Stored by a scraper of schema version 1.", None, None),
            ("Edited at version 1.", None, None),
        ]
    finally:
        database.close()
