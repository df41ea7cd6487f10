"""Identities in the storage contract (issue 8), on SQLite and PostgreSQL alike:
article aliases, canonical claims, and what ``scraper db identities`` asks of a database (stored
identities with their versions, forgetting rows, moving a row to a new identity)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from scraper.storage.base import (
    AliasRecord,
    ClaimRecord,
    Database,
    DatabaseError,
    DiscoveryRecord,
    FeedValidators,
)
from scraper.urls import article_id
from tests.integration.test_storage_contract import make, record

if TYPE_CHECKING:
    from conftest import Backend

NOW = datetime(2024, 3, 2, 12, 0, tzinfo=UTC)


def test_aliases_name_stored_articles_only(database: Database, backend: Backend) -> None:
    a, b = make(1), make(2)
    database.save_articles([record(a), record(b)])
    print_url = "https://www.example.gov/news/1?print=1"
    database.save_aliases(
        [
            AliasRecord(print_url, a.id, NOW),
            AliasRecord("https://www.example.gov/orphan", "0" * 16, NOW),  # no such article
            AliasRecord(b.url, a.id, NOW),  # b is an article of its own
        ]
    )
    assert database.aliases() == {print_url: a.id}
    assert backend.rows("SELECT alias_id, article_id FROM article_aliases") == [
        (article_id(print_url), a.id)
    ]

    # Saved again, or pointed elsewhere: still one row.
    database.save_aliases([AliasRecord(print_url, a.id, NOW)])
    database.save_aliases([AliasRecord(print_url, b.id, NOW + timedelta(hours=1))])
    assert database.aliases() == {print_url: b.id}
    database.save_aliases([])


def test_the_first_claim_on_a_url_stands(database: Database, backend: Backend) -> None:
    a, b = make(1), make(2)
    database.save_articles([record(a), record(b)])
    named = "https://www.example.gov/news/1"
    database.save_claims(
        [
            ClaimRecord(named, a.id, NOW),
            ClaimRecord("https://www.example.gov/orphan", "0" * 16, NOW),  # no such article
        ]
    )
    database.save_claims([ClaimRecord(named, b.id, NOW + timedelta(hours=1))])  # a later one
    database.save_claims([])

    assert database.claims() == {named: a.id}
    assert backend.rows("SELECT claim_id, url, article_id FROM canonical_claims") == [
        (article_id(named), named, a.id)
    ]


def test_stored_identities_count_titles_and_dates_of_versions(database: Database) -> None:
    a, b = make(1), make(2)
    database.save_articles([record(a), record(b)])
    # b's URL was shared by two different articles: the second overwrote the first.
    other = make(3, "Another article altogether.", url=b.url, title="Another title")
    database.save_articles([record(other)])
    # a was corrected in place: another title, the same publication time.
    database.save_articles([record(make(1, "Corrected body.", title="Corrected title"))])

    rows = {row.id: row for row in database.stored_identities()}
    assert set(rows) == {a.id, b.id}
    assert (rows[a.id].url, rows[a.id].titles, rows[a.id].dates) == (a.url, 2, 1)
    assert (rows[b.id].url, rows[b.id].titles, rows[b.id].dates) == (b.url, 2, 2)
    assert rows[b.id].file_path == record(b).file_path
    assert [row.id for row in database.stored_identities()] == sorted(rows)


def test_forget_articles_removes_rows_versions_aliases_claims_discoveries_and_validators(
    database: Database, backend: Backend
) -> None:
    a, b = make(1), make(2)
    database.save_articles([record(a), record(b)])
    database.save_articles([record(make(1, "Changed."))])  # a version of a
    database.save_aliases([AliasRecord("https://www.example.gov/news/1?print", a.id, NOW)])
    database.save_claims([ClaimRecord("https://www.example.gov/news/1x", a.id, NOW)])
    database.record_discoveries(
        [DiscoveryRecord(doc.url, "example", "feed", "RSS", NOW) for doc in (a, b)]
    )
    database.save_feed_validators(FeedValidators("https://www.example.gov/rss", '"e"', None))

    assert database.forget_articles([a.id, "f" * 16]) == 1

    assert backend.rows("SELECT id FROM articles") == [(b.id,)]
    assert backend.scalar("SELECT count(*) FROM article_versions") == 0
    assert database.aliases() == {}
    assert database.claims() == {}
    assert backend.rows("SELECT article_id FROM discoveries") == [(b.id,)]
    assert database.feed_validators("https://www.example.gov/rss") is None


def test_rekey_moves_a_row_and_what_hangs_on_it(database: Database, backend: Backend) -> None:
    old = make(1, url="https://www.example.gov/a%2fb")
    database.save_articles([record(old)])
    database.save_articles([record(make(1, "Changed.", url=old.url))])  # one version
    database.save_aliases([AliasRecord("https://www.example.gov/print", old.id, NOW)])
    database.save_claims([ClaimRecord("https://www.example.gov/named", old.id, NOW)])
    database.record_discoveries([DiscoveryRecord(old.url, "example", "feed", "RSS", NOW)])
    before = backend.rows("SELECT first_seen_at, updated_at FROM articles")[0]

    new_url = "https://www.example.gov/a%2Fb"
    new_id = article_id(new_url)
    database.rekey_article(old.id, new_url, "2024-03-01/000_x.txt", "c" * 64)

    rows = backend.rows("SELECT id, url, file_path, content_hash, first_seen_at FROM articles")
    assert rows == [(new_id, new_url, "2024-03-01/000_x.txt", "c" * 64, before[0])]
    assert backend.rows("SELECT updated_at FROM articles")[0][0] >= before[1]
    assert backend.rows("SELECT DISTINCT article_id FROM article_versions") == [(new_id,)]
    assert database.aliases() == {"https://www.example.gov/print": new_id}
    assert database.claims() == {"https://www.example.gov/named": new_id}
    assert backend.rows("SELECT article_id, url FROM discoveries") == [(new_id, new_url)]

    with pytest.raises(DatabaseError):
        database.rekey_article(old.id, "https://www.example.gov/elsewhere", "x", "d" * 64)
    taken = make(2)
    database.save_articles([record(taken)])
    with pytest.raises(DatabaseError):
        database.rekey_article(new_id, taken.url, "x", "d" * 64)  # the new id is stored
    assert backend.scalar("SELECT count(*) FROM articles") == 2
