"""The contract both database backends (PostgreSQL, SQLite) fulfil.

The flat files are the primary copy of every document (scraper.storage.files); the
database is their queryable twin, written in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from scraper.document import Document

log = logging.getLogger(__name__)

SaveStatus = Literal["new", "updated", "unchanged"]
# What saving did to an article's row: a SaveStatus, or "refused" when the database
# would not hold that row (see RowRefused).
RowStatus = Literal["new", "updated", "unchanged", "refused"]


@dataclass(frozen=True)
class ArticleRecord:
    """A document as stored: the row of ``articles``."""

    document: Document
    source_id: str
    file_path: str
    content_hash: str  # sha256 of the rendered record text


def has_provenance(record: ArticleRecord) -> bool:
    """Whether the record says where its publication date came from (a document read
    back from its file does not: the record text has no place for it)."""
    doc = record.document
    return doc.published_original is not None or doc.date_source is not None


def has_page_metadata(record: ArticleRecord) -> bool:
    """Whether the record knows what its page said about itself (authors, description,
    image, modification time, section, tags; issue 11): a crawled page does, a document
    read back from its file does not."""
    return record.document.has_page_metadata


@dataclass(frozen=True)
class DiscoveryRecord:
    url: str  # normalized article URL
    source_id: str
    channel: str
    aggregator: str
    discovered_at: datetime


@dataclass(frozen=True)
class FeedValidators:
    """HTTP validators of a discovery document, for conditional GET on the next run."""

    url: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class AliasRecord:
    """Another URL of a stored article: a row of ``article_aliases`` (issue 8)."""

    url: str  # the other URL's identity; alias_id = article_id(url)
    article_id: str  # the stored article it names
    created_at: datetime


@dataclass(frozen=True)
class ClaimRecord:
    """A stored article's claim on the URL its same-site canonical link names, when no
    article was stored there yet: a row of ``canonical_claims``. The page at that URL,
    once fetched and found to be the same article, becomes an alias of the claiming
    article, in whichever process or run fetches it."""

    url: str  # the named URL's identity; claim_id = article_id(url)
    article_id: str  # the stored article whose canonical link named it
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """A crawl run the database did not hear the end of (it was down when the run
    started or ended): journalled, and written to ``crawl_runs`` by the catch-up."""

    source_id: str
    started_at: datetime
    finished_at: datetime
    status: str  # ok, partial, failed
    counts: dict[str, Any]  # the run's summary (CrawlSummary.as_dict)
    worker: str | None = None
    job_id: int | None = None
    run_id: int | None = None  # the row start_run made, when the database was up then


@dataclass(frozen=True)
class StoredIdentity:
    """An ``articles`` row as ``scraper db identities`` judges it."""

    id: str
    url: str
    file_path: str
    titles: int  # distinct titles among the row and its earlier versions
    dates: int  # distinct publication times among them


class DatabaseError(Exception):
    """The database is unreachable or refused an operation (message is one line)."""


class RowRefused(DatabaseError):
    """The database refused a write for what a row holds (a value it cannot store, such
    as a NUL character in PostgreSQL text, a value past a limit, a broken constraint),
    not for being out of reach. Writes of many rows then store them again one at a time
    (``each_row_apart``): one bad row must not cost its batch, nor mark the database
    behind for the rest of a crawl and for every catch-up after it."""


Row = TypeVar("Row")
Outcome = TypeVar("Outcome")


def each_row_apart(
    save: Callable[[Sequence[Row]], Sequence[Outcome]],
    rows: Sequence[Row],
    refused: Outcome,
    name: Callable[[Row], str],
) -> list[Outcome]:
    """``save(rows)`` in one transaction; when the database refuses a row of it, each
    row in a transaction of its own, with ``refused`` (and an error logged with the
    row's ``name``) for each row it still refuses. Other errors are raised."""
    try:
        return list(save(rows))
    except RowRefused as exc:
        if len(rows) == 1:
            log.error("the database refused the row of %s: %s", name(rows[0]), exc)
            return [refused]
    outcomes: list[Outcome] = []
    for row in rows:
        outcomes.extend(each_row_apart(save, [row], refused, name))
    return outcomes


def article_row(record: ArticleRecord) -> str:
    return f"article {record.document.id} ({record.document.url})"


def sighting_row(record: DiscoveryRecord) -> str:
    return f"sighting {record.url} ({record.source_id}, {record.channel})"


def alias_row(record: AliasRecord) -> str:
    return f"alias {record.url} of article {record.article_id}"


def claim_row(record: ClaimRecord) -> str:
    return f"claim of article {record.article_id} on {record.url}"


def insert_each_apart(
    insert: Callable[[Sequence[Row]], None], rows: Sequence[Row], name: Callable[[Row], str]
) -> None:
    """``each_row_apart`` for writes that return nothing: a refused row is logged and
    left out."""

    def inserted(batch: Sequence[Row]) -> list[bool]:
        insert(batch)
        return [True] * len(batch)

    each_row_apart(inserted, rows, False, name)


class Database(Protocol):
    def migrate(self) -> int:
        """Apply pending migrations; return the schema version. Refuses a newer schema."""
        ...

    def schema_version(self) -> int:
        """The schema version the database is at (0: no schema yet); changes nothing."""
        ...

    def close(self) -> None: ...

    def known_urls(self, urls: Iterable[str]) -> dict[str, datetime]:
        """Stored article URLs among ``urls`` with their updated_at."""
        ...

    def save_articles(self, records: Sequence[ArticleRecord]) -> list[RowStatus]:
        """Upsert a batch in one transaction; unchanged hashes leave rows untouched. A
        row the database refuses (RowRefused) is "refused" and costs only itself.

        The date's provenance (``published_original``, ``date_source``) is stored with
        new and changed rows; a record without any keeps the stored pair. An unchanged
        row only gets a provenance when it has none yet (updated_at stays). The page's
        metadata (authors ... tags) goes the same way, as one group."""
        ...

    def record_discoveries(self, records: Sequence[DiscoveryRecord]) -> None:
        """Insert sightings in one transaction; one the database refuses (RowRefused)
        is logged and left out."""
        ...

    def start_run(
        self,
        source_id: str,
        started_at: datetime,
        worker: str | None = None,
        job_id: int | None = None,
    ) -> int:
        """A crawl_runs row, status running. ``worker`` is the process (``host:pid``),
        ``job_id`` the job engine's job in a fleet (scraper.fleet)."""
        ...

    def running_runs(self) -> list[dict[str, Any]]:
        """The rows still ``running`` (id, source_id, started_at, worker, job_id),
        oldest first: in flight, or left behind by a killed process."""
        ...

    def finish_run(
        self, run_id: int, finished_at: datetime, status: str, counts: dict[str, Any]
    ) -> None: ...

    def content_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """The stored content_hash of each of ``ids`` that has a row."""
        ...

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Articles matching ``query``, best first, each row with a ``rank``."""
        ...

    def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
        """The latest ``limit_per_source`` crawl_runs rows of every source (id, source_id,
        started_at, finished_at, status, counts), newest first within a source."""
        ...

    def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]: ...

    def save_gnews(self, resolved: dict[str, str]) -> None: ...

    def feed_validators(self, url: str) -> FeedValidators | None: ...

    def save_feed_validators(self, validators: FeedValidators) -> None: ...

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
        """Stream articles (oldest first) for consumers, in constant memory: dicts with
        the columns of ``articles`` (docs/schema.md) but ``search_vector``; ``authors``
        and ``tags`` as lists, times as aware datetimes.

        ``since``/``after_id`` is the cursor on (updated_at, id); ``published_since``
        (inclusive) and ``published_before`` (exclusive) bound ``published_at``;
        ``language`` and ``source_id`` keep those rows; ``limit`` stops after that many."""
        ...

    def source_ids(self) -> list[str]:
        """Every source id the database knows (of its articles and crawl runs), sorted."""
        ...

    # -- identities (issue 8) ---------------------------------------------------------

    def save_aliases(self, records: Sequence[AliasRecord]) -> None:
        """Insert (or repoint) aliases in one transaction. One whose article has no row,
        or whose URL is itself a stored article's, is skipped; one the database refuses
        is logged and left out."""
        ...

    def aliases(self) -> dict[str, str]:
        """Every alias URL with the id of the article it names."""
        ...

    def save_claims(self, records: Sequence[ClaimRecord]) -> None:
        """Insert canonical claims in one transaction. A URL already claimed keeps its
        first claim; one whose article has no row is skipped; one the database refuses
        is logged and left out."""
        ...

    def claims(self) -> dict[str, str]:
        """Every claimed URL with the id of the article that claimed it."""
        ...

    def stored_identities(self) -> Iterator[StoredIdentity]:
        """Every article row, in id order, with how many different titles and
        publication times it and its earlier versions hold (streamed)."""
        ...

    def forget_articles(self, ids: Sequence[str]) -> int:
        """Delete these rows (their versions and aliases go with them) and their
        discoveries, and every feed validator, so that the next crawl reads every feed
        whole and fetches what they list again. Returns the number of rows deleted."""
        ...

    def rekey_article(self, old_id: str, url: str, file_path: str, content_hash: str) -> None:
        """Move the row ``old_id`` to the identity ``url`` (id = article_id(url)), with
        its new record file and hash: versions, aliases and discoveries follow it, and
        ``updated_at`` is now (readers of "everything since" see it). Raises
        DatabaseError when the row is missing or the new id is taken."""
        ...

    # -- files and rows level (issue 11) ----------------------------------------------

    def count_articles(self) -> int:
        """How many article rows there are (the cheap half of "are files and rows
        level?": scraper.storage.level)."""
        ...

    def article_ids(self) -> Iterator[str]:
        """Every article id, in id order (streamed)."""
        ...

    def articles_by_id(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The rows of these ids that exist, as ``articles_since`` yields them."""
        ...

    def set_file_paths(self, paths: Mapping[str, str]) -> None:
        """Point rows (article id -> record file relative to the output folder) at their
        record file, in one transaction; nothing else of the row changes."""
        ...
