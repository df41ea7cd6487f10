"""When each stored article was last fetched, and the validators its page came with.

A stored article is fetched again while it is recent (the source's ``refresh`` window)
once its last fetch is older than ``refresh.every``, and a page that did not change
(same text, or a 304 answer) leaves its record file untouched: the file's time says when
its content last changed, not when it was last fetched. So the last fetch is kept here,
with the page's ETag and Last-Modified for a conditional GET next time and the
publication time (which decides whether the article is still in its window).

The log lies beside the record files, ``<output_dir>/.checks.jsonl``, so it survives
restarts (every CLI crawl is a new process), needs no database (it works with the
database down and in a fleet sharing one output folder) and is cheap: one JSON line is
appended per fetch, under the file store's lock, and a process reads only the lines
appended since it last looked. A later line for the same article wins over an earlier
one (the newest fetch counts). Past a size limit the log is rewritten atomically with
one line per article, dropping articles not fetched for ``retention``; other processes
notice the new file and read it whole. Losing a line (a crash, a dropped entry) costs
at most one extra fetch: the record file's time stands in for an unknown last fetch.

One JSON object per line::

    {"id": "<article id>", "fetched": "<ISO 8601 with offset>",
     "published": "<ISO 8601 with offset>", "etag": "...", "last_modified": "..."}

(``published``, ``etag`` and ``last_modified`` only when known). The output folder may be
written by other hands and the validators go out as request headers, so every line is
checked: an article id, times with their offsets, validators of printable ASCII of a
bounded length. A line that fails is ignored.

Reading and writing the log is blocking I/O: call ``load`` and ``save`` in a thread;
``get`` and ``note`` only touch memory and are safe on the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scraper.storage.files import LOCK_NAME

log = logging.getLogger(__name__)

CHECKS_NAME = ".checks.jsonl"
# Articles not fetched for this long are dropped when the log is compacted. Only a
# refresh window longer than this with an ``every`` longer than this would need them.
RETENTION = timedelta(days=14)
# The log is compacted once it grows past twice its size after the last compaction, and
# at least past this.
COMPACT_AT = 4 * 1024 * 1024
MAX_LINE_BYTES = 4096
MAX_VALIDATOR_CHARS = 512
_ARTICLE_ID = re.compile(r"[0-9a-f]{16}")
# Printable ASCII: a validator is sent back as a header value, never with a line break.
_VALIDATOR = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True)
class ArticleCheck:
    """The last fetch of one stored article."""

    article_id: str
    fetched_at: datetime  # with its offset
    published: datetime | None = None  # the stored document's publication time
    etag: str | None = None  # the page's ETag, for If-None-Match
    last_modified: str | None = None  # its Last-Modified, for If-Modified-Since

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)

    def to_line(self) -> bytes:
        data: dict[str, str] = {"id": self.article_id, "fetched": self.fetched_at.isoformat()}
        if self.published is not None:
            data["published"] = self.published.isoformat()
        if self.etag:
            data["etag"] = self.etag
        if self.last_modified:
            data["last_modified"] = self.last_modified
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> ArticleCheck | None:
        """The check of one log line, or None when the line is not a valid one."""
        if len(line) > MAX_LINE_BYTES:
            return None
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        article_id = data.get("id")
        fetched = _aware_time(data.get("fetched"))
        if not isinstance(article_id, str) or not _ARTICLE_ID.fullmatch(article_id):
            return None
        if fetched is None:
            return None
        published = _aware_time(data.get("published"))
        if "published" in data and published is None:
            return None
        etag, last_modified = data.get("etag"), data.get("last_modified")
        if not (_valid_validator(etag) and _valid_validator(last_modified)):
            return None
        return cls(article_id, fetched, published, etag, last_modified)


def valid_validator(value: str | None) -> str | None:
    """``value`` when it may be kept and sent back as a header value, else None."""
    return value if value is not None and _valid_validator(value) else None


def _valid_validator(value: Any) -> bool:
    if value is None:
        return True
    return (
        isinstance(value, str)
        and len(value) <= MAX_VALIDATOR_CHARS
        and bool(_VALIDATOR.fullmatch(value))
    )


def _aware_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _newer(check: ArticleCheck, current: ArticleCheck | None) -> bool:
    return current is None or check.fetched_at >= current.fetched_at


class CheckLog:
    """The checks of the articles under ``root``, in memory and in ``root/.checks.jsonl``.

    Shared by every crawl job of a process; safe between threads and processes."""

    def __init__(self, root: Path, retention: timedelta = RETENTION) -> None:
        self.root = Path(root)
        self.path = self.root / CHECKS_NAME
        self.retention = retention
        self._checks: dict[str, ArticleCheck] = {}
        self._pending: dict[str, ArticleCheck] = {}  # noted, not yet saved
        self._mutex = threading.Lock()  # guards the two dicts; never held during I/O
        self._io = threading.Lock()  # one load or save at a time in this process
        self._inode = 0
        self._offset = 0  # bytes of the log read so far
        self._compact_at = COMPACT_AT

    # -- memory only: safe on the event loop ---------------------------------------------

    def get(self, article_id: str) -> ArticleCheck | None:
        return self._checks.get(article_id)

    def note(self, check: ArticleCheck) -> None:
        """Remember a fetch; ``save`` writes it to the log."""
        with self._mutex:
            if _newer(check, self._checks.get(check.article_id)):
                self._checks[check.article_id] = check
                self._pending[check.article_id] = check

    def __len__(self) -> int:
        return len(self._checks)

    # -- blocking: call in a thread ----------------------------------------------------

    def load(self) -> None:
        """Read what other processes appended since the last call (the whole log the
        first time, or after another process compacted it). Never raises: an unreadable
        log only means more fetches."""
        with self._io:
            try:
                self._read()
            except OSError as exc:
                log.warning("cannot read %s: %s", self.path, exc)

    def save(self) -> None:
        """Append the noted checks to the log (compacting it past its size limit). An
        unwritable log is logged and its checks dropped (the files' times stand in)."""
        with self._mutex:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        data = b"".join(check.to_line() for check in pending.values())
        with self._io:
            try:
                with self._locked():
                    self._append(data)
            except OSError as exc:
                log.warning("cannot write %s: %s", self.path, exc)

    # -- the file --------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The file store's lock: one writer of the output folder's files at a time.
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self._inode = self._offset = 0
            return
        with handle:
            stat = os.fstat(handle.fileno())
            whole = stat.st_ino != self._inode or stat.st_size < self._offset
            if not whole and stat.st_size == self._offset:
                return
            handle.seek(0 if whole else self._offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        checks = _parse(complete)
        with self._mutex:
            if whole:  # built aside: ``get`` reads without the mutex
                fresh: dict[str, ArticleCheck] = {}
                for check in [*checks, *self._pending.values()]:
                    if _newer(check, fresh.get(check.article_id)):
                        fresh[check.article_id] = check
                self._checks = fresh
            else:
                self._merge(checks)
        self._inode = stat.st_ino
        self._offset = (0 if whole else self._offset) + len(complete)

    def _append(self, data: bytes) -> None:
        """Called with the lock held."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            before = os.fstat(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if before.st_ino == self._inode and before.st_size == self._offset:
            # Nobody appended since we last read: our own lines need no reading back.
            self._offset = size
        if size > self._compact_at:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the log with the latest check of each article fetched within the
        retention; called with the lock held, so no other process appends meanwhile."""
        data = self.path.read_bytes()
        latest: dict[str, ArticleCheck] = {}
        for check in _parse(data[: data.rfind(b"\n") + 1]):
            if _newer(check, latest.get(check.article_id)):
                latest[check.article_id] = check
        cutoff = datetime.now(UTC) - self.retention
        kept = [check for check in latest.values() if check.fetched_at >= cutoff]
        text = b"".join(check.to_line() for check in kept)
        temp = self.root / f"{CHECKS_NAME}.{secrets.token_hex(4)}.tmp"
        try:
            temp.write_bytes(text)
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        stat = os.stat(self.path)
        fresh = {check.article_id: check for check in kept}
        with self._mutex:
            for check in self._pending.values():  # noted while we wrote
                if _newer(check, fresh.get(check.article_id)):
                    fresh[check.article_id] = check
            self._checks = fresh
        self._inode, self._offset = stat.st_ino, stat.st_size
        self._compact_at = max(COMPACT_AT, 2 * len(text))
        log.info("compacted %s: %d articles", self.path, len(kept))

    def _merge(self, checks: Iterable[ArticleCheck]) -> None:
        """Called with the mutex held."""
        for check in checks:
            if _newer(check, self._checks.get(check.article_id)):
                self._checks[check.article_id] = check


def _parse(data: bytes) -> list[ArticleCheck]:
    checks = []
    for line in data.splitlines():
        check = ArticleCheck.from_line(line)
        if check is not None:
            checks.append(check)
    return checks
