"""Bringing the database level with the files after it was unreachable.

While the database is down a crawl keeps writing files and notes, in a journal beside
them, each file the database has not got yet with the source that wrote it. The next run
(or ``scraper db sync``) stores every file that has no row or a different content hash,
taking the source ids from that journal, then removes it.

The journal lies in the output folder, which other hands may write to, so each of its
lines is checked before anything is read on its word: well-formed JSON with an article
id, a source id and the relative path of that article's record file, a regular file under
the output folder (no absolute path, no "..", no symlink out of it). A line that fails
is skipped, counted and logged with its reason; its path is never opened.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from scraper.document import Document, render
from scraper.reader import read_document
from scraper.storage.base import ArticleRecord, Database
from scraper.storage.files import (
    DATE_FOLDER,
    RECORD_NAME,
    FileStore,
    content_hash,
    record_files,
    record_id,
)

log = logging.getLogger(__name__)

PENDING_NAME = ".db-pending.jsonl"
# A journal line is ~100 bytes; anything this long is not one of ours.
MAX_LINE_BYTES = 64 * 1024
_ARTICLE_ID = re.compile(r"[0-9a-f]{16}")
_SOURCE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,199}")  # a source file's slug


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


@dataclass(frozen=True)
class PendingEntry:
    """A valid journal line."""

    id: str  # article id
    source_id: str
    file: Path  # its record file: resolved, under the output folder


@dataclass
class PendingJournal:
    entries: list[PendingEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "line N: reason", one per bad line

    @property
    def sources(self) -> dict[str, str]:
        return {entry.id: entry.source_id for entry in self.entries}


class BadJournalLine(ValueError):
    """Why a journal line is not used (the message is the one-line reason)."""


def parse_pending_line(line: str, root: Path) -> PendingEntry:
    """The entry of one journal line, checked against the output folder ``root`` (the
    path is judged as text before the file system is asked anything about it). Raises
    BadJournalLine."""
    try:
        value: Any = json.loads(line)
    except ValueError:
        raise BadJournalLine("not JSON") from None
    if not isinstance(value, dict):
        raise BadJournalLine("not a JSON object")
    if set(value) != {"id", "source_id", "file"}:
        keys = ", ".join(sorted(map(str, value))) or "none"
        raise BadJournalLine(f"expected the keys file, id, source_id, got {keys}")
    article, source, file = value["id"], value["source_id"], value["file"]
    if not isinstance(article, str) or not _ARTICLE_ID.fullmatch(article):
        raise BadJournalLine("id: not an article id")
    if not isinstance(source, str) or not _SOURCE_ID.fullmatch(source):
        raise BadJournalLine("source_id: not a source id")
    if not isinstance(file, str):
        raise BadJournalLine("file: not a string")
    return PendingEntry(article, source, _record_path(file, article, root))


def _record_path(text: str, article: str, root: Path) -> Path:
    if not text or "\0" in text or "\\" in text:
        raise BadJournalLine("file: empty or with a NUL or backslash")
    relative = PurePosixPath(text)
    if relative.is_absolute():
        raise BadJournalLine("file: absolute path")
    if ".." in relative.parts:
        raise BadJournalLine("file: '..' in the path")
    if len(relative.parts) != 2 or not DATE_FOLDER.match(relative.parts[0]):
        raise BadJournalLine("file: not <YYYY-MM-DD>/<NNN>_<id>.txt")
    name = RECORD_NAME.match(relative.parts[1])
    if name is None:
        raise BadJournalLine("file: not <YYYY-MM-DD>/<NNN>_<id>.txt")
    if name["id"] != article:
        raise BadJournalLine("file: the record of another article")
    # Only now ask the file system, and judge where the path really leads.
    real_root = Path(root).resolve()
    try:
        real = (real_root / relative).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        raise BadJournalLine("file: no such record file") from None
    if not real.is_relative_to(real_root):
        raise BadJournalLine("file: leads out of the output folder (symlink)")
    if not real.is_file():
        raise BadJournalLine("file: not a regular file")
    return real


def load_pending(root: Path) -> PendingJournal:
    """The journal's valid entries, and why each other line was skipped (logged)."""
    path = pending_path(root)
    journal = PendingJournal()
    try:
        handle = _open_journal(path)
    except FileNotFoundError:
        return journal
    except OSError as exc:
        reason = "a symlink" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        log.warning("pending journal %s not read: %s", path, reason)
        journal.skipped.append(f"journal: {reason}")
        return journal
    with handle:
        for number, raw in _journal_lines(handle):
            if raw is not None and not raw.strip():
                continue
            try:
                if raw is None:
                    raise BadJournalLine(f"longer than {MAX_LINE_BYTES} bytes")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise BadJournalLine("not UTF-8") from None
                journal.entries.append(parse_pending_line(line, Path(root)))
            except BadJournalLine as exc:
                journal.skipped.append(f"line {number}: {exc}")
                log.warning("pending journal %s line %d skipped: %s", path, number, exc)
    return journal


def _open_journal(path: Path) -> IO[bytes]:
    """The journal, opened for reading only if it is a regular file (not a symlink, a
    FIFO or a device). Raises OSError."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _journal_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of each line; None for a line over MAX_LINE_BYTES, which is
    read past, never held in memory whole."""
    number = 0
    while chunk := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(chunk) <= MAX_LINE_BYTES or chunk.endswith(b"\n"):
            yield number, chunk
            continue
        while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield number, None


def read_pending(root: Path) -> dict[str, str]:
    """Article id -> source id of every file the database is behind on, from the
    journal's valid lines only."""
    return load_pending(root).sources


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
    journal = load_pending(files.root)
    if journal.skipped:
        log.warning("pending journal: %d bad lines skipped", len(journal.skipped))
    sources = journal.sources
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
