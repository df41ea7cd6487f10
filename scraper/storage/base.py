"""The contract both database backends (PostgreSQL, SQLite) fulfil.

The flat files are the primary copy of every document (scraper.storage.files); the
database is their queryable twin, written in batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from scraper.document import Document

SaveStatus = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class ArticleRecord:
    """A document as stored: the row of ``articles``."""

    document: Document
    source_id: str
    file_path: str
    content_hash: str  # sha256 of the rendered record text


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


class DatabaseError(Exception):
    """The database is unreachable or refused an operation (message is one line)."""


class Database(Protocol):
    def migrate(self) -> int:
        """Apply pending migrations; return the schema version. Refuses a newer schema."""
        ...

    def close(self) -> None: ...

    def known_urls(self, urls: Iterable[str]) -> dict[str, datetime]:
        """Stored article URLs among ``urls`` with their updated_at."""
        ...

    def save_articles(self, records: Sequence[ArticleRecord]) -> list[SaveStatus]:
        """Upsert a batch in one transaction; unchanged hashes leave rows untouched."""
        ...

    def record_discoveries(self, records: Sequence[DiscoveryRecord]) -> None: ...

    def start_run(self, source_id: str, started_at: datetime) -> int: ...

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
    ) -> Iterator[dict[str, Any]]:
        """Stream articles (oldest first) for consumers, in constant memory."""
        ...
