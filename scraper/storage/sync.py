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
from pathlib import Path

from scraper.storage.base import ArticleRecord
from scraper.storage.files import FileStore
from scraper.storage.open import DatabaseBackend

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


def sync_pending(database: DatabaseBackend, files: FileStore) -> int:
    """Store what the journal lists (and any other file without its row); returns how
    many rows were written. The journal goes only once everything is stored."""
    from scraper.cli_db import sync_files

    sources = read_pending(files.root)
    result = sync_files(database, files.root, lambda doc: sources.get(doc.id, ""))
    pending_path(files.root).unlink(missing_ok=True)
    log.info(
        "database caught up with the files: %d new, %d updated rows", result.new, result.updated
    )
    return result.new + result.updated


async def sync_if_behind(database: DatabaseBackend, files: FileStore) -> None:
    """Before a crawl: catch the database up when an earlier run left it behind."""
    if pending_path(files.root).exists():
        await asyncio.to_thread(sync_pending, database, files)
