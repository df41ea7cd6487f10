"""The flat files: one record file per article, ``<root>/<YYYY-MM-DD>/<NNN>_<id>.txt``.

The folder is the publication date (in the output time zone, which ``doc.published``
already carries), ``NNN`` the sequence number within that folder and ``<id>`` the article
id, so an article never gets a second file: a changed article rewrites its own file, and
one whose publication date moved is written in the new folder and removed from the old.

Several processes may write to the same root at once (the daemon runs crawls side by
side). Every allocation and write happens under an exclusive ``flock`` on
``<root>/.lock``, and each writer appends "id -> file" lines to ``<root>/.journal`` so the
others learn about files they did not write without rescanning the whole tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scraper.document import Document, render
from scraper.storage.base import SaveStatus

RECORD_NAME = re.compile(r"^(?P<seq>\d{3,})_(?P<id>[0-9a-f]{16})\.txt$")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Temporary files start with a dot and end in .tmp: never a record name, so readers
# listing a folder skip them, and a crashed writer's leftovers are recognizable.
TEMP_NAME = re.compile(r"^\.[0-9a-f]{16}\.[0-9a-f]+\.tmp$")
LOCK_NAME = ".lock"
JOURNAL_NAME = ".journal"
# Past this size the journal is replaced by an empty one; every process then rescans once.
JOURNAL_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileWrite:
    """What ``FileStore.write`` did with one document."""

    status: SaveStatus
    path: Path  # the record file (root joined with relative_path)
    content_hash: str  # sha256 hex of the rendered record text
    relative_path: str  # "<YYYY-MM-DD>/<NNN>_<id>.txt", as stored in articles.file_path


@dataclass
class _Listing:
    """The record files of one date folder as this process last saw them under the lock:
    by article id, the largest sequence number, and the folder's modification time then
    (a folder's time changes with every name added, renamed or removed in it)."""

    modified_ns: int
    names: dict[str, str]  # article id -> file name
    last_sequence: int
    sequences: set[int] = field(default_factory=set)  # the numbers the files hold

    def add(self, article_id: str, name: str) -> None:
        self.names[article_id] = name
        sequence = _sequence(name)
        self.sequences.add(sequence)
        self.last_sequence = max(self.last_sequence, sequence)

    def next_name(self, article_id: str) -> str:
        """The name of a new file of ``article_id`` in this folder: the next number."""
        return f"{self.last_sequence + 1:03d}_{article_id}.txt"

    def remove(self, article_id: str) -> None:
        name = self.names.pop(article_id, None)
        if name is None:
            return
        sequence = _sequence(name)
        self.sequences.discard(sequence)
        if sequence == self.last_sequence:
            # As a fresh listing would: the number of a removed last file is free again.
            self.last_sequence = max(self.sequences, default=-1)


def _sequence(name: str) -> int:
    match = RECORD_NAME.match(name)
    return int(match["seq"]) if match is not None else -1


def content_hash(text: str) -> str:
    """sha256 hex of a record's text, the hash that decides new / updated / unchanged."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_files(root: Path) -> Iterator[Path]:
    """Every record file under ``root``: date folders in order, then by sequence number.

    Lists one folder at a time, so memory stays bounded by the largest folder.
    Temporary files and anything else not named like a record are ignored."""
    if not root.is_dir():
        return
    folders = sorted(entry.name for entry in os.scandir(root) if _is_date_folder(entry))
    for name in folders:
        yield from _folder_records(root / name)


def _is_date_folder(entry: os.DirEntry[str]) -> bool:
    return bool(DATE_FOLDER.match(entry.name)) and entry.is_dir()


def _folder_records(folder: Path) -> list[Path]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    numbered = [(int(m["seq"]), name) for name in names if (m := RECORD_NAME.match(name))]
    return [folder / name for _, name in sorted(numbered)]


def record_id(path: Path) -> str | None:
    """The article id a record file is named after, or None for any other file."""
    match = RECORD_NAME.match(path.name)
    return match["id"] if match else None


class FileStore:
    """Writes documents as record files under ``root`` (created when missing).

    Safe to share between threads, and between processes writing to the same root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._mutex = threading.Lock()
        self._index: dict[str, Path] | None = None  # article id -> record file
        # Date folder -> its listing: a write looks up the article and the next sequence
        # number there without listing a folder that holds a day's articles each time.
        self._listings: dict[Path, _Listing] = {}
        self._journal_inode = 0
        self._journal_offset = 0

    # -- public API -------------------------------------------------------------------

    def write(self, doc: Document) -> FileWrite:
        """Write ``doc`` to its record file: "new", "updated" or "unchanged" (untouched)."""
        text = render(doc)
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / doc.published.strftime("%Y-%m-%d")
        with self._locked():
            current = self._find(doc.id, folder)
            if current is not None and current.parent == folder:
                if _has_content(current, data):
                    return self._result("unchanged", current, digest)
                _atomic_write(current, data, doc.id)
                self._changed(folder)
                return self._result("updated", current, digest)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / self._listing(folder).next_name(doc.id)
            _atomic_write(target, data, doc.id)
            self._remember(doc.id, target)
            if current is None:
                return self._result("new", target, digest)
            # The publication date moved: the new file exists before the old one goes,
            # so a reader always finds the article somewhere.
            current.unlink(missing_ok=True)
            self._changed(current.parent, removed=doc.id)
            return self._result("updated", target, digest)

    def restore(self, doc: Document, relative_path: str | None = None) -> FileWrite | None:
        """Write the record file of an article that has none, from its database row
        (scraper.storage.level): under the name ``relative_path`` (the row's file_path)
        when that is a name of this article in the folder of its publication date whose
        sequence number no other file holds, else under the next sequence number. None,
        and nothing written, when the article has a file already (a crawl may have just
        written a newer version)."""
        data = render(doc).encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / doc.published.strftime("%Y-%m-%d")
        with self._locked():
            # The journal (read on taking the lock) names what other processes wrote;
            # a stale index entry (a file deleted by hand) costs no rescan here.
            if self._indexed(doc.id) is not None:
                return None
            listing = self._listing(folder)
            if _listed_file(folder, listing, doc.id) is not None:
                return None
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / _restored_name(listing, folder.name, doc.id, relative_path)
            _atomic_write(target, data, doc.id)
            self._remember(doc.id, target)
            return self._result("new", target, digest)

    def path_of(self, article_id: str) -> Path | None:
        """The record file of an article, or None when it has none (creates nothing
        when the root does not exist yet: a dry run may ask)."""
        if not self.root.is_dir():
            return None
        with self._locked():
            path = self._indexed(article_id)
            if path is None and self._index is not None and article_id in self._index:
                # Indexed but gone (moved by a writer we did not hear from, or deleted
                # by hand): look everywhere once more. Unknown ids cost no scan.
                self._scan()
                path = self._indexed(article_id)
            return path

    def prepare(self, probe: bool = True) -> None:
        """Create the root, bring the id index up to date and, with ``probe``, prove
        that a new file can be written there (a folder that exists but refuses writes
        fails here, before anything is fetched). Raises OSError."""
        with self._locked():
            if probe:
                fd, name = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=self.root)
                os.close(fd)
                os.unlink(name)

    def known_path(self, article_id: str) -> Path | None:
        """The record file of an article as the index last saw it (``prepare`` or a
        write brought it up to date), or None. Takes no lock: safe on an event loop."""
        index = self._index
        path = index.get(article_id) if index is not None else None
        return path if path is not None and path.exists() else None

    def iter_files(self) -> Iterator[Path]:
        """Every record file, oldest folder first, in sequence order."""
        return record_files(self.root)

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, with "/" separators (as in articles.file_path)."""
        return path.relative_to(self.root).as_posix()

    # -- locking and the id index -----------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            self.root.mkdir(parents=True, exist_ok=True)
            # Opened per call, not kept: a descriptor inherited across fork() would share
            # one lock between parent and child, and flock would no longer exclude them.
            fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._catch_up()
                yield
            finally:
                os.close(fd)

    def _find(self, article_id: str, folder: Path) -> Path | None:
        """The existing file of ``article_id``; called with the lock held."""
        path = self._indexed(article_id)
        if path is not None:
            return path
        # A file the index does not know (put there by something that keeps no journal).
        path = _listed_file(folder, self._listing(folder), article_id)
        if path is not None:
            self._index_put(article_id, path)
            return path
        if self._index is not None and article_id in self._index:
            # Indexed but gone: another writer moved it without a journal line we could
            # read (e.g. the journal was compacted). Rescan rather than duplicate.
            self._scan()
            return self._indexed(article_id)
        return None

    def _indexed(self, article_id: str) -> Path | None:
        assert self._index is not None
        path = self._index.get(article_id)
        return path if path is not None and path.exists() else None

    def _index_put(self, article_id: str, path: Path) -> None:
        assert self._index is not None
        self._index[article_id] = path
        listing = self._listings.get(path.parent)
        if listing is not None:
            listing.add(article_id, path.name)

    def _listing(self, folder: Path) -> _Listing:
        """The record files of ``folder``, listed again only when the folder changed
        since this process last saw it; called with the lock held. Files other
        writers add reach it through the journal (``_index_put``) even when the
        folder's time, which has the resolution of the kernel's clock tick, did not
        move."""
        try:
            modified = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            self._listings.pop(folder, None)
            return _Listing(0, {}, -1)
        listing = self._listings.get(folder)
        if listing is None or listing.modified_ns != modified:
            listing = _Listing(modified, {}, -1)
            for name in os.listdir(folder):
                match = RECORD_NAME.match(name)
                if match is not None:
                    listing.add(match["id"], name)
            self._listings[folder] = listing
        return listing

    def _changed(self, folder: Path, removed: str | None = None) -> None:
        """Bring the listing of ``folder`` up to date after this process changed it."""
        listing = self._listings.get(folder)
        if listing is None:
            return
        if removed is not None:
            listing.remove(removed)
        try:
            listing.modified_ns = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            del self._listings[folder]

    def _catch_up(self) -> None:
        """Bring the index up to date: a full scan the first time, then the journal lines
        other processes appended since we last looked."""
        stat = self._journal_stat()
        if self._index is None:
            self._scan()
            return
        inode = stat.st_ino if stat is not None else 0
        size = stat.st_size if stat is not None else 0
        if inode != self._journal_inode or size < self._journal_offset:
            # Another journal than the one we read (compacted, or deleted): start over.
            self._scan()
            return
        if size == self._journal_offset:
            return
        journal = self.root / JOURNAL_NAME
        with journal.open("rb") as handle:
            handle.seek(self._journal_offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._journal_offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            article_id, _, relative = line.partition("\t")
            if relative:
                self._index_put(article_id, self.root / relative)

    def _scan(self) -> None:
        """Index every record file under the root; called with the lock held, so no
        writer is active and any temporary file left behind is a crashed writer's."""
        index: dict[str, Path] = {}
        self._listings.clear()
        if self.root.is_dir():
            for entry in os.scandir(self.root):
                if _is_date_folder(entry):
                    self._scan_folder(Path(entry.path), index)
        self._index = index
        stat = self._journal_stat()
        self._journal_inode = stat.st_ino if stat is not None else 0
        self._journal_offset = stat.st_size if stat is not None else 0

    def _journal_stat(self) -> os.stat_result | None:
        try:
            return os.stat(self.root / JOURNAL_NAME)
        except FileNotFoundError:
            return None

    @staticmethod
    def _scan_folder(folder: Path, index: dict[str, Path]) -> None:
        for entry in os.scandir(folder):
            match = RECORD_NAME.match(entry.name)
            if match:
                index[match["id"]] = Path(entry.path)
            elif TEMP_NAME.match(entry.name):
                Path(entry.path).unlink(missing_ok=True)

    def _remember(self, article_id: str, path: Path) -> None:
        """Index a new file and tell the other processes through the journal."""
        self._index_put(article_id, path)
        self._changed(path.parent)
        journal = self.root / JOURNAL_NAME
        line = f"{article_id}\t{self.relative(path)}\n".encode()
        with journal.open("ab") as handle:
            handle.write(line)
            size = handle.tell()
            inode = os.fstat(handle.fileno()).st_ino
        if size > JOURNAL_LIMIT:
            # A fresh, empty journal (new inode) makes every process rescan once.
            _atomic_replace_empty(journal)
            inode, size = os.stat(journal).st_ino, 0
        # Our own line is already in the index; the journal may have just been created.
        self._journal_inode, self._journal_offset = inode, size

    def _result(self, status: SaveStatus, path: Path, digest: str) -> FileWrite:
        return FileWrite(status, path, digest, self.relative(path))


