"""The embedded SQLite backend (stdlib sqlite3): same logical schema and semantics as
PostgreSQL, so a fresh machine runs with no server.

Every SQL statement this backend runs is one of the named queries of ``Q`` below (the
schema itself lives in ``migrations/sqlite``). The database runs in WAL mode, so readers
(consumers, ``articles_since``) never block the crawl's writes; writers take the write
lock up front (``BEGIN IMMEDIATE``) and wait for each other up to the busy timeout.
Timestamps are stored as ISO 8601 text in UTC, so text order is time order.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

from scraper.storage import migrate as migrations
from scraper.storage.base import (
    AliasRecord,
    ArticleRecord,
    ClaimRecord,
    DatabaseError,
    DiscoveryRecord,
    FeedValidators,
    RowRefused,
    RowStatus,
    StoredIdentity,
    alias_row,
    article_row,
    claim_row,
    each_row_apart,
    has_page_metadata,
    has_provenance,
    insert_each_apart,
    sighting_row,
)
from scraper.urls import article_id

BUSY_TIMEOUT_SECONDS: Final = 30.0
ARTICLE_COLUMNS: Final = (
    "id, url, title, published_at, published_original, date_source, type, source_id, "
    "source_name, source_url, language, aggregator, content, content_hash, file_path, "
    "first_seen_at, updated_at, authors, description, image_url, modified_at, section, tags"
)
_TIMESTAMP_COLUMNS: Final = ("published_at", "first_seen_at", "updated_at", "modified_at")
_JSON_COLUMNS: Final = ("authors", "tags")
# A LIKE pattern matches a term literally once these are escaped with "\".
_LIKE_SPECIALS: Final = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


class Q:
    """The named queries of this backend: all of its SQL, in one place."""

    BUSY_TIMEOUT: Final = "PRAGMA busy_timeout = 30000"
    WAL: Final = "PRAGMA journal_mode = WAL"
    # NORMAL is durable in WAL mode except for the last transactions before a power cut.
    SYNCHRONOUS: Final = "PRAGMA synchronous = NORMAL"
    FOREIGN_KEYS: Final = "PRAGMA foreign_keys = ON"
    BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
    COMMIT: Final = "COMMIT"
    ROLLBACK: Final = "ROLLBACK"

    SCHEMA_VERSION_EXISTS: Final = (
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    )
    SCHEMA_VERSION: Final = "SELECT coalesce(max(version), 0) FROM schema_version"
    RECORD_MIGRATION: Final = (
        "INSERT INTO schema_version (version, name, applied_at) VALUES (:version, :name, :now)"
    )

    # Lists are passed as one JSON array parameter, so each query text stays fixed.
    KNOWN_URLS: Final = (
        "SELECT url, updated_at FROM articles WHERE id IN (SELECT value FROM json_each(:ids))"
    )
    CONTENT_HASHES: Final = (
        "SELECT id, content_hash FROM articles WHERE id IN (SELECT value FROM json_each(:ids))"
    )
    INSERT_ARTICLE: Final = """
        INSERT INTO articles (
            id, url, title, published_at, type, source_id, source_name, source_url,
            language, aggregator, content, content_hash, file_path, first_seen_at, updated_at,
            published_original, date_source, authors, description, image_url, modified_at,
            section, tags)
        VALUES (
            :id, :url, :title, :published_at, :type, :source_id, :source_name, :source_url,
            :language, :aggregator, :content, :content_hash, :file_path, :now, :now,
            :published_original, :date_source, :authors, :description, :image_url,
            :modified_at, :section, :tags)
    """
    # A new source_id of '' (unknown, e.g. `scraper db sync`) keeps the stored one, and
    # so does a record without any provenance (read back from its file) keep the stored
    # published_original and date_source: the pair is replaced together or not at all.
    # The page's metadata likewise, as one group (:has_metadata: whether the record
    # knows it).
    UPDATE_ARTICLE: Final = """
        UPDATE articles SET
            url = :url, title = :title, published_at = :published_at, type = :type,
            source_id = coalesce(nullif(:source_id, ''), source_id),
            source_name = :source_name, source_url = :source_url, language = :language,
            aggregator = :aggregator, content = :content, content_hash = :content_hash,
            file_path = :file_path, updated_at = :now,
            published_original = CASE WHEN :published_original IS NULL AND :date_source IS NULL
                                      THEN published_original ELSE :published_original END,
            date_source = CASE WHEN :published_original IS NULL AND :date_source IS NULL
                               THEN date_source ELSE :date_source END,
            authors = CASE WHEN :has_metadata THEN :authors ELSE authors END,
            description = CASE WHEN :has_metadata THEN :description ELSE description END,
            image_url = CASE WHEN :has_metadata THEN :image_url ELSE image_url END,
            modified_at = CASE WHEN :has_metadata THEN :modified_at ELSE modified_at END,
            section = CASE WHEN :has_metadata THEN :section ELSE section END,
            tags = CASE WHEN :has_metadata THEN :tags ELSE tags END
        WHERE id = :id AND content_hash IS NOT :content_hash
    """
    # An unchanged article whose row has no provenance yet (stored before schema 2, or
    # by `scraper db sync`) gets it; the row is otherwise left as it is (updated_at too).
    FILL_PROVENANCE: Final = """
        UPDATE articles SET published_original = :published_original, date_source = :date_source
        WHERE id = :id AND content_hash = :content_hash
          AND published_original IS NULL AND date_source IS NULL
    """
    # Likewise the page's metadata (issue 11), for a row stored before schema 4 or from
    # its file: all six columns NULL.
    FILL_METADATA: Final = """
        UPDATE articles SET
            authors = :authors, description = :description, image_url = :image_url,
            modified_at = :modified_at, section = :section, tags = :tags
        WHERE id = :id AND content_hash = :content_hash
          AND authors IS NULL AND description IS NULL AND image_url IS NULL
          AND modified_at IS NULL AND section IS NULL AND tags IS NULL
    """
    RECORD_DISCOVERY: Final = """
        INSERT OR IGNORE INTO discoveries (
            url, article_id, source_id, channel, aggregator, discovered_at)
        VALUES (:url, :article_id, :source_id, :channel, :aggregator, :discovered_at)
    """
    START_RUN: Final = (
        "INSERT INTO crawl_runs (source_id, started_at, worker, job_id) "
        "VALUES (:source_id, :started_at, :worker, :job_id)"
    )
    RUNNING_RUNS: Final = (
        "SELECT id, source_id, started_at, worker, job_id FROM crawl_runs "
        "WHERE status = 'running' ORDER BY started_at, id"
    )
    FINISH_RUN: Final = """
        UPDATE crawl_runs
        SET finished_at = :finished_at, status = :status, counts = :counts, errors = :errors
        WHERE id = :id
    """
    RECENT_RUNS: Final = """
        SELECT id, source_id, started_at, finished_at, status, counts, worker FROM (
            SELECT id, source_id, started_at, finished_at, status, counts, worker,
                   row_number() OVER (
                       PARTITION BY source_id ORDER BY started_at DESC, id DESC) AS n
            FROM crawl_runs) AS ranked
        WHERE n <= :limit ORDER BY source_id, started_at DESC, id DESC
    """
    RESOLVED_GNEWS: Final = """
        SELECT gnews_id, url FROM gnews_links
        WHERE gnews_id IN (SELECT value FROM json_each(:gnews_ids))
    """
    SAVE_GNEWS: Final = """
        INSERT INTO gnews_links (gnews_id, url, resolved_at) VALUES (:gnews_id, :url, :now)
        ON CONFLICT (gnews_id) DO UPDATE SET url = excluded.url, resolved_at = excluded.resolved_at
    """
    FEED_VALIDATORS: Final = "SELECT url, etag, last_modified FROM feed_validators WHERE url = :url"
    SAVE_FEED_VALIDATORS: Final = """
        INSERT INTO feed_validators (url, etag, last_modified, checked_at)
        VALUES (:url, :etag, :last_modified, :now)
        ON CONFLICT (url) DO UPDATE SET
            etag = excluded.etag, last_modified = excluded.last_modified,
            checked_at = excluded.checked_at
    """
    # (since, after_id) is a keyset cursor: rows strictly after that (updated_at, id).
    # "updated_at >= coalesce(...)" rather than "IS NULL OR" lets the index seek to since.
    # A negative LIMIT is no limit.
    ARTICLES_SINCE: Final = f"""
        SELECT {ARTICLE_COLUMNS} FROM articles
        WHERE updated_at >= coalesce(:since, '')
          AND (:after_id IS NULL OR (updated_at, id) > (:since, :after_id))
          AND (:source_id IS NULL OR source_id = :source_id)
          AND (:published_since IS NULL OR published_at >= :published_since)
          AND (:published_before IS NULL OR published_at < :published_before)
          AND (:language IS NULL OR language = :language)
        ORDER BY updated_at, id
        LIMIT coalesce(:limit, -1)
    """
    SOURCE_IDS: Final = """
        SELECT DISTINCT source_id FROM articles WHERE source_id <> ''
        UNION SELECT DISTINCT source_id FROM crawl_runs
        ORDER BY 1
    """
    # Every term must occur in the title or the content; more terms in the title rank
    # higher. LIKE is case-insensitive for ASCII letters only.
    SEARCH: Final = f"""
        SELECT {ARTICLE_COLUMNS},
               (SELECT count(*) FROM json_each(:terms)
                WHERE articles.title LIKE '%' || value || '%' ESCAPE '\\') AS rank
        FROM articles
        WHERE NOT EXISTS (
            SELECT 1 FROM json_each(:terms)
            WHERE NOT (articles.title LIKE '%' || value || '%' ESCAPE '\\'
                       OR articles.content LIKE '%' || value || '%' ESCAPE '\\'))
        ORDER BY rank DESC, published_at DESC, id
        LIMIT :limit
    """

    # -- identities (issue 8) ---------------------------------------------------------
    # An alias is kept only for a stored article, and never for a URL that is itself one.
    SAVE_ALIAS: Final = """
        INSERT INTO article_aliases (alias_id, url, article_id, created_at)
        SELECT :url_id, :url, :article_id, :created_at
        WHERE EXISTS (SELECT 1 FROM articles WHERE id = :article_id)
          AND NOT EXISTS (SELECT 1 FROM articles WHERE id = :url_id)
        ON CONFLICT (alias_id) DO UPDATE SET url = excluded.url, article_id = excluded.article_id
    """
    ALIASES: Final = "SELECT url, article_id FROM article_aliases"
    SAVE_CLAIM: Final = """
        INSERT INTO canonical_claims (claim_id, url, article_id, created_at)
        SELECT :url_id, :url, :article_id, :created_at
        WHERE EXISTS (SELECT 1 FROM articles WHERE id = :article_id)
        ON CONFLICT (claim_id) DO NOTHING
    """
    CLAIMS: Final = "SELECT url, article_id FROM canonical_claims"
    STORED_IDENTITIES: Final = """
        SELECT id, url, file_path, count(DISTINCT title), count(DISTINCT published_at)
        FROM (
            SELECT id, url, file_path, title, published_at FROM articles
            UNION ALL
            SELECT a.id, a.url, a.file_path, v.title, v.published_at
            FROM article_versions AS v JOIN articles AS a ON a.id = v.article_id
        ) AS seen
        GROUP BY id, url, file_path
        ORDER BY id
    """
    FORGET_DISCOVERIES: Final = (
        "DELETE FROM discoveries WHERE article_id IN (SELECT value FROM json_each(:ids))"
    )
    FORGET_ARTICLES: Final = "DELETE FROM articles WHERE id IN (SELECT value FROM json_each(:ids))"
    FORGET_FEED_VALIDATORS: Final = "DELETE FROM feed_validators"
    REKEY_ARTICLE: Final = """
        INSERT INTO articles (
            id, url, title, published_at, type, source_id, source_name, source_url,
            language, aggregator, content, content_hash, file_path, first_seen_at, updated_at,
            published_original, date_source, authors, description, image_url, modified_at,
            section, tags)
        SELECT
            :new_id, :url, title, published_at, type, source_id, source_name, source_url,
            language, aggregator, content, :content_hash, :file_path, first_seen_at, :now,
            published_original, date_source, authors, description, image_url, modified_at,
            section, tags
        FROM articles WHERE id = :old_id
    """
    REKEY_VERSIONS: Final = (
        "UPDATE article_versions SET article_id = :new_id WHERE article_id = :old_id"
    )
    REKEY_ALIASES: Final = (
        "UPDATE article_aliases SET article_id = :new_id WHERE article_id = :old_id"
    )
    REKEY_CLAIMS: Final = (
        "UPDATE canonical_claims SET article_id = :new_id WHERE article_id = :old_id"
    )
    REKEY_DISCOVERIES: Final = (
        "UPDATE OR IGNORE discoveries SET article_id = :new_id, url = :url "
        "WHERE article_id = :old_id"
    )
    DELETE_ARTICLE: Final = "DELETE FROM articles WHERE id = :old_id"

    # -- files and rows level (issue 11) ----------------------------------------------
    COUNT_ARTICLES: Final = "SELECT count(*) FROM articles"
    ARTICLE_IDS: Final = "SELECT id FROM articles ORDER BY id"
    ARTICLES_BY_ID: Final = (
        f"SELECT {ARTICLE_COLUMNS} FROM articles "
        "WHERE id IN (SELECT value FROM json_each(:ids)) ORDER BY id"
    )
    SET_FILE_PATH: Final = "UPDATE articles SET file_path = :file_path WHERE id = :id"


class SQLiteDatabase:
    """``scraper.storage.base.Database`` on an SQLite file (parent folders are created).

    One instance may be shared by threads: writes are serialized on one connection;
    ``articles_since`` reads on a connection of its own."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = self._connect()

    # -- plumbing ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are begun and ended here, explicitly.
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(Q.BUSY_TIMEOUT)
            _enable_wal(conn)
            conn.execute(Q.SYNCHRONOUS)
            conn.execute(Q.FOREIGN_KEYS)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(self._describe(exc)) from None
        conn.row_factory = sqlite3.Row
        return conn

    def _describe(self, exc: BaseException) -> str:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return f"SQLite database {self.path}: {' '.join(str(reason).split())}"

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The write connection in an IMMEDIATE transaction, committed when the block ends."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute(Q.BEGIN_WRITE)
                try:
                    yield conn
                    conn.execute(Q.COMMIT)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute(Q.ROLLBACK)
                    raise
            except (sqlite3.DataError, sqlite3.IntegrityError) as exc:
                raise RowRefused(self._describe(exc)) from None  # what a row holds
            except sqlite3.Error as exc:
                raise DatabaseError(self._describe(exc)) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise DatabaseError(self._describe(exc)) from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply pending migrations in one transaction; return the schema version.

        ``BEGIN IMMEDIATE`` takes the write lock first, so processes starting together
        take turns: the first migrates, the others find nothing left to do."""
        known = migrations.load_migrations("sqlite")
        with self._write() as conn:
            current = _schema_version(conn)
            todo = migrations.pending(known, current)
            for migration in todo:
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    Q.RECORD_MIGRATION,
                    {"version": migration.version, "name": migration.name, "now": _now()},
                )
            return todo[-1].version if todo else current

    def schema_version(self) -> int:
        with self._read() as conn:
            return _schema_version(conn)

    # -- articles ---------------------------------------------------------------------

    def known_urls(self, urls: Iterable[str]) -> dict[str, datetime]:
        wanted = set(urls)
        if not wanted:
            return {}
        ids = json.dumps(sorted({article_id(url) for url in wanted}))
        with self._read() as conn:
            rows = conn.execute(Q.KNOWN_URLS, {"ids": ids}).fetchall()
        return {url: _datetime(updated) for url, updated in rows if url in wanted}

    def content_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """The stored content_hash of each of ``ids`` that has a row."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self._read() as conn:
            rows = conn.execute(Q.CONTENT_HASHES, {"ids": json.dumps(wanted)}).fetchall()
        return {row_id: digest for row_id, digest in rows}

    def save_articles(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
        """Upsert a batch in one transaction; statuses come back in the order given."""
        if not records:
            return []
        return each_row_apart(self._save_batch, records, "refused", article_row)

    def _save_batch(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
        now = _now()
        ids = json.dumps(sorted({r.document.id for r in records}))
        statuses: list[RowStatus] = []
        with self._write() as conn:
            # The write lock is held, so these hashes stay true until the commit.
            stored = dict(conn.execute(Q.CONTENT_HASHES, {"ids": ids}).fetchall())
            for record in records:
                params = _article_params(record, now)
                previous = stored.get(record.document.id)
                if previous is None:
                    conn.execute(Q.INSERT_ARTICLE, params)
                    statuses.append("new")
                elif previous == record.content_hash:
                    if has_provenance(record):
                        conn.execute(Q.FILL_PROVENANCE, params)
                    if has_page_metadata(record):
                        conn.execute(Q.FILL_METADATA, params)
                    statuses.append("unchanged")
                else:
                    conn.execute(Q.UPDATE_ARTICLE, params)
                    statuses.append("updated")
                stored[record.document.id] = record.content_hash
        return statuses

    def articles_since(
        self,
        since: datetime | None = None,
        source_id: str | None = None,
        after_id: str | None = None,
        *,
        published_since: datetime | None = None,
        published_before: datetime | None = None,
        language: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Articles stored or changed at or after ``since``, ordered by (updated_at, id).

        ``after_id`` with ``since`` (the last row's updated_at and id) resumes strictly
        after that row; the other filters are those of ``Database.articles_since``.
        Streams from a cursor on its own connection: constant memory, and the crawl
        keeps writing meanwhile."""
        if after_id is not None and since is None:
            raise ValueError(
                "after_id needs since: pass the updated_at and id of the last row read"
            )
        for name, moment in (
            ("since", since),
            ("published_since", published_since),
            ("published_before", published_before),
        ):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must carry a time zone")
        params = {
            "since": _timestamp(since) if since is not None else None,
            "after_id": after_id,
            "source_id": source_id,
            "published_since": _whole_seconds(published_since),
            "published_before": _whole_seconds(published_before),
            "language": language,
            "limit": limit,
        }
        reader = self._connect()
        try:
            cursor = reader.execute(Q.ARTICLES_SINCE, params)
            while rows := cursor.fetchmany(500):
                yield from (_article_row(row) for row in rows)
        except sqlite3.Error as exc:
            raise DatabaseError(self._describe(exc)) from None
        finally:
            reader.close()

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Articles containing every word of ``query`` in the title or content (LIKE
        matching: substrings, case-insensitive for ASCII letters only), each with a
        ``rank`` (how many of the words are in the title); newest first among equals."""
        terms = [term.translate(_LIKE_SPECIALS) for term in query.split()]
        if not terms:
            return []
        with self._read() as conn:
            rows = conn.execute(Q.SEARCH, {"terms": json.dumps(terms), "limit": limit})
            return [_article_row(row) for row in rows.fetchall()]

    def source_ids(self) -> list[str]:
        with self._read() as conn:
            return [row[0] for row in conn.execute(Q.SOURCE_IDS).fetchall()]

    # -- discoveries and crawl runs ---------------------------------------------------

    def record_discoveries(self, records: Sequence[DiscoveryRecord]) -> None:
        insert_each_apart(self._insert_discoveries, records, sighting_row)

    def _insert_discoveries(self, records: Sequence[DiscoveryRecord]) -> None:
        if not records:
            return
        params = [
            {
                "url": r.url,
                "article_id": article_id(r.url),
                "source_id": r.source_id,
                "channel": r.channel,
                "aggregator": r.aggregator,
                "discovered_at": _timestamp(r.discovered_at),
            }
            for r in records
        ]
        with self._write() as conn:
            conn.executemany(Q.RECORD_DISCOVERY, params)

    def start_run(
        self,
        source_id: str,
        started_at: datetime,
        worker: str | None = None,
        job_id: int | None = None,
    ) -> int:
        params = {
            "source_id": source_id,
            "started_at": _timestamp(started_at),
            "worker": worker,
            "job_id": job_id,
        }
        with self._write() as conn:
            cursor = conn.execute(Q.START_RUN, params)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def running_runs(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(Q.RUNNING_RUNS).fetchall()
        return [{**dict(row), "started_at": _datetime(row["started_at"])} for row in rows]

    def finish_run(
        self, run_id: int, finished_at: datetime, status: str, counts: dict[str, Any]
    ) -> None:
        """Record the end of a run. ``errors`` holds ``counts["errors"]`` when given
        (e.g. a fatal error message), else the failures by reason, else NULL."""
        errors = counts.get("errors") or counts.get("failed") or None
        params = {
            "id": run_id,
            "finished_at": _timestamp(finished_at),
            "status": status,
            "counts": _json(counts),
            "errors": _json(errors) if errors else None,
        }
        with self._write() as conn:
            updated = conn.execute(Q.FINISH_RUN, params).rowcount
        if updated != 1:
            raise DatabaseError(f"SQLite database {self.path}: no crawl run with id {run_id}")

    def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(Q.RECENT_RUNS, {"limit": limit_per_source}).fetchall()
        return [{**dict(row), "counts": json.loads(row["counts"] or "{}")} for row in rows]

    # -- caches of the discovery channels ---------------------------------------------

    def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(article_ids))
        if not wanted:
            return {}
        with self._read() as conn:
            rows = conn.execute(Q.RESOLVED_GNEWS, {"gnews_ids": json.dumps(wanted)}).fetchall()
        return {gnews_id: url for gnews_id, url in rows}

    def save_gnews(self, resolved: dict[str, str]) -> None:
        if not resolved:
            return
        now = _now()
        params = [{"gnews_id": k, "url": v, "now": now} for k, v in sorted(resolved.items())]
        with self._write() as conn:
            conn.executemany(Q.SAVE_GNEWS, params)

    def feed_validators(self, url: str) -> FeedValidators | None:
        with self._read() as conn:
            row = conn.execute(Q.FEED_VALIDATORS, {"url": url}).fetchone()
        return FeedValidators(row[0], row[1], row[2]) if row else None

    def save_feed_validators(self, validators: FeedValidators) -> None:
        params = {
            "url": validators.url,
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "now": _now(),
        }
        with self._write() as conn:
            conn.execute(Q.SAVE_FEED_VALIDATORS, params)

    # -- identities (issue 8) ---------------------------------------------------------

    def save_aliases(self, records: Sequence[AliasRecord]) -> None:
        insert_each_apart(partial(self._insert_links, Q.SAVE_ALIAS), records, alias_row)

    def aliases(self) -> dict[str, str]:
        return self._links(Q.ALIASES)

    def save_claims(self, records: Sequence[ClaimRecord]) -> None:
        insert_each_apart(partial(self._insert_links, Q.SAVE_CLAIM), records, claim_row)

    def claims(self) -> dict[str, str]:
        return self._links(Q.CLAIMS)

    def _insert_links(self, query: str, records: Sequence[AliasRecord | ClaimRecord]) -> None:
        """Rows of a table that ties a URL (keyed by its id) to a stored article."""
        if not records:
            return
        params = [
            {
                "url_id": article_id(r.url),
                "url": r.url,
                "article_id": r.article_id,
                "created_at": _timestamp(r.created_at),
            }
            for r in records
        ]
        with self._write() as conn:
            conn.executemany(query, params)

    def _links(self, query: str) -> dict[str, str]:
        with self._read() as conn:
            rows = conn.execute(query).fetchall()
        return {url: target for url, target in rows}

    def stored_identities(self) -> Iterator[StoredIdentity]:
        reader = self._connect()
        try:
            cursor = reader.execute(Q.STORED_IDENTITIES)
            while rows := cursor.fetchmany(500):
                yield from (StoredIdentity(*row) for row in rows)
        except sqlite3.Error as exc:
            raise DatabaseError(self._describe(exc)) from None
        finally:
            reader.close()

    def forget_articles(self, ids: Sequence[str]) -> int:
        wanted = {"ids": json.dumps(sorted(set(ids)))}
        with self._write() as conn:
            conn.execute(Q.FORGET_DISCOVERIES, wanted)
            deleted = conn.execute(Q.FORGET_ARTICLES, wanted).rowcount
            conn.execute(Q.FORGET_FEED_VALIDATORS)
        return int(deleted)

    def rekey_article(self, old_id: str, url: str, file_path: str, content_hash: str) -> None:
        params = {
            "old_id": old_id,
            "new_id": article_id(url),
            "url": url,
            "file_path": file_path,
            "content_hash": content_hash,
            "now": _now(),
        }
        with self._write() as conn:
            if conn.execute(Q.REKEY_ARTICLE, params).rowcount != 1:
                raise DatabaseError(f"SQLite database {self.path}: no article with id {old_id}")
            for query in (Q.REKEY_VERSIONS, Q.REKEY_ALIASES, Q.REKEY_CLAIMS, Q.REKEY_DISCOVERIES):
                conn.execute(query, params)
            conn.execute(Q.DELETE_ARTICLE, params)

    # -- files and rows level (issue 11) ----------------------------------------------

    def count_articles(self) -> int:
        with self._read() as conn:
            return int(conn.execute(Q.COUNT_ARTICLES).fetchone()[0])

    def article_ids(self) -> Iterator[str]:
        reader = self._connect()
        try:
            cursor = reader.execute(Q.ARTICLE_IDS)
            while rows := cursor.fetchmany(5000):
                yield from (row[0] for row in rows)
        except sqlite3.Error as exc:
            raise DatabaseError(self._describe(exc)) from None
        finally:
            reader.close()

    def articles_by_id(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        with self._read() as conn:
            rows = conn.execute(Q.ARTICLES_BY_ID, {"ids": json.dumps(wanted)}).fetchall()
        return [_article_row(row) for row in rows]

    def set_file_paths(self, paths: Mapping[str, str]) -> None:
        if not paths:
            return
        params = [{"id": key, "file_path": value} for key, value in sorted(paths.items())]
        with self._write() as conn:
            conn.executemany(Q.SET_FILE_PATH, params)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL mode (a no-op once it is). The switch needs the file to
    itself for a moment, and SQLite answers "locked" at once, without the busy timeout,
    when another process opens the same new database then: wait and retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            conn.execute(Q.WAL)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def split_statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one by one. (``executescript`` would commit the
    open transaction first, and migrations must run inside it.)"""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    leftover = "\n".join(
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if leftover:
        raise DatabaseError(
            f"incomplete SQL statement at the end of a migration: {leftover[:60]!r}"
        )


def _schema_version(conn: sqlite3.Connection) -> int:
    if not conn.execute(Q.SCHEMA_VERSION_EXISTS).fetchone()[0]:
        return 0
    return int(conn.execute(Q.SCHEMA_VERSION).fetchone()[0])


def _article_params(record: ArticleRecord, now: str) -> dict[str, Any]:
    doc = record.document
    return {
        "id": doc.id,
        "url": doc.url,
        "title": doc.title,
        "published_at": _timestamp(doc.published, "seconds"),
        "type": doc.type,
        "source_id": record.source_id,
        "source_name": doc.source_name,
        "source_url": doc.source_url,
        "language": doc.language,
        "aggregator": doc.aggregator,
        "content": doc.content,
        "content_hash": record.content_hash,
        "file_path": record.file_path,
        "published_original": doc.published_original,
        "date_source": doc.date_source,
        "has_metadata": doc.has_page_metadata,
        "authors": _json_list(doc.authors),
        "description": doc.description,
        "image_url": doc.image_url,
        "modified_at": _timestamp(doc.modified_at, "seconds") if doc.modified_at else None,
        "section": doc.section,
        "tags": _json_list(doc.tags),
        "now": now,
    }


def _json_list(values: tuple[str, ...] | None) -> str | None:
    """A JSON array in its given order (``_json`` would sort a dict, not a list)."""
    return None if values is None else json.dumps(list(values), ensure_ascii=False)


def _whole_seconds(moment: datetime | None) -> str | None:
    """A bound on ``published_at`` (stored to the second) as its text, a fraction of a
    second rounded up: ``published_at >= t`` and ``< t`` then hold as they do for times."""
    if moment is None:
        return None
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return _timestamp(moment, "seconds")


def _article_row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(zip(row.keys(), row, strict=True))
    for column in _TIMESTAMP_COLUMNS:
        if column in data and data[column] is not None:
            data[column] = _datetime(data[column])
    for column in _JSON_COLUMNS:
        if column in data and data[column] is not None:
            data[column] = json.loads(data[column])
    return data


def _now() -> str:
    return _timestamp(datetime.now(UTC))


def _timestamp(moment: datetime, timespec: str = "microseconds") -> str:
    """UTC ISO 8601 text of a fixed width per column, so text order is time order and a
    value read back compares equal to the stored one."""
    if moment.utcoffset() is None:
        raise ValueError("timestamps must carry a time zone")
    return moment.astimezone(UTC).isoformat(timespec=timespec)


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
