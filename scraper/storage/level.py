"""Files and rows level, whichever is lost (issue 11).

The record files are the primary copy and the database their twin, and either may be
lost on its own: a date folder deleted by hand or a backup of the files restored from
an older day, the database file removed, a new (empty) database pointed at a folder of
existing files. Either way the other half holds everything needed to rebuild it:

* a row without its record file: the file is written again from the row (rendered as
  the crawl rendered it, through ``FileStore.restore``: under its former name when free,
  atomically, under the file lock), byte for byte the file that was lost;
* a record file without its row: the row is stored from the file (as ``scraper db sync``
  does; the source is guessed from the configured sources' homepages).

``scraper db sync`` does both, whatever the numbers. A crawl does it before it starts
(``Leveler.check``, off the event loop), but only when a cheap test says the two may
have parted, so that a daemon running every few minutes over a million articles does
not compare them on every run:

* the files are counted by a ``FileCensus``: one ``stat`` per date folder, a folder is
  listed again only when its modification time changed (adding or removing a file
  changes it);
* the rows by ``count(*)``.

Files and rows are compared one by one (every file name and every row id, no content)
when there are more rows than files (files were lost: a crawl writes the file before its
row, so a crawl in flight only ever makes the files more), when a date folder holds fewer
files than at the last check (a file was deleted, or moved by a changed publication
date), when the database is empty beside record files, and at the first check of a
process when the counts differ. Rows are then stored only for files older than
``YOUNG_SECONDS`` while other crawls run (their rows may be on the way), and such files
are looked at again once that time has passed.

Past ``FILE_LIMIT`` files to restore (or ``ROW_LIMIT`` rows to store) a crawl leaves
that side alone and says in one line what to run: writing that many would hold up the
crawl for minutes.

Nothing is done while the pending journal (``.db-pending.jsonl``) exists: the database
is behind because it was down, and the catch-up that replays the journal stores those
rows with the source ids and date provenance the files do not hold.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scraper.document import Document, render
from scraper.reader import document_from_row, read_document
from scraper.storage.base import ArticleRecord, Database, DatabaseError
from scraper.storage.files import (
    DATE_FOLDER,
    RECORD_NAME,
    FileStore,
    content_hash,
    record_files,
    record_id,
)
from scraper.storage.sync import has_pending

if TYPE_CHECKING:
    from scraper.config import Source

log = logging.getLogger(__name__)

# Files restored, and rows stored, before a crawl at most; more is left to `db sync`.
# A file costs two fsyncs (about 1-10 ms), a row a fraction of a millisecond.
FILE_LIMIT = 2_000
ROW_LIMIT = 20_000
# A file this young may be a crawl's whose row is still on its way (the sink writes rows
# in batches, every two seconds): while other crawls run, its row is not made from it.
YOUNG_SECONDS = 60.0
# A folder whose modification time is this close to the last census may have changed
# within the same clock tick after it was listed: it is listed again.
RACY_NS = 2_000_000_000
# After a check that left the work to `scraper db sync` (or could not write a file), a
# long-running process compares again only this much later (it reads every id).
QUIET_SECONDS = 3600.0
# A long-running process checks at most this often (many runs start at once).
MIN_INTERVAL_SECONDS = 1.0
RESTORE_BATCH = 200
STORE_BATCH = 500
SYNC_HINT = "scraper db sync"

GuessSource = Callable[[Document], str]


@dataclass
class LevelResult:
    """What bringing files and rows level found and did."""

    files_missing: int = 0  # rows that had no record file
    rows_missing: int = 0  # record files that had no row
    files_restored: int = 0  # record files written from their rows
    rows_stored: int = 0  # rows stored from their record files
    not_restored: int = 0  # rows whose file could not be written (logged)
    unreadable: int = 0  # files without a row that are not records (logged)
    hints: list[str] = field(default_factory=list)  # what the user should run, and why
    # Files without a row left for later: a crawl may be storing them.
    young_files: list[Path] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.files_restored or self.rows_stored)

    def describe(self) -> str | None:
        """One line for a crawl's summary, None when there is nothing to say."""
        parts = []
        if self.files_restored:
            parts.append(f"restored {_files(self.files_restored)} from the database")
        if self.rows_stored:
            rows = "row" if self.rows_stored == 1 else "rows"
            parts.append(f"stored {self.rows_stored} database {rows} from the files")
        if self.not_restored:
            parts.append(f"{_files(self.not_restored)} not restored (see the log)")
        if self.unreadable:
            parts.append(f"{_files(self.unreadable)} without a row unreadable (see the log)")
        return "; ".join(parts) if parts else None


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


