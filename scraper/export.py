"""Export stored articles as JSON Lines or in the document format, streaming.

From the database (``articles_since``: a server-side cursor on PostgreSQL, a cursor on
SQLite) or, without one, from the record files; one article in memory at a time.

* ``jsonl``: one JSON object per line with the columns of ``articles``
  (docs/schema.md), ``published_original`` and ``date_source`` (the date's provenance)
  included, null for rows stored without it; ``published_at`` in the output time zone,
  other times in UTC. Exported from the files, ``source_id``, ``first_seen_at`` and the
  provenance are null (a record file does not hold them) and ``updated_at`` is the
  file's modification time.
* ``md``: each article as its record text (DESIGN section 2), records separated by
  one blank line. The record format is fixed: it has no place for the provenance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal, TextIO

from scraper.document import render
from scraper.reader import document_from_row, file_modified_at, iter_document_files
from scraper.storage.base import Database
from scraper.storage.files import content_hash

ExportFormat = Literal["jsonl", "md"]
FORMATS: tuple[ExportFormat, ...] = ("jsonl", "md")


def export(
    out: TextIO,
    *,
    database: Database | None = None,
    folder: Path | None = None,
    since: datetime | None = None,
    source_id: str | None = None,
    fmt: ExportFormat = "jsonl",
    zone: tzinfo | None = None,
) -> int:
    """Write the articles stored or changed since ``since`` to ``out``; return how many.

    Reads ``database`` when given, else the record files under ``folder``. ``source_id``
    needs the database (files do not record which source stored them). ``zone`` is the
    output time zone for ``published_at`` (UTC when None)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use jsonl or md)")
    rows = _rows(database, folder, since, source_id, zone)
    count = 0
    for row in rows:
        if fmt == "jsonl":
            out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        else:
            # Records end with "\n"; one more makes the blank line between them.
            out.write(("\n" if count else "") + render(document_from_row(row)))
        count += 1
    return count


def _rows(
    database: Database | None,
    folder: Path | None,
    since: datetime | None,
    source_id: str | None,
    zone: tzinfo | None,
) -> Iterator[dict[str, Any]]:
    if database is not None:
        return _database_rows(database, since, source_id, zone)
    if folder is None:
        raise ValueError("nothing to export from: give a database or a folder")
    if source_id is not None:
        raise ValueError("--source needs the database: the files do not record their source")
    return _file_rows(folder, since, zone)


def _database_rows(
    database: Database, since: datetime | None, source_id: str | None, zone: tzinfo | None
) -> Iterator[dict[str, Any]]:
    for row in database.articles_since(since=since, source_id=source_id):
        if zone is not None:
            row["published_at"] = row["published_at"].astimezone(zone)
        row.pop("rank", None)
        yield row


def _file_rows(
    folder: Path, since: datetime | None, zone: tzinfo | None
) -> Iterator[dict[str, Any]]:
    for path, doc in iter_document_files(folder, since):
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
        }


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__} as JSON")
