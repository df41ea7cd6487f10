"""The PostgreSQL backend (psycopg 3 with a connection pool).

Every SQL statement this backend runs is one of the named queries of ``Q`` below
(the schema itself lives in ``migrations/postgres``). Writes go in batches: one
transaction and one pipelined ``executemany`` per batch, never a commit per row.

Whether an article is new, updated or unchanged is decided by PostgreSQL itself:
the upsert only touches a row whose ``content_hash`` differs, so unchanged rows are not
rewritten (no new row version, ``updated_at`` stays; the one exception is an unchanged
row that gets the date's provenance it lacked), and ``xmax = 0`` in ``RETURNING``
tells an inserted row from an updated one. Triggers keep the previous version of an
updated article in ``article_versions`` and send ``NOTIFY scraper_articles, '<id>'``
for every new one.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Final

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

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

NOTIFY_CHANNEL: Final = "scraper_articles"
SAVE_ATTEMPTS: Final = 3
_INSERT_RACES: Final = (errors.UniqueViolation, errors.ExclusionViolation)
# Any fixed number works; it only has to be the same for every scraper process.
MIGRATION_LOCK_KEY: Final = 0x5C4A9E12
ARTICLE_COLUMNS: Final = (
    "id, url, title, published_at, published_original, date_source, type, source_id, "
    "source_name, source_url, language, aggregator, content, content_hash, file_path, "
    "first_seen_at, updated_at, authors, description, image_url, modified_at, section, tags"
)


class Q:
    """The named queries of this backend: all of its SQL, in one place."""

    LOCK_MIGRATIONS: Final = "SELECT pg_advisory_xact_lock(%(key)s)"
    SCHEMA_VERSION_EXISTS: Final = "SELECT to_regclass('schema_version') IS NOT NULL"
    SCHEMA_VERSION: Final = "SELECT coalesce(max(version), 0) FROM schema_version"
    RECORD_MIGRATION: Final = (
        "INSERT INTO schema_version (version, name) VALUES (%(version)s, %(name)s)"
    )
    SET_UTC: Final = "SET TIME ZONE 'UTC'"

    KNOWN_URLS: Final = "SELECT url, updated_at FROM articles WHERE id = ANY(%(ids)s)"
    CONTENT_HASHES: Final = "SELECT id, content_hash FROM articles WHERE id = ANY(%(ids)s)"
    # NOT EXISTS skips an unchanged article before the row is even built: building it
    # computes the full-text vector, the main cost of a row. ON CONFLICT ... WHERE still
    # decides for rows that a concurrent transaction inserted or changed meanwhile.
    # A new source_id of '' (unknown, e.g. `scraper db sync`) keeps the stored one, and
    # so does a record without any provenance (read back from its file) keep the stored
    # published_original and date_source: the pair is replaced together or not at all.
    # The page's metadata likewise, as one group (has_metadata: whether the record knows
    # it; when it does not, its six values are NULL).
    UPSERT_ARTICLE: Final = """
        INSERT INTO articles AS a (
            id, url, title, published_at, type, source_id, source_name, source_url,
            language, aggregator, content, content_hash, file_path, published_original,
            date_source, authors, description, image_url, modified_at, section, tags)
        SELECT
            %(id)s, %(url)s, %(title)s, %(published_at)s, %(type)s, %(source_id)s,
            %(source_name)s, %(source_url)s, %(language)s, %(aggregator)s, %(content)s,
            %(content_hash)s, %(file_path)s, %(published_original)s::text,
            %(date_source)s::text, %(authors)s::jsonb, %(description)s::text,
            %(image_url)s::text, %(modified_at)s::timestamptz, %(section)s::text,
            %(tags)s::jsonb
        WHERE NOT EXISTS (
            SELECT FROM articles WHERE id = %(id)s AND content_hash = %(content_hash)s)
        ON CONFLICT (id) DO UPDATE SET
            url = EXCLUDED.url,
            title = EXCLUDED.title,
            published_at = EXCLUDED.published_at,
            type = EXCLUDED.type,
            source_id = coalesce(nullif(EXCLUDED.source_id, ''), a.source_id),
            source_name = EXCLUDED.source_name,
            source_url = EXCLUDED.source_url,
            language = EXCLUDED.language,
            aggregator = EXCLUDED.aggregator,
            content = EXCLUDED.content,
            content_hash = EXCLUDED.content_hash,
            file_path = EXCLUDED.file_path,
            updated_at = now(),
            published_original = CASE
                WHEN EXCLUDED.published_original IS NULL AND EXCLUDED.date_source IS NULL
                THEN a.published_original ELSE EXCLUDED.published_original END,
            date_source = CASE
                WHEN EXCLUDED.published_original IS NULL AND EXCLUDED.date_source IS NULL
                THEN a.date_source ELSE EXCLUDED.date_source END,
            authors = CASE WHEN %(has_metadata)s THEN EXCLUDED.authors ELSE a.authors END,
            description = CASE
                WHEN %(has_metadata)s THEN EXCLUDED.description ELSE a.description END,
            image_url = CASE WHEN %(has_metadata)s THEN EXCLUDED.image_url ELSE a.image_url END,
            modified_at = CASE
                WHEN %(has_metadata)s THEN EXCLUDED.modified_at ELSE a.modified_at END,
            section = CASE WHEN %(has_metadata)s THEN EXCLUDED.section ELSE a.section END,
            tags = CASE WHEN %(has_metadata)s THEN EXCLUDED.tags ELSE a.tags END
        WHERE a.content_hash IS DISTINCT FROM EXCLUDED.content_hash
        RETURNING (xmax = 0) AS inserted
    """
    # An unchanged article whose row has no provenance yet (stored before schema 2, or
    # by `scraper db sync`) gets it; the row is otherwise left as it is (updated_at too).
    FILL_PROVENANCE: Final = """
        UPDATE articles
        SET published_original = %(published_original)s::text, date_source = %(date_source)s::text
        WHERE id = %(id)s AND content_hash = %(content_hash)s
          AND published_original IS NULL AND date_source IS NULL
    """
    # Likewise the page's metadata (issue 11), for a row stored before schema 4 or from
    # its file: all six columns NULL.
    FILL_METADATA: Final = """
        UPDATE articles SET
            authors = %(authors)s::jsonb, description = %(description)s::text,
            image_url = %(image_url)s::text, modified_at = %(modified_at)s::timestamptz,
            section = %(section)s::text, tags = %(tags)s::jsonb
        WHERE id = %(id)s AND content_hash = %(content_hash)s
          AND authors IS NULL AND description IS NULL AND image_url IS NULL
          AND modified_at IS NULL AND section IS NULL AND tags IS NULL
    """
    RECORD_DISCOVERY: Final = """
        INSERT INTO discoveries (url, article_id, source_id, channel, aggregator, discovered_at)
        VALUES (%(url)s, %(article_id)s, %(source_id)s, %(channel)s, %(aggregator)s,
                %(discovered_at)s)
        ON CONFLICT ON CONSTRAINT discoveries_once DO NOTHING
    """
    START_RUN: Final = (
        "INSERT INTO crawl_runs (source_id, started_at, worker, job_id) "
        "VALUES (%(source_id)s, %(started_at)s, %(worker)s, %(job_id)s) RETURNING id"
    )
    RUNNING_RUNS: Final = (
        "SELECT id, source_id, started_at, worker, job_id FROM crawl_runs "
        "WHERE status = 'running' ORDER BY started_at, id"
    )
    FINISH_RUN: Final = """
        UPDATE crawl_runs
        SET finished_at = %(finished_at)s, status = %(status)s, counts = %(counts)s,
            errors = %(errors)s
        WHERE id = %(id)s
    """
    RECENT_RUNS: Final = """
        SELECT id, source_id, started_at, finished_at, status, counts, worker FROM (
            SELECT id, source_id, started_at, finished_at, status, counts, worker,
                   row_number() OVER (
                       PARTITION BY source_id ORDER BY started_at DESC, id DESC) AS n
            FROM crawl_runs) AS ranked
        WHERE n <= %(limit)s ORDER BY source_id, started_at DESC, id DESC
    """
    RESOLVED_GNEWS: Final = (
        "SELECT gnews_id, url FROM gnews_links WHERE gnews_id = ANY(%(gnews_ids)s)"
    )
    SAVE_GNEWS: Final = """
        INSERT INTO gnews_links (gnews_id, url) VALUES (%(gnews_id)s, %(url)s)
        ON CONFLICT (gnews_id) DO UPDATE SET url = EXCLUDED.url, resolved_at = now()
    """
    FEED_VALIDATORS: Final = (
        "SELECT url, etag, last_modified FROM feed_validators WHERE url = %(url)s"
    )
    SAVE_FEED_VALIDATORS: Final = """
        INSERT INTO feed_validators (url, etag, last_modified)
        VALUES (%(url)s, %(etag)s, %(last_modified)s)
        ON CONFLICT (url) DO UPDATE SET
            etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, checked_at = now()
    """
    # (since, after_id) is a keyset cursor: rows strictly after that (updated_at, id).
    ARTICLES_SINCE: Final = f"""
        SELECT {ARTICLE_COLUMNS} FROM articles
        WHERE updated_at >= coalesce(%(since)s::timestamptz, '-infinity')
          AND (%(after_id)s::text IS NULL
               OR (updated_at, id) > (%(since)s::timestamptz, %(after_id)s::text))
          AND (%(source_id)s::text IS NULL OR source_id = %(source_id)s::text)
          AND (%(published_since)s::timestamptz IS NULL
               OR published_at >= %(published_since)s::timestamptz)
          AND (%(published_before)s::timestamptz IS NULL
               OR published_at < %(published_before)s::timestamptz)
          AND (%(language)s::text IS NULL OR language = %(language)s::text)
        ORDER BY updated_at, id
        LIMIT %(limit)s::bigint
    """
    SOURCE_IDS: Final = """
        SELECT source_id FROM articles WHERE source_id <> ''
        UNION SELECT source_id FROM crawl_runs
        ORDER BY 1
    """
    SEARCH: Final = f"""
        SELECT {ARTICLE_COLUMNS}, ts_rank(search_vector, query) AS rank
        FROM articles, websearch_to_tsquery('simple', %(query)s) AS query
        WHERE search_vector @@ query
        ORDER BY rank DESC, published_at DESC, id
        LIMIT %(limit)s
    """

    # -- identities (issue 8) ---------------------------------------------------------
    # An alias is kept only for a stored article, and never for a URL that is itself one.
    SAVE_ALIAS: Final = """
        INSERT INTO article_aliases (alias_id, url, article_id, created_at)
        SELECT %(url_id)s, %(url)s, %(article_id)s, %(created_at)s
        WHERE EXISTS (SELECT FROM articles WHERE id = %(article_id)s)
          AND NOT EXISTS (SELECT FROM articles WHERE id = %(url_id)s)
        ON CONFLICT (alias_id) DO UPDATE SET url = EXCLUDED.url, article_id = EXCLUDED.article_id
    """
    ALIASES: Final = "SELECT url, article_id FROM article_aliases"
    SAVE_CLAIM: Final = """
        INSERT INTO canonical_claims (claim_id, url, article_id, created_at)
        SELECT %(url_id)s, %(url)s, %(article_id)s, %(created_at)s
        WHERE EXISTS (SELECT FROM articles WHERE id = %(article_id)s)
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
    FORGET_DISCOVERIES: Final = "DELETE FROM discoveries WHERE article_id = ANY(%(ids)s)"
    FORGET_ARTICLES: Final = "DELETE FROM articles WHERE id = ANY(%(ids)s)"
    FORGET_FEED_VALIDATORS: Final = "DELETE FROM feed_validators"
    REKEY_ARTICLE: Final = """
        INSERT INTO articles (
            id, url, title, published_at, type, source_id, source_name, source_url,
            language, aggregator, content, content_hash, file_path, first_seen_at, updated_at,
            published_original, date_source, authors, description, image_url, modified_at,
            section, tags)
        SELECT
            %(new_id)s, %(url)s, title, published_at, type, source_id, source_name,
            source_url, language, aggregator, content, %(content_hash)s, %(file_path)s,
            first_seen_at, now(), published_original, date_source, authors, description,
            image_url, modified_at, section, tags
        FROM articles WHERE id = %(old_id)s
    """
    REKEY_VERSIONS: Final = (
        "UPDATE article_versions SET article_id = %(new_id)s WHERE article_id = %(old_id)s"
    )
    REKEY_ALIASES: Final = (
        "UPDATE article_aliases SET article_id = %(new_id)s WHERE article_id = %(old_id)s"
    )
    REKEY_CLAIMS: Final = (
        "UPDATE canonical_claims SET article_id = %(new_id)s WHERE article_id = %(old_id)s"
    )
    REKEY_DISCOVERIES: Final = (
        "UPDATE discoveries SET article_id = %(new_id)s, url = %(url)s "
        "WHERE article_id = %(old_id)s"
    )
    DELETE_ARTICLE: Final = "DELETE FROM articles WHERE id = %(old_id)s"

    # -- files and rows level (issue 11) ----------------------------------------------
    COUNT_ARTICLES: Final = "SELECT count(*) FROM articles"
    ARTICLE_IDS: Final = "SELECT id FROM articles ORDER BY id"
    ARTICLES_BY_ID: Final = (
        f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ANY(%(ids)s) ORDER BY id"
    )
    SET_FILE_PATH: Final = "UPDATE articles SET file_path = %(file_path)s WHERE id = %(id)s"


