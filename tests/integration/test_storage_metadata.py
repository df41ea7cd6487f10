"""The page's metadata (authors, description, image_url, modified_at, section, tags;
schema version 4, issue 11) and the export filters in the storage contract, on SQLite
and PostgreSQL alike: stored, read back, kept in versions, never overwritten by
"unknown", bounded, and added by the migration from version 3 to rows stored before."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from scraper.document import Document
from scraper.reader import articles_since
from scraper.storage import migrate
from scraper.storage.base import ArticleRecord, Database
from tests.integration.test_storage_contract import T0, make, record, updated_at
from tests.integration.test_storage_provenance import version_1_values

if TYPE_CHECKING:
    from conftest import Backend

METADATA_COLUMNS = "authors, description, image_url, modified_at, section, tags"
MODIFIED = datetime(2024, 3, 2, 9, 15, tzinfo=timezone(timedelta(hours=2)))


def described(doc: Document, **changes: Any) -> Document:
    fields: dict[str, Any] = {
        "authors": ("Jane Doe", "Іван Петренко"),
        "description": "A bridge opened; the mayor spoke.",
        "image_url": "https://www.example.gov/img/bridge.jpg?w=800&h=600",
        "modified_at": MODIFIED,
        "section": "City",
        "tags": ("bridges", "transport, public"),
    }
    fields.update(changes)
    return dataclasses.replace(doc, **fields)


def metadata_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        row[c] for c in ("authors", "description", "image_url", "modified_at", "section", "tags")
    )


def stored_metadata(backend: Backend, table: str = "articles") -> list[tuple[Any, ...]]:
    """The metadata columns as a consumer's SQL sees them, JSON arrays decoded and times
    as ISO text (SQLite stores text, PostgreSQL returns jsonb as lists)."""
    found = []
    for row in backend.rows(f"SELECT {METADATA_COLUMNS} FROM {table} ORDER BY id"):
        authors, description, image, modified, section, tags = row
        found.append(
            (
                _list(authors),
                description,
                image,
                _instant(modified),
                section,
                _list(tags),
            )
        )
    return found


def _list(value: Any) -> list[str] | None:
    import json

    return json.loads(value) if isinstance(value, str) else value


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime) and moment.utcoffset() is not None
    return moment


def test_metadata_round_trips_through_every_read_path(database: Database) -> None:
    full = described(make(1, "A bridge opened."))
    empty = described(
        make(2, "A bridge with no byline."),
        authors=(),
        tags=(),
        description=None,
        image_url=None,
        modified_at=None,
        section=None,
    )
    unknown = make(3, "A bridge read back from its file.")
    assert database.save_articles([record(full), record(empty), record(unknown)]) == ["new"] * 3

    rows = {row["id"]: row for row in database.articles_since()}
    assert metadata_of(rows[full.id]) == (
        ["Jane Doe", "Іван Петренко"],
        "A bridge opened; the mayor spoke.",
        "https://www.example.gov/img/bridge.jpg?w=800&h=600",
        MODIFIED,
        "City",
        ["bridges", "transport, public"],
    )
    assert rows[full.id]["modified_at"].utcoffset() is not None
    assert metadata_of(rows[empty.id]) == ([], None, None, None, None, [])
    assert metadata_of(rows[unknown.id]) == (None,) * 6

    found = {row["id"]: row for row in database.search("bridge")}
    assert found[full.id]["tags"] == ["bridges", "transport, public"]

    articles = {a.id: a for a in articles_since(database, zone=UTC)}
    article = articles[full.id]
    assert article.authors == ("Jane Doe", "Іван Петренко")
    assert article.tags == ("bridges", "transport, public")
    assert (article.description, article.image_url, article.section) == (
        full.description,
        full.image_url,
        "City",
    )
    assert article.modified_at == MODIFIED and article.modified_at.tzinfo == UTC
    assert article.document == full  # the metadata takes no part in equality
    assert articles[empty.id].authors == () and articles[empty.id].tags == ()
    assert (
        articles[unknown.id].authors is None and not articles[unknown.id].document.has_page_metadata
    )


def test_a_changed_article_gets_the_new_metadata_and_its_version_keeps_the_old(
    database: Database, backend: Backend
) -> None:
    database.save_articles([record(described(make(1, "The first text.")))])
    second = described(make(1, "The second text."), authors=("John Roe",), tags=(), section=None)

    assert database.save_articles([record(second)]) == ["updated"]

    assert stored_metadata(backend) == [
        (["John Roe"], second.description, second.image_url, MODIFIED, None, [])
    ]
    assert stored_metadata(backend, "article_versions") == [
        (
            ["Jane Doe", "Іван Петренко"],
            "A bridge opened; the mayor spoke.",
            "https://www.example.gov/img/bridge.jpg?w=800&h=600",
            MODIFIED,
            "City",
            ["bridges", "transport, public"],
        )
    ]


def test_a_record_without_metadata_keeps_the_stored_one(
    database: Database, backend: Backend
) -> None:
    # What `scraper db sync` stores: a document read back from its file knows none.
    database.save_articles([record(described(make(1)))])
    kept = stored_metadata(backend)

    assert database.save_articles([record(make(1))]) == ["unchanged"]
    assert database.save_articles([record(make(1, "Changed on disk."), "")]) == ["updated"]

    assert stored_metadata(backend) == kept
    assert stored_metadata(backend, "article_versions") == kept


def test_an_unchanged_row_without_metadata_gets_it_and_nothing_else_changes(
    database: Database, backend: Backend
) -> None:
    database.save_articles([record(make(1), source_id="first-source")])
    before = updated_at(database, make(1))
    time.sleep(0.02)

    assert database.save_articles([record(described(make(1)), "other")]) == ["unchanged"]
    assert stored_metadata(backend)[0][0] == ["Jane Doe", "Іван Петренко"]
    assert updated_at(database, make(1)) == before
    assert backend.scalar("SELECT source_id FROM articles") == "first-source"
    assert backend.scalar("SELECT count(*) FROM article_versions") == 0

    # Once it has some, an unchanged article keeps them (no churn between crawls).
    other = described(make(1), authors=("Someone Else",), section="Elsewhere")
    assert database.save_articles([record(other)]) == ["unchanged"]
    assert stored_metadata(backend)[0][0] == ["Jane Doe", "Іван Петренко"]
    assert stored_metadata(backend)[0][4] == "City"


def test_a_hostile_page_cannot_bloat_a_row(database: Database, backend: Backend) -> None:
    hostile = described(
        make(1),
        authors=tuple(f"Author {n} " + "x" * 500 for n in range(1000)),
        tags=tuple(f"tag{n}" for n in range(1000)),
        description="word " * 100_000,
        image_url="https://www.example.gov/" + "a" * 5000,
        section="s" * 10_000,
    )
    database.save_articles([record(hostile)])

    ((authors, description, image, _modified, section, tags),) = stored_metadata(backend)
    assert len(authors) == 20 and all(len(name) <= 200 for name in authors)
    assert tags == [f"tag{n}" for n in range(20)]
    assert len(description) <= 2000
    assert image is None  # a URL cut short would be wrong: dropped
    assert len(section) == 200


def test_articles_since_filters_on_publication_time_language_and_limit(
    database: Database,
) -> None:
    docs = [make(n) for n in range(6)]  # published T0, T0 + 1 h, ... T0 + 5 h
    docs[4] = make(4, language="pt")
    database.save_articles([record(d) for d in docs])

    def ids(**filters: Any) -> set[str]:
        return {row["id"] for row in database.articles_since(**filters)}

    assert ids(published_since=T0 + timedelta(hours=2)) == {d.id for d in docs[2:]}
    assert ids(published_before=T0 + timedelta(hours=2)) == {d.id for d in docs[:2]}
    assert ids(
        published_since=T0 + timedelta(hours=1), published_before=T0 + timedelta(hours=3)
    ) == {docs[1].id, docs[2].id}
    # A fraction of a second does not move a bound past a whole second.
    assert ids(published_since=T0 + timedelta(hours=1, microseconds=1)) == {d.id for d in docs[2:]}
    assert ids(language="pt") == {docs[4].id}
    limited = [row["id"] for row in database.articles_since(limit=2)]
    everything = [row["id"] for row in database.articles_since()]
    assert limited == everything[:2]
    assert list(database.articles_since(limit=0)) == []
    assert ids(language="en", published_since=T0 + timedelta(hours=3), limit=5) == {
        docs[3].id,
        docs[5].id,
    }
    with pytest.raises(ValueError, match="time zone"):
        list(database.articles_since(published_since=datetime(2024, 1, 1)))


def test_source_ids_lists_the_sources_of_articles_and_runs(database: Database) -> None:
    database.save_articles([record(make(1), "b-source"), record(make(2), "")])
    database.start_run("a-source", datetime.now(UTC))
    assert database.source_ids() == ["a-source", "b-source"]


def test_a_rekeyed_article_keeps_its_metadata(database: Database) -> None:
    doc = described(make(1))
    database.save_articles([record(doc)])
    new_url = "https://www.example.gov/news/1?page=1"
    database.rekey_article(doc.id, new_url, "2024-03-01/000_x.txt", "f" * 64)
    (row,) = database.articles_since()
    assert row["url"] == new_url and row["authors"] == ["Jane Doe", "Іван Петренко"]


# -- the migration from schema version 3 -------------------------------------------------

_V3_INSERT = """
    INSERT INTO articles (
        id, url, title, published_at, type, source_id, source_name, source_url, language,
        aggregator, content, content_hash, file_path, first_seen_at, updated_at,
        published_original, date_source)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _insert_at_version_3(backend: Backend, rec: ArticleRecord) -> None:
    # Version 3's columns are version 1's, then published_original and date_source.
    backend.rows(_V3_INSERT, (*version_1_values(rec), "2024-03-01", "sitemap"))