@dataclass
class Missing:
    """Where files and rows differ: ids of rows without a file, files without a row."""

    files: list[str] = field(default_factory=list)
    rows: list[Path] = field(default_factory=list)


def find_missing(database: Database, root: Path) -> Missing:
    """Compare every row id with every record file name (no content is read). Memory:
    one set of the row ids."""
    stored = set(database.article_ids())
    missing = Missing()
    for path in record_files(root):
        article = record_id(path)
        if article is None:
            continue
        if article in stored:
            stored.discard(article)
        else:
            missing.rows.append(path)
    missing.files = sorted(stored)
    return missing


def missing_files(database: Database, root: Path) -> list[str]:
    """The ids of the rows that have no record file under ``root``."""
    stored = set(database.article_ids())
    for path in record_files(root):
        stored.discard(record_id(path) or "")
    return sorted(stored)


def restore_files(
    database: Database,
    files: FileStore,
    zone: tzinfo | None,
    ids: Iterable[str] | None = None,
) -> tuple[int, int]:
    """Write the record file of each of ``ids`` (default: every row without one) from its
    row; an article that got a file meanwhile is left alone. Returns (restored, not
    restored). ``zone``: the output time zone, which the record's date is written in."""
    if ids is None:
        ids = missing_files(database, files.root)
    restored = failed = 0
    for batch in _batches(ids, RESTORE_BATCH):
        moved: dict[str, str] = {}
        for row in database.articles_by_id(batch):
            try:
                written = files.restore(document_from_row(row, zone), row["file_path"])
            except (OSError, ValueError) as exc:
                failed += 1
                if failed == 1:
                    log.error("cannot restore the record file of %s: %s", row["id"], exc)
                continue
            if written is None:
                continue
            restored += 1
            if written.relative_path != row["file_path"]:
                moved[row["id"]] = written.relative_path
            if written.content_hash != row["content_hash"]:
                log.warning(
                    "restored %s differs from the file its row was stored from "
                    "(was the output time zone changed?)",
                    written.relative_path,
                )
        database.set_file_paths(moved)
    if failed > 1:
        log.error("%d record files could not be restored from the database", failed)
    return restored, failed


def store_rows(
    database: Database,
    root: Path,
    paths: Iterable[Path],
    guess_source: GuessSource,
    young_after: float | None = None,
) -> tuple[int, int, list[Path]]:
    """Store the row of each record file in ``paths`` (source guessed, no date
    provenance: the file has none); returns (stored, unreadable, young files). Files
    modified after ``young_after`` (a time.time() value) are left alone: the young."""
    stored = unreadable = 0
    young: list[Path] = []
    records: list[ArticleRecord] = []
    for path in paths:
        try:
            if young_after is not None and path.stat().st_mtime > young_after:
                young.append(path)
                continue
            document = read_document(path)
        except FileNotFoundError:
            continue  # moved or deleted since it was listed
        except (OSError, ValueError) as exc:  # DocumentFormatError is a ValueError
            log.warning("skipping %s: %s", path, exc)
            unreadable += 1
            continue
        records.append(
            ArticleRecord(
                document=document,
                source_id=guess_source(document),
                file_path=path.relative_to(root).as_posix(),
                content_hash=content_hash(render(document)),
            )
        )
        if len(records) >= STORE_BATCH:
            stored += _save(database, records)
            records = []
    stored += _save(database, records)
    return stored, unreadable, young


def _save(database: Database, records: list[ArticleRecord]) -> int:
    return sum(status == "new" for status in database.save_articles(records)) if records else 0