class PostgresDatabase:
    """``scraper.storage.base.Database`` on PostgreSQL.

    ``dsn`` is a libpq URL or key=value string. The connection is tried once at
    construction, so a wrong password, a missing database or a server that is down is
    reported at once, as a DatabaseError with a one-line message."""

    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 10.0
    ) -> None:
        self._dsn = dsn
        self._where = describe_target(dsn)
        self._secret = _password(dsn)
        self._timeout = timeout
        self._probe()
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=_configure,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, int(timeout)), "application_name": "news-scraper"},
            name="scraper",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise DatabaseError(
                f"PostgreSQL {self._where}: no connection within {timeout}s"
            ) from exc

    # -- plumbing ---------------------------------------------------------------------

    def _probe(self) -> None:
        """One direct connection: libpq's own reason when it fails, not a pool timeout."""
        try:
            with psycopg.connect(self._dsn, connect_timeout=max(1, int(self._timeout))):
                pass
        except psycopg.Error as exc:
            raise DatabaseError(self._describe(exc)) from None

    def _describe(self, exc: BaseException) -> str:
        message = describe_error(exc, self._where)
        return message.replace(self._secret, "***") if self._secret else message

    @contextlib.contextmanager
    def _transaction(
        self, passthrough: tuple[type[psycopg.Error], ...] = ()
    ) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a transaction, committed when the block ends.

        psycopg errors become one-line DatabaseErrors, except ``passthrough`` ones."""
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                yield conn
        except PoolTimeout:
            # The pool only says it waited; a direct connection says why.
            self._probe()
            raise DatabaseError(
                f"PostgreSQL {self._where}: no free connection within {self._timeout}s"
            ) from None
        except passthrough:
            raise
        except psycopg.Error as exc:
            error = RowRefused if _refuses_a_row(exc) else DatabaseError
            raise error(self._describe(exc)) from None

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply pending migrations in one transaction; return the schema version.

        The advisory lock makes crawls and daemons that start together take turns: the
        first applies the migrations, the others then find nothing left to do."""
        known = migrations.load_migrations("postgres")
        with self._transaction() as conn:
            conn.execute(Q.LOCK_MIGRATIONS, {"key": MIGRATION_LOCK_KEY})
            current = self._schema_version(conn)
            todo = migrations.pending(known, current)
            for migration in todo:
                # A migration file holds several statements: run it as one simple query.
                conn.execute(migration.sql.encode("utf-8"))
                conn.execute(
                    Q.RECORD_MIGRATION, {"version": migration.version, "name": migration.name}
                )
            return todo[-1].version if todo else current

    def schema_version(self) -> int:
        with self._transaction() as conn:
            return self._schema_version(conn)

    @staticmethod
    def _schema_version(conn: psycopg.Connection[Any]) -> int:
        exists = conn.execute(Q.SCHEMA_VERSION_EXISTS).fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute(Q.SCHEMA_VERSION).fetchone()
        return int(row[0]) if row else 0

    # -- articles ---------------------------------------------------------------------

    def known_urls(self, urls: Iterable[str]) -> dict[str, datetime]:
        wanted = set(urls)
        if not wanted:
            return {}
        ids = sorted({article_id(url) for url in wanted})
        with self._transaction() as conn:
            rows = conn.execute(Q.KNOWN_URLS, {"ids": ids}).fetchall()
        return {url: updated for url, updated in rows if url in wanted}

    def content_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """The stored content_hash of each of ``ids`` that has a row."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self._transaction() as conn:
            rows = conn.execute(Q.CONTENT_HASHES, {"ids": wanted}).fetchall()
        return {row_id: digest for row_id, digest in rows}

    def save_articles(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
        """Upsert a batch in one transaction; statuses come back in the order given."""
        if not records:
            return []
        return each_row_apart(self._save_racing, records, "refused", article_row)

    def _save_racing(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                return self._save_batch(records)
            except _INSERT_RACES as exc:
                # Two transactions inserted the same new article at once; ON CONFLICT
                # settles that on the primary key, but the URL constraint checked in the
                # same instant fails instead. The other row is committed now, so the
                # retried batch updates it, or finds it unchanged.
                if attempt == SAVE_ATTEMPTS:
                    raise DatabaseError(self._describe(exc)) from None
        raise AssertionError("unreachable")

    def _save_batch(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
        # Rows are locked in id order in every transaction, so two crawls saving
        # overlapping batches wait for each other instead of deadlocking.
        order = sorted(range(len(records)), key=lambda i: records[i].document.id)
        statuses: list[RowStatus] = ["unchanged"] * len(records)
        with self._transaction(_INSERT_RACES) as conn, conn.cursor() as cur:
            params = [_article_params(records[i]) for i in order]
            cur.executemany(Q.UPSERT_ARTICLE, params, returning=True)
            for i in order:
                row = cur.fetchone()
                if row is not None:
                    statuses[i] = "new" if row[0] else "updated"
                cur.nextset()
            # Unchanged rows get what they lack and the record has: provenance, metadata.
            for has_it, fill_query in (
                (has_provenance, Q.FILL_PROVENANCE),
                (has_page_metadata, Q.FILL_METADATA),
            ):
                fill = [
                    params[n]
                    for n, i in enumerate(order)
                    if statuses[i] == "unchanged" and has_it(records[i])
                ]
                if fill:
                    cur.executemany(fill_query, fill)
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
        Streams through a server-side cursor: constant memory."""
        params = _since_params(since, source_id, after_id)
        for name, moment in (
            ("published_since", published_since),
            ("published_before", published_before),
        ):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must carry a time zone")
        params.update(
            published_since=published_since,
            published_before=published_before,
            language=language,
            limit=limit,
        )
        cursor_name = f"scraper_articles_{secrets.token_hex(4)}"
        with self._transaction() as conn, conn.cursor(cursor_name, row_factory=dict_row) as cur:
            cur.itersize = 500
            cur.execute(Q.ARTICLES_SINCE, params)
            yield from cur

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Full-text search over title and content (web-search syntax: words,
        "quoted phrases", -excluded, OR), best match first, each row with its ``rank``."""
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(Q.SEARCH, {"query": query, "limit": limit})
            return cur.fetchall()

    def source_ids(self) -> list[str]:
        with self._transaction() as conn:
            return [str(row[0]) for row in conn.execute(Q.SOURCE_IDS).fetchall()]

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
                "discovered_at": r.discovered_at,
            }
            for r in records
        ]
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(Q.RECORD_DISCOVERY, params)

    def start_run(
        self,
        source_id: str,
        started_at: datetime,
        worker: str | None = None,
        job_id: int | None = None,
    ) -> int:
        params = {
            "source_id": source_id,
            "started_at": started_at,
            "worker": worker,
            "job_id": job_id,
        }
        with self._transaction() as conn:
            row = conn.execute(Q.START_RUN, params).fetchone()
        assert row is not None
        return int(row[0])

    def running_runs(self) -> list[dict[str, Any]]:
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(Q.RUNNING_RUNS)
            return cur.fetchall()

    def finish_run(
        self, run_id: int, finished_at: datetime, status: str, counts: dict[str, Any]
    ) -> None:
        """Record the end of a run. ``errors`` holds ``counts["errors"]`` when given
        (e.g. a fatal error message), else the failures by reason, else NULL."""
        dumps = partial(json.dumps, default=str, ensure_ascii=False)
        params = {
            "id": run_id,
            "finished_at": finished_at,
            "status": status,
            "counts": Jsonb(counts, dumps),
            "errors": Jsonb(errors, dumps) if (errors := run_errors(counts)) else None,
        }
        with self._transaction() as conn:
            updated = conn.execute(Q.FINISH_RUN, params).rowcount
        if updated != 1:
            raise DatabaseError(f"PostgreSQL {self._where}: no crawl run with id {run_id}")

    def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(Q.RECENT_RUNS, {"limit": limit_per_source})
            return cur.fetchall()

    # -- caches of the discovery channels ---------------------------------------------

    def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(article_ids))
        if not wanted:
            return {}
        with self._transaction() as conn:
            rows = conn.execute(Q.RESOLVED_GNEWS, {"gnews_ids": wanted}).fetchall()
        return {gnews_id: url for gnews_id, url in rows}

    def save_gnews(self, resolved: dict[str, str]) -> None:
        if not resolved:
            return
        params = [{"gnews_id": k, "url": v} for k, v in sorted(resolved.items())]
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(Q.SAVE_GNEWS, params)

    def feed_validators(self, url: str) -> FeedValidators | None:
        with self._transaction() as conn:
            row = conn.execute(Q.FEED_VALIDATORS, {"url": url}).fetchone()
        return FeedValidators(*row) if row else None

    def save_feed_validators(self, validators: FeedValidators) -> None:
        params = {
            "url": validators.url,
            "etag": validators.etag,
            "last_modified": validators.last_modified,
        }
        with self._transaction() as conn:
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
                "created_at": r.created_at,
            }
            for r in records
        ]
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(query, params)

    def _links(self, query: str) -> dict[str, str]:
        with self._transaction() as conn:
            rows = conn.execute(query).fetchall()
        return {url: target for url, target in rows}

    def stored_identities(self) -> Iterator[StoredIdentity]:
        cursor_name = f"scraper_identities_{secrets.token_hex(4)}"
        with self._transaction() as conn, conn.cursor(cursor_name) as cur:
            cur.itersize = 500
            cur.execute(Q.STORED_IDENTITIES)
            for row in cur:
                yield StoredIdentity(*row)

    def forget_articles(self, ids: Sequence[str]) -> int:
        wanted = {"ids": sorted(set(ids))}
        with self._transaction() as conn:
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
        }
        with self._transaction() as conn:
            if conn.execute(Q.REKEY_ARTICLE, params).rowcount != 1:
                raise DatabaseError(f"PostgreSQL {self._where}: no article with id {old_id}")
            for query in (Q.REKEY_VERSIONS, Q.REKEY_ALIASES, Q.REKEY_CLAIMS, Q.REKEY_DISCOVERIES):
                conn.execute(query, params)
            conn.execute(Q.DELETE_ARTICLE, params)

    # -- files and rows level (issue 11) ----------------------------------------------

    def count_articles(self) -> int:
        with self._transaction() as conn:
            row = conn.execute(Q.COUNT_ARTICLES).fetchone()
        return int(row[0]) if row else 0

    def article_ids(self) -> Iterator[str]:
        cursor_name = f"scraper_ids_{secrets.token_hex(4)}"
        with self._transaction() as conn, conn.cursor(cursor_name) as cur:
            cur.itersize = 5000
            cur.execute(Q.ARTICLE_IDS)
            for row in cur:
                yield str(row[0])

    def articles_by_id(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(Q.ARTICLES_BY_ID, {"ids": wanted})
            return cur.fetchall()

    def set_file_paths(self, paths: Mapping[str, str]) -> None:
        if not paths:
            return
        params = [{"id": key, "file_path": value} for key, value in sorted(paths.items())]
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(Q.SET_FILE_PATH, params)


def run_errors(counts: dict[str, Any]) -> Any:
    """What goes into crawl_runs.errors for a run's counts (None when nothing failed)."""
    return counts.get("errors") or counts.get("failed") or None