def test_migrating_a_version_3_database_to_version_4(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = migrate.load_migrations
    with monkeypatch.context() as only_three:
        only_three.setattr(migrate, "load_migrations", lambda kind: every(kind)[:3])
        old = backend.open()
        assert old.migrate() == 3
        old.close()
    old_doc = make(1, "Stored by a scraper of schema version 3.")
    other = make(2, "Also stored at version 3, never changed.")
    _insert_at_version_3(backend, record(old_doc))
    _insert_at_version_3(backend, record(other))
    # An edit at version 3 leaves a version row without the new columns.
    edited = make(1, "Edited at version 3.")
    backend.rows(
        "UPDATE articles SET content = ?, content_hash = ? WHERE id = ?",
        (edited.content, record(edited).content_hash, edited.id),
    )
    assert backend.scalar("SELECT count(*) FROM article_versions") == 1

    database = backend.open()
    try:
        assert database.migrate() == migrate.latest_version(every(backend.kind)) >= 4
        rows = {row["id"]: row for row in database.articles_since()}
        assert set(rows) == {old_doc.id, other.id}
        assert all(metadata_of(row) == (None,) * 6 for row in rows.values())
        assert rows[old_doc.id]["content"] == "Edited at version 3."
        assert rows[old_doc.id]["date_source"] == "sitemap"  # earlier columns stay
        assert stored_metadata(backend, "article_versions") == [(None,) * 6]

        # Stored again: the changed one gets its metadata, its version the old (none);
        # the unchanged one gets it too, without becoming "updated".
        changed = described(make(1, "Edited at version 4."))
        before = updated_at(database, other)
        assert database.save_articles([record(changed), record(described(other))]) == [
            "updated",
            "unchanged",
        ]
        rows = {row["id"]: row for row in database.articles_since()}
        assert rows[old_doc.id]["section"] == "City"
        assert rows[other.id]["tags"] == ["bridges", "transport, public"]
        assert updated_at(database, other) == before
        versions = backend.rows("SELECT content, section FROM article_versions ORDER BY id")
        assert versions == [
            ("Stored by a scraper of schema version 3.", None),
            ("Edited at version 3.", None),
        ]
    finally:
        database.close()
