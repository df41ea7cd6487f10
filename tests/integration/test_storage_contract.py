"""The storage contract, run against SQLite and PostgreSQL alike (plus what only
PostgreSQL offers: full-text search, NOTIFY, connection errors)."""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from scraper.config import Settings
from scraper.document import Document, render
from scraper.storage.base import (
    ArticleRecord,
    Database,
    DatabaseError,
    DiscoveryRecord,
    FeedValidators,
)
from scraper.storage.files import content_hash
from scraper.storage.migrate import latest_version, load_migrations
from scraper.storage.open import open_database
from scraper.storage.postgres import PostgresDatabase, describe_error

if TYPE_CHECKING:
    from conftest import Backend

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2024, 3, 1, 10, 0, tzinfo=SAO_PAULO)


def make(n: int, content: str | None = None, **changes: Any) -> Document:
    fields: dict[str, Any] = {
        "title": f"Article {n} - Example Gov",
        "published": T0 + timedelta(hours=n),
        "type": "Notícias",
        "url": f"https://www.example.gov/news/{n}",
        "source_name": "Example Gov",
        "source_url": "https://www.example.gov",
        "language": "en",
        "aggregator": "RSS",
        "content": content or f"Body of article {n}.\n\nSecond paragraph.",
    }
    fields.update(changes)
    return Document(**fields)


def record(doc: Document, source_id: str = "example") -> ArticleRecord:
    path = f"{doc.published:%Y-%m-%d}/000_{doc.id}.txt"
    return ArticleRecord(doc, source_id, path, content_hash(render(doc)))


def updated_at(db: Database, doc: Document) -> datetime:
    return db.known_urls([doc.url])[doc.url]


# -- new / updated / unchanged ----------------------------------------------------------


def test_a_page_with_a_title_of_megabytes_does_not_fail_its_batch(database: Database) -> None:
    # PostgreSQL's search vector holds at most 1 MB: the row, and its whole batch, failed.
    words = " ".join(f"w{n:07d}" for n in range(250_000))
    batch = [record(make(1)), record(make(2, title=words)), record(make(3))]
    assert database.save_articles(batch) == ["new", "new", "new"]
    (row,) = [r for r in database.articles_since() if r["id"] == batch[1].document.id]
    assert row["title"] == batch[1].document.title and len(row["title"]) <= 1_000