def _configure(conn: psycopg.Connection[Any]) -> None:
    # Timestamps come back in UTC whatever the server's default time zone is.
    conn.execute(Q.SET_UTC)
    conn.commit()


def _article_params(record: ArticleRecord) -> dict[str, Any]:
    doc = record.document
    return {
        "id": doc.id,
        "url": doc.url,
        "title": doc.title,
        "published_at": doc.published,
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
        "authors": Jsonb(list(doc.authors)) if doc.authors is not None else None,
        "description": doc.description,
        "image_url": doc.image_url,
        "modified_at": doc.modified_at,
        "section": doc.section,
        "tags": Jsonb(list(doc.tags)) if doc.tags is not None else None,
    }


def _since_params(
    since: datetime | None, source_id: str | None, after_id: str | None
) -> dict[str, Any]:
    if after_id is not None and since is None:
        raise ValueError("after_id needs since: pass the updated_at and id of the last row read")
    if since is not None and since.utcoffset() is None:
        raise ValueError("since must carry a time zone")
    return {"since": since, "after_id": after_id, "source_id": source_id}


# -- one-line error messages ----------------------------------------------------------

_KNOWN_PROBLEMS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (
        re.compile(r'password authentication failed for user "([^"]*)"'),
        "wrong password for user {0}",
    ),
    (re.compile(r"no password supplied"), "the server wants a password and none was given"),
    (re.compile(r'database "([^"]*)" does not exist'), "database {0} does not exist"),
    (re.compile(r'role "([^"]*)" does not exist'), "user {0} does not exist"),
    (re.compile(r"Connection refused"), "connection refused (is the server running?)"),
    (re.compile(r"could not translate host name"), "unknown host name"),
    (re.compile(r"timeout expired"), "connection timed out"),
    (
        re.compile(
            r"terminating connection|server closed the connection|connection is lost"
            r"|consuming input failed|connection already closed|the connection is closed"
        ),
        "connection lost (the server closed it or restarted)",
    ),
)