def level(
    database: Database,
    files: FileStore,
    zone: tzinfo | None,
    guess_source: GuessSource = lambda _: "",
    *,
    file_limit: int | None = None,
    row_limit: int | None = None,
    young_after: float | None = None,
) -> LevelResult:
    """Compare files and rows one by one and rebuild what either lacks: restore the
    files of rows without one, store the rows of files without one. A side with more
    to do than its limit is left alone, and ``hints`` says what to run."""
    missing = find_missing(database, files.root)
    result = LevelResult(files_missing=len(missing.files), rows_missing=len(missing.rows))
    root = files.root
    if file_limit is not None and len(missing.files) > file_limit:
        result.hints.append(
            f"{len(missing.files)} articles in the database have no record file in {root}: "
            f"run '{SYNC_HINT}' to restore them (too many to write before a crawl)"
        )
    elif missing.files:
        result.files_restored, result.not_restored = restore_files(
            database, files, zone, missing.files
        )
    if row_limit is not None and len(missing.rows) > row_limit:
        result.hints.append(
            f"{len(missing.rows)} record files in {root} have no row in the database: "
            f"run '{SYNC_HINT}' to store them (too many to store before a crawl)"
        )
    elif missing.rows:
        result.rows_stored, result.unreadable, result.young_files = store_rows(
            database, root, missing.rows, guess_source, young_after
        )
    return result


class FileCensus:
    """How many record files the output folder holds, counted again cheaply: a date
    folder is listed again only when its modification time changed (adding, renaming or
    removing a file in it changes it), so a census costs one ``stat`` per date folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._folders: dict[str, tuple[int, int]] = {}  # name -> (mtime_ns, record files)
        self._taken_ns = 0

    def take(self) -> tuple[int, bool]:
        """(record files, whether a date folder lost files or vanished since the last
        census)."""
        started = time.time_ns()
        racy = self._taken_ns - RACY_NS
        previous, folders = self._folders, {}
        shrunk = False
        for name, path in _date_folders(self.root):
            try:
                info = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                continue
            known = previous.get(name)
            if known is not None and known[0] == info.st_mtime_ns and info.st_mtime_ns < racy:
                folders[name] = known
                continue
            count = _count_records(path)
            folders[name] = (info.st_mtime_ns, count)
            shrunk = shrunk or (known is not None and count < known[1])
        shrunk = shrunk or any(name not in folders for name in previous)
        self._folders, self._taken_ns = folders, started
        return sum(count for _, count in folders.values()), shrunk


def _date_folders(root: Path) -> Iterator[tuple[str, str]]:
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if DATE_FOLDER.match(entry.name):
            yield entry.name, entry.path


def _count_records(folder: str) -> int:
    try:
        return sum(1 for name in os.listdir(folder) if RECORD_NAME.match(name))
    except OSError:
        return 0


class Leveler:
    """Keeps the files and rows of one output folder level before each crawl (one per
    process: it remembers the last census). Thread-safe; a check asked for while another
    runs is skipped."""

    def __init__(
        self,
        files: FileStore,
        zone: tzinfo | None,
        file_limit: int = FILE_LIMIT,
        row_limit: int = ROW_LIMIT,
        young_seconds: float = YOUNG_SECONDS,
    ) -> None:
        self.files = files
        self.zone = zone
        self.file_limit = file_limit
        self.row_limit = row_limit
        self.young_seconds = young_seconds
        self.census = FileCensus(files.root)
        # Every source this process crawled (or was told of): to guess whose a file is.
        self.sources: dict[str, Source] = {}
        self._lock = threading.Lock()
        self._checked_at: float | None = None  # time.monotonic() of the last check
        self._young: list[Path] = []  # files left without a row for being young
        self._young_until = 0.0  # ... until then (time.monotonic())
        self._quiet_until = 0.0  # a check left the work to `db sync`: not before then

    async def before_crawl(
        self, database: Database | None, sources: Iterable[Source], busy: bool
    ) -> LevelResult | None:
        """``check`` off the event loop, for a crawl about to start: None when there is
        no database, nothing to compare, or the comparison failed (logged; it never
        stops a crawl). ``busy``: other crawls of this process are under way."""
        self.sources.update((source.id, source) for source in sources)
        if database is None:
            return None
        try:
            return await asyncio.to_thread(self.check, database, busy)
        except (DatabaseError, OSError) as exc:
            log.warning("cannot compare the record files with the database: %s", exc)
            return None

    def check(self, database: Database, busy: bool = False) -> LevelResult | None:
        """Level files and rows if the cheap test says they may differ (blocking: call it
        in a thread). The result when anything was compared, else None."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._check(database, busy)
        finally:
            self._lock.release()

    def _check(self, database: Database, busy: bool) -> LevelResult | None:
        now = time.monotonic()
        first = self._checked_at is None
        if self._checked_at is not None and now - self._checked_at < MIN_INTERVAL_SECONDS:
            return None
        if has_pending(self.files.root):
            return None  # the catch-up stores those rows, with their source ids
        self._checked_at = now
        files, shrunk = self.census.take()
        rows = database.count_articles()
        due = rows > files or shrunk or (rows == 0 < files) or (first and files != rows)
        if due and now >= self._quiet_until:
            result = self._level(database, busy, now)
        elif self._young and now >= self._young_until:
            result = self._store_young(database, busy, now)
        else:
            return None
        report(result)
        if result.changed:
            self.census.take()  # our own writes are no loss next time
        return result

    def _level(self, database: Database, busy: bool, now: float) -> LevelResult:
        log.debug("comparing the record files with the database rows one by one")
        result = level(
            database,
            self.files,
            self.zone,
            source_guesser(self.sources),
            file_limit=self.file_limit,
            row_limit=self.row_limit,
            young_after=self._young_after(database, busy),
        )
        self._young = result.young_files
        self._young_until = now + self.young_seconds
        # Left to `db sync`, or files that cannot be written: not again on every run.
        quiet = result.hints or result.not_restored
        self._quiet_until = now + QUIET_SECONDS if quiet else 0.0
        return result

    def _store_young(self, database: Database, busy: bool, now: float) -> LevelResult:
        """The files left alone for being young, looked at again: those that still have
        no row get one now."""
        paths = {record_id(path) or "": path for path in self._young}
        stored = database.content_hashes(paths)
        waiting = [path for article, path in paths.items() if article not in stored]
        result = LevelResult(rows_missing=len(waiting))
        young = store_rows(
            database,
            self.files.root,
            waiting,
            source_guesser(self.sources),
            self._young_after(database, busy),
        )
        result.rows_stored, result.unreadable, result.young_files = young
        self._young = result.young_files
        self._young_until = now + self.young_seconds
        return result

    def _young_after(self, database: Database, busy: bool) -> float | None:
        """Files modified after this time are left without a row for now (None: all are
        stored): only while other crawls may be writing."""
        if busy or _others_running(database):
            return time.time() - self.young_seconds
        return None