def test_a_row_the_database_refuses_costs_only_that_row(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A value the database will not hold (here no source id) failed its whole batch, and
    # a crawl then journalled every row after it, for every catch-up to meet again.
    refused = ArticleRecord(make(2), None, "2024-03-01/000_x.txt", "0" * 64)  # type: ignore[arg-type]
    batch = [record(make(1)), refused, record(make(3))]

    assert database.save_articles(batch) == ["new", "refused", "new"]

    ids = [make(n).id for n in (1, 2, 3)]
    assert sorted(database.content_hashes(ids)) == sorted([make(1).id, make(3).id])
    assert f"the database refused the row of article {make(2).id} ({make(2).url})" in caplog.text
    assert database.save_articles([record(make(2))]) == ["new"]


def test_a_sighting_the_database_refuses_costs_only_that_sighting(
    database: Database, backend: Backend
) -> None:
    seen = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    good = [DiscoveryRecord(make(n).url, "example", "feed", "RSS", seen) for n in (1, 3)]
    refused = DiscoveryRecord(make(2).url, "example", None, "RSS", seen)  # type: ignore[arg-type]

    database.record_discoveries([good[0], refused, good[1]])

    rows = backend.rows("SELECT url FROM discoveries ORDER BY url")
    assert rows == [(make(1).url,), (make(3).url,)]


def test_content_hash_decides_new_updated_unchanged(database: Database) -> None:
    a, b, c = make(1), make(2), make(3)
    assert database.save_articles([record(b), record(a)]) == ["new", "new"]

    b2 = make(2, "Body corrected.")
    statuses = database.save_articles([record(c), record(b2), record(a)])

    assert statuses == ["new", "updated", "unchanged"]  # in the order given
    assert database.content_hashes([a.id, b.id, c.id, "0" * 16]) == {
        a.id: record(a).content_hash,
        b.id: record(b2).content_hash,
        c.id: record(c).content_hash,
    }


def test_unchanged_rows_are_not_rewritten(database: Database, backend: Backend) -> None:
    doc = make(1)
    database.save_articles([record(doc)])
    before = updated_at(database, doc)
    is_postgres = backend.kind == "postgres"
    version = backend.scalar("SELECT xmin::text FROM articles") if is_postgres else None
    time.sleep(0.05)

    assert database.save_articles([record(doc)]) == ["unchanged"]

    assert updated_at(database, doc) == before
    if is_postgres:  # not even a new row version
        assert backend.scalar("SELECT xmin::text FROM articles") == version


def test_an_update_keeps_the_previous_version(database: Database, backend: Backend) -> None:
    first = make(1, "The first text.")
    database.save_articles([record(first)])
    first_seen, stored_at = backend.rows("SELECT first_seen_at, updated_at FROM articles")[0]
    time.sleep(0.01)

    second = make(1, "The second text.", title="Article 1, corrected")
    assert database.save_articles([record(second)]) == ["updated"]
    assert database.save_articles([record(second)]) == ["unchanged"]
    third = make(1, "The third text.", published=T0 + timedelta(days=1))
    assert database.save_articles([record(third)]) == ["updated"]

    versions = backend.rows(
        "SELECT article_id, title, content, content_hash, stored_at FROM article_versions "
        "ORDER BY id"
    )
    assert [(v[0], v[1], v[2], v[3]) for v in versions] == [
        (first.id, first.title, first.content, record(first).content_hash),
        (second.id, second.title, second.content, record(second).content_hash),
    ]
    assert versions[0][4] == stored_at
    row = backend.rows("SELECT content, first_seen_at, updated_at, file_path FROM articles")[0]
    assert row[0] == third.content
    assert row[1] == first_seen  # first seen stays
    assert row[2] != stored_at
    assert row[3] == record(third).file_path


def test_same_article_twice_in_one_batch(database: Database, backend: Backend) -> None:
    doc = make(1)
    assert database.save_articles([record(doc), record(doc)]) == ["new", "unchanged"]
    edits = [record(make(1, "Edit one.")), record(make(1, "Edit two."))]
    assert database.save_articles(edits) == ["updated", "updated"]
    assert backend.scalar("SELECT count(*) FROM articles") == 1
    assert backend.scalar("SELECT content FROM articles") == "Edit two."
    assert backend.scalar("SELECT count(*) FROM article_versions") == 2


def test_an_unknown_source_id_keeps_the_stored_one(database: Database, backend: Backend) -> None:
    database.save_articles([record(make(1), source_id="president")])
    database.save_articles([record(make(1, "Changed."), source_id="")])
    assert backend.scalar("SELECT source_id FROM articles") == "president"


def test_no_length_limits(database: Database) -> None:
    url = "https://www.example.gov/news/" + "segment/" * 500  # 4,000+ characters
    content = "\n\n".join(f"Paragraph {i}: " + "palavra " * 500 for i in range(500))
    doc = make(1, content, url=url, title="T" * 5000)
    assert database.save_articles([record(doc)]) == ["new"]
    (row,) = database.articles_since()
    assert (row["url"], row["title"], row["content"]) == (url, doc.title, doc.content)
    assert len(row["content"]) > 2_000_000


def test_known_urls(database: Database) -> None:
    database.save_articles([record(make(1)), record(make(2))])
    known = database.known_urls([make(1).url, "https://www.example.gov/unknown"])
    assert list(known) == [make(1).url]
    assert known[make(1).url].utcoffset() is not None
    assert database.known_urls([]) == {}


# -- discoveries, crawl runs, caches -----------------------------------------------------


def test_every_discovery_is_recorded(database: Database, backend: Backend) -> None:
    url = make(1).url
    seen = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    feed = DiscoveryRecord(url, "example", "feed", "RSS", seen)
    gnews = DiscoveryRecord(url, "example-gnews", "gnews", "GNews", seen + timedelta(minutes=5))
    later = DiscoveryRecord(url, "example", "feed", "RSS", seen + timedelta(hours=1))

    database.record_discoveries([feed, gnews])
    database.record_discoveries([later, feed])  # a retried batch repeats `feed`

    rows = backend.rows(
        "SELECT url, article_id, source_id, channel, aggregator FROM discoveries "
        "ORDER BY discovered_at"
    )
    assert rows == [
        (url, make(1).id, "example", "feed", "RSS"),
        (url, make(1).id, "example-gnews", "gnews", "GNews"),
        (url, make(1).id, "example", "feed", "RSS"),
    ]


def test_crawl_runs_are_recorded_with_counts_and_errors(
    database: Database, backend: Backend
) -> None:
    started = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    run_id = database.start_run("example", started)
    assert backend.scalar("SELECT status FROM crawl_runs") == "running"

    counts = {
        "discovered": 10,
        "new": 3,
        "skipped": {"no publication date": 2},
        "failed": {"HTTP 503": 1},
    }
    database.finish_run(run_id, started + timedelta(minutes=2), "ok", counts)

    row = backend.rows("SELECT source_id, status, counts, errors, finished_at FROM crawl_runs")[0]
    decoded = [value if isinstance(value, dict) else json.loads(value) for value in row[2:4]]
    assert row[:2] == ("example", "ok")
    assert decoded == [counts, {"HTTP 503": 1}]
    assert row[4] is not None
    with pytest.raises(DatabaseError, match="no crawl run"):
        database.finish_run(run_id + 100, started, "ok", {})


def test_gnews_links_are_cached(database: Database) -> None:
    assert database.resolved_gnews(["CBMiAbc"]) == {}
    database.save_gnews({"CBMiAbc": "https://pub.example/a", "CBMiDef": "https://pub.example/b"})
    database.save_gnews({"CBMiAbc": "https://pub.example/a2"})
    assert database.resolved_gnews(["CBMiAbc", "CBMiDef", "CBMiXyz"]) == {
        "CBMiAbc": "https://pub.example/a2",
        "CBMiDef": "https://pub.example/b",
    }


def test_feed_validators_are_kept(database: Database) -> None:
    url = "https://www.example.gov/rss.xml"
    assert database.feed_validators(url) is None
    database.save_feed_validators(FeedValidators(url, '"abc"', "Wed, 06 Dec 2023 08:00:00 GMT"))
    database.save_feed_validators(FeedValidators(url, None, "Thu, 07 Dec 2023 08:00:00 GMT"))
    assert database.feed_validators(url) == FeedValidators(
        url, None, "Thu, 07 Dec 2023 08:00:00 GMT"
    )


# -- reading: articles_since -------------------------------------------------------------


def test_articles_since_streams_in_storage_order(database: Database) -> None:
    docs = [make(n) for n in range(1200)]  # more than one fetch of the cursor
    for start in range(0, len(docs), 400):
        database.save_articles([record(d) for d in docs[start : start + 400]])
        time.sleep(0.01)

    stream = database.articles_since()
    first = next(stream)
    rest = list(stream)

    rows = [first, *rest]
    assert len(rows) == 1200
    keys = [(r["updated_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    assert {r["id"] for r in rows} == {d.id for d in docs}
    assert set(rows[0]) >= {"id", "url", "title", "published_at", "content", "source_id"}


def test_articles_since_filters_and_resumes(database: Database) -> None:
    database.save_articles([record(make(1), "a"), record(make(2), "b")])
    time.sleep(0.02)
    checkpoint = datetime.now(UTC)
    time.sleep(0.02)
    database.save_articles([record(make(3), "a"), record(make(4), "b"), record(make(5), "a")])
    time.sleep(0.02)
    database.save_articles([record(make(1, "Edited."), "a")])  # changed: comes again

    since = [r["id"] for r in database.articles_since(since=checkpoint)]
    later = [make(n).id for n in (3, 4, 5)]
    assert since == [*sorted(later), make(1).id]
    only_a = [r["id"] for r in database.articles_since(since=checkpoint, source_id="a")]
    assert only_a == [*sorted([make(3).id, make(5).id]), make(1).id]

    rows = list(database.articles_since(since=checkpoint))
    resumed = database.articles_since(since=rows[1]["updated_at"], after_id=rows[1]["id"])
    assert [r["id"] for r in resumed] == [r["id"] for r in rows[2:]]
    assert list(database.articles_since(since=datetime.now(UTC) + timedelta(hours=1))) == []
    with pytest.raises(ValueError, match="after_id needs since"):
        list(database.articles_since(after_id=make(1).id))


def test_articles_since_keeps_the_document_fields(database: Database) -> None:
    doc = make(1, title="Зеленський: «Україна» — coração")
    database.save_articles([record(doc, "example")])
    (row,) = database.articles_since()
    assert row["published_at"] == doc.published  # same instant, whatever the zone
    assert row["published_at"].utcoffset() is not None
    assert (row["title"], row["source_id"], row["file_path"]) == (
        doc.title,
        "example",
        record(doc).file_path,
    )


def test_search_finds_a_word(database: Database) -> None:
    database.save_articles(
        [
            record(make(1, "The minister opened the bridge.")),
            record(make(2, "Nothing to see here.")),
            record(make(3, "Another bridge story.", title="Bridge news")),
        ]
    )
    found = [row["id"] for row in database.search("bridge")]
    assert found == [make(3).id, make(1).id]  # the title match first
    assert database.search("submarine") == []


# -- schema ------------------------------------------------------------------------------


def test_migrate_is_idempotent(database: Database, backend: Backend) -> None:
    latest = latest_version(load_migrations(backend.kind))
    assert database.migrate() == latest
    assert database.migrate() == latest
    assert backend.scalar("SELECT count(*) FROM schema_version") == latest


def test_a_newer_schema_is_refused(database: Database, backend: Backend) -> None:
    known = latest_version(load_migrations(backend.kind))
    backend.rows(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'future', ?)",
        (known + 5, datetime.now(UTC).isoformat()),
    )
    message = (
        f"database schema version {known + 5} is newer than this scraper supports "
        f"({known}); upgrade the scraper"
    )
    with pytest.raises(DatabaseError) as raised:
        backend.open().migrate()
    assert str(raised.value) == message


def test_migrations_started_together_apply_once(backend: Backend) -> None:
    results: queue.Queue[int | BaseException] = queue.Queue()
    start = threading.Barrier(3)

    def migrate() -> None:
        try:
            # Opening counts too: processes starting at once open a new file together.
            start.wait(timeout=30)
            db = backend.open()
            try:
                results.put(db.migrate())
            finally:
                db.close()
        except BaseException as exc:
            results.put(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latest = latest_version(load_migrations(backend.kind))
    assert [results.get() for _ in threads] == [latest] * 3
    assert backend.scalar("SELECT count(*) FROM schema_version") == latest


def test_open_database_picks_the_backend_and_migrates(backend: Backend) -> None:
    if backend.kind == "sqlite":
        settings = Settings(database_url=f"sqlite:///{backend.location}")
    else:
        settings = Settings(database_url=_url(backend.location))
    db = open_database(settings)
    try:
        assert db.save_articles([record(make(1))]) == ["new"]
    finally:
        db.close()
    assert backend.scalar("SELECT count(*) FROM articles") == 1


def _url(conninfo: str) -> str:
    """A postgresql:// URL for a key=value DSN (Settings accepts URLs only)."""
    from urllib.parse import quote

    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    host, port, dbname = params.pop("host"), params.pop("port", 5432), params.pop("dbname")
    user = params.pop("user", "postgres")
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
    return f"postgresql://{user}@{host}:{port}/{dbname}?{query}"


# -- concurrency -------------------------------------------------------------------------


def test_two_threads_saving_the_same_article_make_one_row(backend: Backend) -> None:
    dbs = [backend.open(), backend.open()]
    dbs[0].migrate()
    start = threading.Barrier(2)
    statuses: list[str] = []

    def save(db: Database) -> None:
        start.wait(timeout=30)
        statuses.extend(db.save_articles([record(make(n)) for n in range(50)]))

    threads = [threading.Thread(target=save, args=(db,)) for db in dbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in dbs:
        db.close()
    assert sorted(statuses) == ["new"] * 50 + ["unchanged"] * 50
    assert backend.scalar("SELECT count(*) FROM articles") == 50


def _save_in_process(backend: Backend, start: Barrier, results: Any) -> None:
    db = backend.open()
    start.wait(timeout=30)
    # Overlapping batches in opposite orders: must neither duplicate nor deadlock.
    results.put(db.save_articles([record(make(n)) for n in (1, 2, 3)]))
    db.close()


def test_two_processes_saving_the_same_articles_make_one_row_each(backend: Backend) -> None:
    backend.open().migrate()
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=_save_in_process, args=(backend, start, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(s for outcome in outcomes for s in outcome) == ["new"] * 3 + ["unchanged"] * 3
    assert backend.scalar("SELECT count(*) FROM articles") == 3


# -- PostgreSQL only ---------------------------------------------------------------------


@pytest.fixture
def pg(pg_dsn: str) -> PostgresDatabase:
    db = PostgresDatabase(pg_dsn)
    db.migrate()
    return db


@pytest.mark.db
def test_postgres_refuses_a_nul_character_in_one_row_only(
    pg: PostgresDatabase, pg_dsn: str
) -> None:
    # PostgreSQL text cannot hold NUL (SQLite can): psycopg refuses it before sending.
    seen = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    sightings = [
        DiscoveryRecord(make(1).url, "example", "feed", "RSS", seen),
        DiscoveryRecord(make(2).url + "\x00", "example", "feed", "RSS", seen),
    ]
    pg.record_discoveries(sightings)
    articles = [record(make(3), source_id="exa\x00mple"), record(make(4))]
    assert pg.save_articles(articles) == ["refused", "new"]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(b"SELECT url FROM discoveries").fetchall() == [(make(1).url,)]
    pg.close()


@pytest.mark.db
def test_postgres_full_text_search(pg: PostgresDatabase) -> None:
    pg.save_articles(
        [
            record(make(1, "Президент провів зустріч з міністрами.")),
            record(make(2, "Parliament passed the budget.\n\nThe vote was close.")),
        ]
    )
    assert [r["id"] for r in pg.search("зустріч")] == [make(1).id]
    assert [r["id"] for r in pg.search("budget vote")] == [make(2).id]
    assert [r["id"] for r in pg.search('"budget vote"')] == []  # not a phrase in the text
    assert pg.search("budget -vote") == []
    assert pg.search("") == []
    pg.close()


@pytest.mark.db
def test_postgres_notifies_each_new_article(pg: PostgresDatabase, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as listener:
        listener.execute("LISTEN scraper_articles")
        pg.save_articles([record(make(1)), record(make(2))])
        pg.save_articles([record(make(1)), record(make(2), "Changed.")])  # no new article
        pg.save_articles([record(make(3))])

        received = [n.payload for n in listener.notifies(timeout=5, stop_after=3)]
    assert received == [make(1).id, make(2).id, make(3).id]
    pg.close()


@pytest.mark.db
def test_postgres_unreachable_server_is_a_one_line_error() -> None:
    with pytest.raises(DatabaseError) as raised:
        PostgresDatabase("postgresql://scraper:s3cret-pw@127.0.0.1:1/news", timeout=2)
    message = str(raised.value)
    assert message == "PostgreSQL at 127.0.0.1:1/news: connection refused (is the server running?)"


@pytest.mark.db
def test_postgres_missing_database_is_a_one_line_error(pg_session_dsn: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(pg_session_dsn)
    dsn = psycopg.conninfo.make_conninfo(pg_session_dsn, dbname="no_such_db", password="s3cret-pw")
    with pytest.raises(DatabaseError) as raised:
        PostgresDatabase(dsn)
    assert "s3cret" not in str(raised.value)
    host = params.get("host", "localhost")
    port = params.get("port", 5432)
    assert str(raised.value) == (
        f"PostgreSQL at {host}:{port}/no_such_db: database no_such_db does not exist"
    )


@pytest.mark.parametrize(
    ("libpq_message", "expected"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
            'password authentication failed for user "scraper"',
            "wrong password for user scraper",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
            'no pg_hba.conf entry for host "10.0.0.9", user "scraper", database "news"\n'
            "HINT: ...",
            'no pg_hba.conf entry for host "10.0.0.9", user "scraper", database "news"',
        ),
        ('could not translate host name "db.invalid" to address', "unknown host name"),
        (
            "consuming input failed: server closed the connection unexpectedly\n\tThis...",
            "connection lost (the server closed it or restarted)",
        ),
    ],
)
def test_postgres_error_messages_name_the_problem(libpq_message: str, expected: str) -> None:
    message = describe_error(psycopg.OperationalError(libpq_message), "at 10.0.0.5:5432/news")
    assert message == f"PostgreSQL at 10.0.0.5:5432/news: {expected}"


@pytest.mark.db
def test_postgres_survives_dropped_connections(pg: PostgresDatabase, pg_dsn: str) -> None:
    pg.save_articles([record(make(1))])
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'news-scraper' AND datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    # The pool checks connections before lending them: the next call just works.
    assert pg.save_articles([record(make(2))]) == ["new"]

    # A connection dropped in the middle of a call is a one-line DatabaseError.
    with pytest.raises(DatabaseError) as raised, pg._transaction() as conn:
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert "\n" not in str(raised.value)
    assert "connection lost" in str(raised.value)
    assert pg.save_articles([record(make(3))]) == ["new"]
    pg.close()


def test_recent_runs_lists_the_newest_runs_of_each_source(database: Database) -> None:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for hour in range(3):
        run = database.start_run("alpha", start + timedelta(hours=hour))
        database.finish_run(run, start + timedelta(hours=hour, minutes=5), "ok", {"new": hour})
    database.start_run("beta", start)  # still running

    rows = database.recent_runs(2)

    alpha = [r for r in rows if r["source_id"] == "alpha"]
    assert [r["counts"]["new"] for r in alpha] == [2, 1]  # newest first, two of three
    beta = [r for r in rows if r["source_id"] == "beta"]
    assert len(beta) == 1 and beta[0]["status"] == "running" and beta[0]["finished_at"] is None
