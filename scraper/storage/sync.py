"""Bringing the database level with the files after it was unreachable.

While the database is down a crawl keeps writing files and notes, in a journal beside
them, each file the database has not got yet with the source that wrote it. The next run
(or ``scraper db sync``) stores every file that has no row or a different content hash,
taking the source ids from that journal, then removes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scraper.document import Document, render
from scraper.reader import read_document
from scraper.storage.base import ArticleRecord, Database
from scraper.storage.files import FileStore, content_hash, record_files, record_id

log = logging.getLogger(__name__)

PENDING_NAME = ".db-pending.jsonl"


def pending_path(root: Path) -> Path:
    return Path(root) / PENDING_NAME


def note_pending(root: Path, records: list[ArticleRecord]) -> None:
    """Append the records the database did not take to the journal (one line each)."""
    if not records:
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    lines = "".join(
        json.dumps({"id": r.document.id, "source_id": r.source_id, "file": r.file_path}) + "\n"
        for r in records
    )
    with open(pending_path(root), "a", encoding="utf-8") as journal:
        journal.write(lines)
        journal.flush()
        os.fsync(journal.fileno())


def read_pending(root: Path) -> dict[str, str]:
    """Article id -> source id of every file the database is behind on."""
    path = pending_path(root)
    sources: dict[str, str] = {}
    if not path.exists():
        return sources
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            sources[str(entry["id"])] = str(entry["source_id"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash: the sync still finds its file
    return sources


@dataclass
class SyncResult:
    checked: int = 0  # record files looked at
    new: int = 0  # stored without a row before
    updated: int = 0  # row replaced by the file's content
    level: int = 0  # row already held the file's content
    unreadable: int = 0  # not a record: skipped (and logged)


def sync_files(
    database: Database,
    folder: Path,
    guess_source: Callable[[Document], str] = lambda _: "",
    batch_size: int = 500,
) -> SyncResult:
    """Store every record file under ``folder`` that has no row, or whose content hash
    differs from its row's, in batches of ``batch_size``. Files whose hash matches are
    not even parsed. A new row gets ``guess_source(document)`` as its source_id; an
    existing row keeps its own."""
    result = SyncResult()
    batch: list[Path] = []
    for path in record_files(folder):
        batch.append(path)
        if len(batch) >= batch_size:
            _sync_batch(database, folder, batch, guess_source, result)
            batch = []
    if batch:
        _sync_batch(database, folder, batch, guess_source, result)
    return result


def _sync_batch(
    database: Database,
    folder: Path,
    paths: list[Path],
    guess_source: Callable[[Document], str],
    result: SyncResult,
) -> None:
    result.checked += len(paths)
    stored = database.content_hashes(record_id(path) or "" for path in paths)
    records: list[ArticleRecord] = []
    for path in paths:
        try:
            record = _record_if_different(path, folder, stored, guess_source)
        except (OSError, ValueError) as exc:  # DocumentFormatError is a ValueError
            log.warning("skipping %s: %s", path, exc)
            result.unreadable += 1
            continue
        if record is None:
            result.level += 1
        else:
            records.append(record)
    for status in database.save_articles(records):
        if status == "new":
            result.new += 1
        elif status == "updated":
            result.updated += 1
        else:
            result.level += 1


def _record_if_different(
    path: Path,
    folder: Path,
    stored: Mapping[str, str],
    guess_source: Callable[[Document], str],
) -> ArticleRecord | None:
    """The record to store for ``path``, None when its row is level. Raises OSError or
    ValueError when the file cannot be read or is not a record."""
    stored_hash = stored.get(record_id(path) or "")
    if stored_hash is not None:
        # The content hash is the sha256 of the record text, i.e. of the file's bytes.
        text = path.read_bytes().decode("utf-8")
        if content_hash(text) == stored_hash:
            return None
    document = read_document(path)
    return ArticleRecord(
        document=document,
        source_id="" if stored_hash is not None else guess_source(document),
        file_path=path.relative_to(folder).as_posix(),
        content_hash=content_hash(render(document)),
    )


def sync_pending(database: Database, files: FileStore) -> int:
    """Store what the journal lists (and any other file without its row); returns how
    many rows were written. The journal goes only once everything is stored."""
    sources = read_pending(files.root)
    result = sync_files(database, files.root, lambda doc: sources.get(doc.id, ""))
    pending_path(files.root).unlink(missing_ok=True)
    log.info(
        "database caught up with the files: %d new, %d updated rows", result.new, result.updated
    )
    return result.new + result.updated


async def sync_if_behind(database: Database, files: FileStore) -> None:
    """Before a crawl: catch the database up when an earlier run left it behind."""
    if pending_path(files.root).exists():
        await asyncio.to_thread(sync_pending, database, files)