def _others_running(database: Database) -> bool:
    """Whether a crawl of another process is recorded as running (its files may still
    be waiting for their rows). Runs of killed processes count too: only young files
    are left alone for it."""
    from scraper.service.job import worker_name

    own = worker_name()
    return any(run.get("worker") != own for run in database.running_runs())


def report(result: LevelResult) -> None:
    """Log what leveling did (INFO) and what the user should run (WARNING)."""
    line = result.describe()
    if line is not None:
        log.info(
            "files and rows level: %s",
            line,
            extra={"files_restored": result.files_restored, "rows_stored": result.rows_stored},
        )
    for hint in result.hints:
        log.warning("%s", hint)


def source_guesser(sources: Mapping[str, Source]) -> GuessSource:
    """Which configured source most likely stored a document the database has no row
    for: one whose homepage host is the publisher's (the Origem link) or the article's;
    among several, the one of the document's language. "" when none matches."""
    by_host: dict[str, list[Source]] = {}
    for source in sorted(sources.values(), key=lambda s: s.id):
        by_host.setdefault(_host(source.homepage), []).append(source)

    def guess(document: Document) -> str:
        for url in (document.source_url, document.url):
            candidates = by_host.get(_host(url), [])
            if candidates:
                same_language = [s for s in candidates if s.language == document.language]
                return (same_language or candidates)[0].id
        return ""

    return guess


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
