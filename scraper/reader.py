"""Reading what the service stored: the consumer API (stable; see docs/schema.md).

Two sources, same documents:

* the record files, ``<output_dir>/<YYYY-MM-DD>/<NNN>_<id>.txt`` (DESIGN section 2)::

      from scraper.reader import iter_documents
      for doc in iter_documents(Path("data/articles")):
          print(doc.id, doc.published, doc.title)

* the database (PostgreSQL or SQLite), as a resumable stream of changes::

      from scraper.reader import articles_since
      from scraper.storage.open import open_database
      db = open_database(settings)
      for article in articles_since(db, since=checkpoint):
          handle(article.document)
          checkpoint, last_id = article.updated_at, article.id  # resume point

"Since" always means *stored or changed since*: a row's ``updated_at`` in the database,
a file's modification time on disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from scraper.document import Document, DocumentFormatError, parse
from scraper.storage.base import Database
from scraper.storage.files import record_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredArticle:
    """One row of ``articles``: the document and what the database knows about it."""

    document: Document
    source_id: str  # the configured source that stored it ("" when unknown)
    content_hash: str  # sha256 hex of the rendered record text
    file_path: str  # the record file, relative to the output directory
    first_seen_at: datetime  # when the row was first stored (UTC)
    updated_at: datetime  # when its content last changed (UTC); the resume point

    @property
    def id(self) -> str:
        return self.document.id

    @property
    def published_original(self) -> str | None:
        """The publication date as the page or channel stated it (ISO 8601 with its own
        offset, or a bare YYYY-MM-DD); None for rows stored before it was recorded."""
        return self.document.published_original

    @property
    def date_source(self) -> str | None:
        """Which candidate gave the publication date: feed, sitemap, jsonld, meta, time,
        url, text, htmldate or crawl; None when unknown."""
        return self.document.date_source

    # What the page said about itself (schema version 4; None for rows stored before it
    # or from a file, until the article is stored again): see Document.

    @property
    def authors(self) -> tuple[str, ...] | None:
        return self.document.authors

    @property
    def description(self) -> str | None:
        return self.document.description

    @property
    def image_url(self) -> str | None:
        return self.document.image_url

    @property
    def modified_at(self) -> datetime | None:
        return self.document.modified_at

    @property
    def section(self) -> str | None:
        return self.document.section

    @property
    def tags(self) -> tuple[str, ...] | None:
        return self.document.tags


def read_document(path: Path) -> Document:
    """Parse one record file.

    Raises DocumentFormatError when the file is not a record (or not UTF-8) and
    OSError when it cannot be read. The bytes are decoded as they are: a record with
    ``\\r\\n`` line ends is not a record."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentFormatError(f"not UTF-8 (byte {exc.start})") from exc
    return parse(text)


def iter_document_files(
    folder: Path, since: datetime | None = None, unreadable: list[Path] | None = None
) -> Iterator[tuple[Path, Document]]:
    """Every record file under ``folder`` with its document, oldest date folder first,
    then by sequence number; one file at a time (constant memory).

    ``since`` (time-zone aware) keeps the files written at or after that moment (their
    modification time). Files that cannot be read or parsed are logged and skipped, and
    appended to ``unreadable`` when given (so a caller can tell that some were)."""
    threshold = _timestamp(since) if since is not None else None
    for path in record_files(Path(folder)):
        try:
            document = _read_unless_older(path, threshold)
        except FileNotFoundError:
            continue  # rewritten into another folder while we were listing
        except (DocumentFormatError, OSError) as exc:
            log.warning("skipping %s: %s", path, exc)
            if unreadable is not None:
                unreadable.append(path)
            continue
        if document is not None:
            yield path, document


def iter_documents(folder: Path, since: datetime | None = None) -> Iterator[Document]:
    """The documents of the record files under ``folder``; see ``iter_document_files``."""
    for _, document in iter_document_files(folder, since):
        yield document


def file_modified_at(path: Path) -> datetime:
    """When a record file was last written (UTC)."""
    return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)


def articles_since(
    database: Database,
    since: datetime | None = None,
    after_id: str | None = None,
    source_id: str | None = None,
    zone: tzinfo | None = None,
    *,
    published_since: datetime | None = None,
    published_before: datetime | None = None,
    language: str | None = None,
    limit: int | None = None,
) -> Iterator[StoredArticle]:
    """Articles stored or changed at or after ``since`` (all when None), in the order
    they were stored: by ``updated_at``, then ``id``. Streams in constant memory.

    To resume exactly where a previous read stopped, pass the last article's
    ``updated_at`` as ``since`` and its ``id`` as ``after_id``: rows strictly after that
    one follow (an article changed meanwhile comes again, with its new content).
    ``source_id`` keeps one source's articles, ``language`` those of one language,
    ``published_since`` (inclusive) and ``published_before`` (exclusive) those published
    in that span; ``limit`` stops after that many. ``zone`` converts the publication
    and modification times of each document (UTC otherwise), e.g. ``settings.zone`` to
    match the files."""
    if limit is not None and limit < 0:
        # SQLite read a negative LIMIT as none, PostgreSQL refused it: one answer here.
        raise ValueError(f"limit must not be negative (got {limit})")
    rows = database.articles_since(
        since=since,
        source_id=source_id,
        after_id=after_id,
        published_since=published_since,
        published_before=published_before,
        language=language,
        limit=limit,
    )
    for row in rows:
        yield stored_article(row, zone)


def stored_article(row: Mapping[str, Any], zone: tzinfo | None = None) -> StoredArticle:
    """A StoredArticle from an ``articles`` row (as ``Database.articles_since`` yields)."""
    return StoredArticle(
        document=document_from_row(row, zone),
        source_id=row["source_id"],
        content_hash=row["content_hash"],
        file_path=row["file_path"],
        first_seen_at=row["first_seen_at"],
        updated_at=row["updated_at"],
    )


def document_from_row(row: Mapping[str, Any], zone: tzinfo | None = None) -> Document:
    """The Document of an ``articles`` row, with the date's provenance and the page's
    metadata when the row has them; ``zone`` converts its publication and modification
    times."""
    published: datetime = row["published_at"]
    modified: datetime | None = row.get("modified_at")
    authors, tags = row.get("authors"), row.get("tags")
    return Document(
        title=row["title"],
        published=published.astimezone(zone) if zone is not None else published,
        type=row["type"],
        url=row["url"],
        source_name=row["source_name"],
        source_url=row["source_url"],
        language=row["language"],
        aggregator=row["aggregator"],
        content=row["content"],
        published_original=row.get("published_original"),
        date_source=row.get("date_source"),
        authors=tuple(authors) if authors is not None else None,
        description=row.get("description"),
        image_url=row.get("image_url"),
        modified_at=modified.astimezone(zone) if modified and zone is not None else modified,
        section=row.get("section"),
        tags=tuple(tags) if tags is not None else None,
    )


def _read_unless_older(path: Path, threshold: float | None) -> Document | None:
    if threshold is not None and os.stat(path).st_mtime < threshold:
        return None
    return read_document(path)


def _timestamp(moment: datetime) -> float:
    if moment.utcoffset() is None:
        raise ValueError("since must carry a time zone")
    return moment.timestamp()
