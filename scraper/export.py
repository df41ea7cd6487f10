"""Export stored articles as JSON Lines, CSV or in the document format, streaming.

From the database (``articles_since``: a server-side cursor on PostgreSQL, a cursor on
SQLite) or, without one, from the record files; one article in memory at a time.

* ``jsonl``: one JSON object per line with the columns of ``articles``
  (docs/schema.md, ``COLUMNS`` below): the date's provenance (``published_original``,
  ``date_source``) and the page's metadata (``authors``, ``description``,
  ``image_url``, ``modified_at``, ``section``, ``tags``) included, null for rows stored
  without them; ``authors`` and ``tags`` are arrays; ``published_at`` and
  ``modified_at`` in the output time zone, the other times in UTC. Exported from the
  files, ``source_id``, ``first_seen_at``, the provenance and the page's metadata are
  null (a record file does not hold them) and ``updated_at`` is the file's
  modification time.
* ``csv``: the same columns, one row per article under a header row, quoted as RFC 4180
  says (CRLF row ends; a field with a comma, quote or line break in double quotes), the
  content included; null is an empty field, ``authors`` and ``tags`` are JSON arrays.
* ``md``: each article as its record text (DESIGN section 2), records separated by
  one blank line. The record format is fixed: it has no place for the rest.

Filters (``ExportFilters``): stored or changed since (the consumer's cursor), published
in a span, one source, one language, at most N articles; in the order the articles were
stored (``updated_at``, ``id``) from the database, in date-folder order from the files.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal, TextIO

from scraper.document import render
from scraper.reader import document_from_row, file_modified_at, iter_document_files
from scraper.storage.base import Database
from scraper.storage.files import content_hash

ExportFormat = Literal["jsonl", "csv", "md"]
FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv", "md")
# The exported columns, in this order (the CSV header): those of ``articles`` but
# ``search_vector``.
COLUMNS: tuple[str, ...] = (
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
)
# Times of the article itself, shown in the output zone (the record's "Data" is).
_ARTICLE_TIMES = ("published_at", "modified_at")


@dataclass(frozen=True)
class ExportFilters:
    """Which articles to export; every filter given must hold.

    ``stored_since``: stored or changed at or after (a row's ``updated_at``, a file's
    modification time). ``published_since`` (inclusive) and ``published_before``
    (exclusive): the publication time. ``source_id`` needs the database (the files do
    not record their source). Times must carry a time zone."""

    stored_since: datetime | None = None
    published_since: datetime | None = None
    published_before: datetime | None = None
    source_id: str | None = None
    language: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("stored_since", "published_since", "published_before"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must carry a time zone")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must not be negative")

    def keeps(self, published: datetime, language: str) -> bool:
        """Whether an article published then, in that language, passes the filters on
        publication time and language (for the files; the database filters itself)."""
        return (
            (self.published_since is None or published >= self.published_since)
            and (self.published_before is None or published < self.published_before)
            and (self.language is None or language == self.language)
        )


def export(
    out: TextIO,
    *,
    database: Database | None = None,
    folder: Path | None = None,
    filters: ExportFilters | None = None,
    source_id: str | None = None,
    fmt: ExportFormat = "jsonl",
    zone: tzinfo | None = None,
    since: datetime | None = None,
    unreadable: list[Path] | None = None,
) -> int:
    """Write the articles that pass ``filters`` to ``out``; return how many.

    Reads ``database`` when given, else the record files under ``folder`` (those that
    cannot be read are logged, left out and appended to ``unreadable`` when given).
    ``zone`` is the output time zone for ``published_at`` and ``modified_at`` (UTC when
    None).
    ``source_id`` is short for ``filters.source_id``; ``since`` is the old spelling of
    ``filters.stored_since`` (deprecated: it warns)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
    filters = filters or ExportFilters()
    if since is not None:
        warnings.warn(
            "export(since=...) is deprecated: pass filters=ExportFilters(stored_since=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        filters = ExportFilters(**{**vars(filters), "stored_since": since})
    if source_id is not None:
        filters = ExportFilters(**{**vars(filters), "source_id": source_id})
    rows = _rows(database, folder, filters, zone, unreadable)
    if fmt == "csv":
        return _write_csv(out, rows)
    count = 0
    for row in rows:
        if fmt == "jsonl":
            out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        else:
            # Records end with "\n"; one more makes the blank line between them.
            out.write(("\n" if count else "") + render(document_from_row(row)))
        count += 1
    return count


def _write_csv(out: TextIO, rows: Iterator[dict[str, Any]]) -> int:
    # The csv module's default dialect is RFC 4180's: CRLF row ends, fields quoted when
    # they hold a comma, a quote (doubled) or a line break.
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(row[column]) for column in COLUMNS])
        count += 1
    return count


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


def _rows(
    database: Database | None,
    folder: Path | None,
    filters: ExportFilters,
    zone: tzinfo | None,
    unreadable: list[Path] | None,
) -> Iterator[dict[str, Any]]:
    if database is not None:
        return _database_rows(database, filters, zone)
    if folder is None:
        raise ValueError("nothing to export from: give a database or a folder")
    if filters.source_id is not None:
        raise ValueError("--source needs the database: the files do not record their source")
    return _file_rows(folder, filters, zone, unreadable)


def _database_rows(
    database: Database, filters: ExportFilters, zone: tzinfo | None
) -> Iterator[dict[str, Any]]:
    rows = database.articles_since(
        since=filters.stored_since,
        source_id=filters.source_id,
        published_since=filters.published_since,
        published_before=filters.published_before,
        language=filters.language,
        limit=filters.limit,
    )
    for row in rows:
        exported = {column: row.get(column) for column in COLUMNS}
        for column in _ARTICLE_TIMES:
            moment = exported[column]
            if zone is not None and isinstance(moment, datetime):
                exported[column] = moment.astimezone(zone)
        yield exported


def _file_rows(
    folder: Path, filters: ExportFilters, zone: tzinfo | None, unreadable: list[Path] | None
) -> Iterator[dict[str, Any]]:
    if filters.limit == 0:
        return
    count = 0
    for path, doc in iter_document_files(folder, filters.stored_since, unreadable):
        if not filters.keeps(doc.published, doc.language):
            continue
        yield {
            "id": doc.id,
            "url": doc.url,
            "title": doc.title,
            "published_at": doc.published.astimezone(zone) if zone else doc.published,
            "published_original": None,
            "date_source": None,
            "type": doc.type,
            "source_id": None,
            "source_name": doc.source_name,
            "source_url": doc.source_url,
            "language": doc.language,
            "aggregator": doc.aggregator,
            "content": doc.content,
            "content_hash": content_hash(render(doc)),
            "file_path": path.relative_to(folder).as_posix(),
            "first_seen_at": None,
            "updated_at": file_modified_at(path),
            "authors": None,
            "description": None,
            "image_url": None,
            "modified_at": None,
            "section": None,
            "tags": None,
        }
        count += 1
        if filters.limit is not None and count >= filters.limit:
            return


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__} as JSON")