# 'connection failed: connection to server at "h" (1.2.3.4), port 5432 failed: FATAL:  '
_LIBPQ_PREFIX: Final = re.compile(
    r"^(?:connection failed: )?(?:connection to server .*? failed: )?(?:(?:FATAL|ERROR): +)?"
)


# SQLSTATE classes of errors that come from what a row holds: data exceptions (a value
# the type cannot hold), integrity constraint violations, program limits (a search
# vector or an index entry too large).
_ROW_ERROR_CLASSES: Final = ("22", "23", "54")


def _refuses_a_row(exc: psycopg.Error) -> bool:
    """Whether ``exc`` is about a row's content, not the server or the connection.
    psycopg raises DataError itself, without a SQLSTATE, for a NUL in text."""
    return isinstance(exc, psycopg.DataError) or (exc.sqlstate or "")[:2] in _ROW_ERROR_CLASSES


def describe_target(dsn: str) -> str:
    """``at host:port/dbname`` for messages: never the password."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise DatabaseError("invalid PostgreSQL URL (check its syntax)") from None
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    port = str(info.get("port") or 5432)
    dbname = str(info.get("dbname") or info.get("user") or "")
    return f"at {host}:{port}/{dbname}"


def _password(dsn: str) -> str | None:
    try:
        secret = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return None
    return str(secret) if secret else None


def describe_error(exc: BaseException, where: str) -> str:
    """A one-line message naming the problem, without libpq's hints or a traceback."""
    text = " ".join(str(exc).split())
    for pattern, template in _KNOWN_PROBLEMS:
        match = pattern.search(text)
        if match:
            return f"PostgreSQL {where}: {template.format(*match.groups())}"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = _LIBPQ_PREFIX.sub("", first_line)
    return f"PostgreSQL {where}: {' '.join(reason.split()) or type(exc).__name__}"