def _listed_file(folder: Path, listing: _Listing, article_id: str) -> Path | None:
    """The file of ``article_id`` that ``listing`` (of ``folder``) names, if it is still
    there."""
    name = listing.names.get(article_id)
    path = folder / name if name is not None else None
    return path if path is not None and path.exists() else None


def _has_content(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def _restored_name(
    listing: _Listing, folder_name: str, article_id: str, relative_path: str | None
) -> str:
    """The file name to restore an article into: its former name when still free, else
    the next sequence number of the folder."""
    if relative_path:
        parts = relative_path.split("/")
        match = RECORD_NAME.match(parts[-1])
        if (
            len(parts) == 2
            and parts[0] == folder_name
            and match is not None
            and match["id"] == article_id
            and int(match["seq"]) not in listing.sequences
        ):
            return parts[1]
    return listing.next_name(article_id)


def _atomic_write(path: Path, data: bytes, article_id: str) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over ``path``:
    a reader sees the old file or the new one, never a part of it."""
    temp = path.parent / f".{article_id}.{secrets.token_hex(4)}.tmp"
    # os.open with 0o666 lets the umask decide the mode, as for any other file the
    # service writes (mkstemp would leave it 0600, unreadable to consumers).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _atomic_replace_empty(path: Path) -> None:
    temp = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
    temp.write_bytes(b"")
    os.replace(temp, path)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; without it a crash could lose a new file's name.
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
