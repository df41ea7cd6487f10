"""Bringing the database level with the files after it was unreachable.

While the database is down a crawl keeps writing files and notes, in a journal beside
them (``.db-pending.jsonl``), what the database has not got yet: each file it wrote, with
the source that wrote it and where the publication date came from (which the record file
has no place for), and each sighting of an article URL by a discovery channel. The next
run (or ``scraper db sync``) stores every file that has no row or a different content
hash, taking the source ids and the date's provenance from that journal, records the
sightings (again: a repeated sighting is stored once), then removes the journal.

One JSON object per line, either an article::

    {"id": "<article id>", "source_id": "<source>", "file": "<YYYY-MM-DD>/<NNN>_<id>.txt",
     "published_original": "<as stated>" | null, "date_source": "<candidate>" | null,
     "authors": ["<name>", ...] | null, "description": "<text>" | null,
     "image_url": "<URL>" | null, "modified_at": "<ISO 8601 with offset>" | null,
     "section": "<name>" | null, "tags": ["<tag>", ...] | null}

(lines written before the provenance was journalled lack the provenance keys, and lines
written before schema version 4 the page's metadata, authors to tags), a
sighting::

    {"kind": "discovery", "url": "<article URL>", "source_id": "<source>",
     "channel": "feed", "aggregator": "RSS", "discovered_at": "<ISO 8601 with offset>"}

a canonical claim (a stored article's claim on the URL its canonical link names;
see ``canonical_claims`` in docs/schema.md), stored once its article's row is::

    {"kind": "claim", "url": "<claimed URL>", "article_id": "<article id>",
     "created_at": "<ISO 8601 with offset>"}

an alias (another URL of a stored article, ``article_aliases``), the same keys with
``"kind": "alias"``, or a crawl run whose end the database did not hear
(``crawl_runs``; see docs/schema.md).

The journal lies in the output folder, which other hands may write to, so each of its
lines is checked before anything is read on its word: well-formed JSON with an article
id, a source id and the relative path of that article's record file, a regular file under
the output folder (no absolute path, no "..", no symlink out of it); a sighting with an
http(s) URL, a source id, a channel name and a time with its offset; a claim or an
alias with an http(s) URL, an article id and a time with its offset. A line that fails
is skipped, counted and logged with its reason; its path is never opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from scraper.dates import in_safe_years
from scraper.document import (
    MAX_DESCRIPTION_CHARS,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    Document,
    bounded_url,
    render,
)
from scraper.reader import read_document
from scraper.storage.base import (
    AliasRecord,
    ArticleRecord,
    ClaimRecord,
    Database,
    DiscoveryRecord,
    RunRecord,
)
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
# A journal line is a few hundred bytes; anything this long is not one of ours.
MAX_LINE_BYTES = 64 * 1024
DISCOVERY_KIND = "discovery"
CLAIM_KIND = "claim"
ALIAS_KIND = "alias"
RUN_KIND = "run"
MAX_URL_CHARS = 32 * 1024
MAX_TEXT_CHARS = 200  # published_original, aggregator
_ARTICLE_ID = re.compile(r"[0-9a-f]{16}")
_SOURCE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,199}")  # a source file's slug
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")  # a channel, a date source
_ARTICLE_KEYS = frozenset({"id", "source_id", "file"})
_PROVENANCE_KEYS = frozenset({"published_original", "date_source"})
# The page's metadata (issue 11): Document fields, journalled as the row stores them.
_DETAIL_KEYS = frozenset({"authors", "description", "image_url", "modified_at", "section", "tags"})
_DISCOVERY_KEYS = frozenset({"kind", "url", "source_id", "channel", "aggregator", "discovered_at"})
_LINK_KEYS = frozenset({"kind", "url", "article_id", "created_at"})  # a claim, an alias
_RUN_KEYS = frozenset(
    {
        "kind",
        "source_id",
        "started_at",
        "finished_at",
        "status",
        "counts",
        "worker",
        "job_id",
        "run_id",
    }
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FINISHED_RUN_STATUSES = frozenset({"ok", "partial", "failed"})
_MAX_ROW_ID = 2**63 - 1  # a bigint (PostgreSQL), an INTEGER (SQLite)

Provenance = tuple[str | None, str | None]  # (published_original, date_source)
# Document field -> value of the page's metadata (authors, description, image_url,
# modified_at, section, tags), as dataclasses.replace takes them.
PageDetails = dict[str, Any]


# A journal being replayed: the live one renamed, so that lines crawls append meanwhile
# go to a new live journal and are not deleted with the replayed one.
CLAIMED_GLOB = ".db-pending.*.jsonl"


def pending_path(root: Path) -> Path:
    return Path(root) / PENDING_NAME


def journal_paths(root: Path) -> list[Path]:
    """Every journal under ``root``, oldest first: those claimed by a catch-up that did
    not finish, then the live one."""
    return [*sorted(Path(root).glob(CLAIMED_GLOB)), pending_path(root)]


def has_pending(root: Path) -> bool:
    return any(path.exists() or path.is_symlink() for path in journal_paths(root))


def claim_pending(root: Path) -> list[Path]:
    """Set the live journal aside for a catch-up and return every claimed journal,
    oldest first. Lines written from now on go to a new live journal, which this
    catch-up leaves alone (``release_pending`` deletes only what was claimed)."""
    live = pending_path(root)
    # Not a folder of that name (the reader skips it, logged): renamed, it would stay
    # claimed, undeletable, at every catch-up.
    if live.is_symlink() or not live.is_dir():
        with contextlib.suppress(FileNotFoundError):  # nothing journalled since
            os.replace(live, Path(root) / f".db-pending.{time.time_ns()}.jsonl")
    return sorted(Path(root).glob(CLAIMED_GLOB))


def release_pending(claimed: Iterable[Path]) -> None:
    """Delete the journals a finished catch-up replayed (a folder among them, which
    no journal is, stays: the reader skipped it)."""
    for path in claimed:
        with contextlib.suppress(IsADirectoryError):
            path.unlink(missing_ok=True)


def note_pending(
    root: Path,
    records: Iterable[ArticleRecord],
    discoveries: Iterable[DiscoveryRecord] = (),
    claims: Iterable[ClaimRecord] = (),
    runs: Iterable[RunRecord] = (),
    aliases: Iterable[AliasRecord] = (),
) -> None:
    """Append what the database did not take to the journal (one line each): the
    articles (with the date's provenance), the sightings, the aliases, the canonical
    claims and the crawl runs whose end the database did not hear."""
    lines = [_article_line(r) for r in records]
    lines += [_discovery_line(d) for d in discoveries]
    lines += [_link_line(ALIAS_KIND, a) for a in aliases]
    lines += [_link_line(CLAIM_KIND, c) for c in claims]
    lines += [_run_line(r) for r in runs]
    if not lines:
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(pending_path(root), "a", encoding="utf-8") as journal:
        journal.write("".join(line + "\n" for line in lines))
        journal.flush()
        os.fsync(journal.fileno())


def _article_line(record: ArticleRecord) -> str:
    doc = record.document
    return json.dumps(
        {
            "id": doc.id,
            "source_id": record.source_id,
            "file": record.file_path,
            "published_original": doc.published_original,
            "date_source": doc.date_source,
            **doc.page_metadata_fields(),
        },
        ensure_ascii=False,
    )


def _discovery_line(record: DiscoveryRecord) -> str:
    return json.dumps(
        {
            "kind": DISCOVERY_KIND,
            "url": record.url,
            "source_id": record.source_id,
            "channel": record.channel,
            "aggregator": record.aggregator,
            "discovered_at": record.discovered_at.isoformat(),
        },
        ensure_ascii=False,
    )


def _link_line(kind: str, record: AliasRecord | ClaimRecord) -> str:
    return json.dumps(
        {
            "kind": kind,
            "url": record.url,
            "article_id": record.article_id,
            "created_at": record.created_at.isoformat(),
        },
        ensure_ascii=False,
    )


def _run_line(record: RunRecord) -> str:
    return json.dumps(
        {
            "kind": RUN_KIND,
            "source_id": record.source_id,
            "started_at": record.started_at.isoformat(),
            "finished_at": record.finished_at.isoformat(),
            "status": record.status,
            "counts": record.counts,
            "worker": record.worker,
            "job_id": record.job_id,
            "run_id": record.run_id,
        },
        ensure_ascii=False,
        default=str,
    )


@dataclass(frozen=True)
class PendingEntry:
    """A valid article line of the journal."""

    id: str  # article id
    source_id: str
    file: Path  # its record file: resolved, under the output folder
    published_original: str | None = None  # None in lines of older scrapers too
    date_source: str | None = None
    # The page's metadata; None when the line has none (written from a file's document,
    # or by a scraper before schema version 4).
    details: PageDetails | None = None


# What one valid journal line holds.
JournalItem = PendingEntry | DiscoveryRecord | AliasRecord | ClaimRecord | RunRecord


@dataclass
class PendingJournal:
    entries: list[PendingEntry] = field(default_factory=list)
    discoveries: list[DiscoveryRecord] = field(default_factory=list)
    aliases: list[AliasRecord] = field(default_factory=list)
    claims: list[ClaimRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "line N: reason", one per bad line

    @property
    def sources(self) -> dict[str, str]:
        return {entry.id: entry.source_id for entry in self.entries}

    @property
    def provenance(self) -> dict[str, Provenance]:
        """Article id -> (published_original, date_source) of the articles whose line
        says where the date came from; the last line of an article wins (its file holds
        the last version written)."""
        found: dict[str, Provenance] = {}
        for entry in self.entries:
            pair = (entry.published_original, entry.date_source)
            if pair == (None, None):
                found.pop(entry.id, None)
            else:
                found[entry.id] = pair
        return found

    @property
    def details(self) -> dict[str, PageDetails]:
        """Article id -> the page's metadata (Document fields) of the articles whose line
        gives it; the last line of an article wins, as for ``provenance``."""
        found: dict[str, PageDetails] = {}
        for entry in self.entries:
            if entry.details is None:
                found.pop(entry.id, None)
            else:
                found[entry.id] = entry.details
        return found


class BadJournalLine(ValueError):
    """Why a journal line is not used (the message is the one-line reason)."""


def parse_pending_line(line: str, root: Path) -> JournalItem:
    """The article entry, sighting, alias, claim or run of one journal line, checked
    against the output folder ``root`` (the path is judged as text before the file system
    is asked anything about it). Raises BadJournalLine."""
    try:
        # NaN and Infinity are no JSON: no database column takes them back.
        value: Any = json.loads(line, parse_constant=_refuse_constant)
    except ValueError:
        raise BadJournalLine("not JSON") from None
    except RecursionError:  # thousands of nested brackets fit in a line
        raise BadJournalLine("nested too deep") from None
    if not isinstance(value, dict):
        raise BadJournalLine("not a JSON object")
    if value.get("kind") == DISCOVERY_KIND:
        return _parse_discovery(value)
    if value.get("kind") == CLAIM_KIND:
        return ClaimRecord(*_parse_link(value, "claim"))
    if value.get("kind") == ALIAS_KIND:
        return AliasRecord(*_parse_link(value, "alias"))
    if value.get("kind") == RUN_KIND:
        return _parse_run(value)
    keys = set(value)
    if not _ARTICLE_KEYS <= keys <= _ARTICLE_KEYS | _PROVENANCE_KEYS | _DETAIL_KEYS:
        listed = ", ".join(sorted(map(str, value))) or "none"
        raise BadJournalLine(
            f"expected the keys file, id, source_id (and date_source, published_original, "
            f"{', '.join(sorted(_DETAIL_KEYS))}), got {listed}"
        )
    article, source, file = value["id"], value["source_id"], value["file"]
    if not isinstance(article, str) or not _ARTICLE_ID.fullmatch(article):
        raise BadJournalLine("id: not an article id")
    if not isinstance(source, str) or not _SOURCE_ID.fullmatch(source):
        raise BadJournalLine("source_id: not a source id")
    if not isinstance(file, str):
        raise BadJournalLine("file: not a string")
    original = _optional_text(value, "published_original")
    date_source = value.get("date_source")
    if date_source is not None and not (
        isinstance(date_source, str) and _NAME.fullmatch(date_source)
    ):
        raise BadJournalLine("date_source: not a date source name")
    details = _parse_details(value)
    path = _record_path(file, article, root)
    return PendingEntry(article, source, path, original, date_source, details)


def _parse_details(value: dict[str, Any]) -> PageDetails | None:
    """The page's metadata of an article line, checked against the bounds a Document
    keeps (scraper.document); None when the line has none."""
    if all(value.get(key) is None for key in _DETAIL_KEYS):
        return None
    details: PageDetails = {
        "authors": _optional_names(value, "authors"),
        "description": _optional_text(value, "description", MAX_DESCRIPTION_CHARS),
        "section": _optional_text(value, "section", MAX_NAME_CHARS),
        "tags": _optional_names(value, "tags"),
        "image_url": None,
        "modified_at": None,
    }
    image = value.get("image_url")
    if image is not None:
        details["image_url"] = bounded_url(image)
        if details["image_url"] is None or details["image_url"] != image:
            raise BadJournalLine("image_url: not an http(s) URL")
    modified = value.get("modified_at")
    if modified is not None:
        moment = _aware_time(modified)
        if moment is None:
            raise BadJournalLine("modified_at: not an ISO 8601 time with its offset")
        details["modified_at"] = moment
    return details


def _optional_names(value: dict[str, Any], key: str) -> tuple[str, ...] | None:
    names = value.get(key)
    if names is None:
        return None
    if (
        not isinstance(names, list)
        or len(names) > MAX_LIST_ITEMS
        or not all(
            isinstance(name, str) and len(name) <= MAX_NAME_CHARS and not _CONTROL.search(name)
            for name in names
        )
    ):
        raise BadJournalLine(
            f"{key}: not a list of at most {MAX_LIST_ITEMS} short one-line strings"
        )
    return tuple(names)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON")


def _aware_time(text: object) -> datetime | None:
    """The time ``text`` states with its offset; None for none, or for one in the first
    or last year a datetime holds (stored in UTC, it would overflow)."""
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if moment is None or moment.utcoffset() is None or not in_safe_years(moment):
        return None
    return moment


def _parse_discovery(value: dict[str, Any]) -> DiscoveryRecord:
    if set(value) != _DISCOVERY_KEYS:
        listed = ", ".join(sorted(map(str, value)))
        raise BadJournalLine(
            f"expected the keys of a sighting ({', '.join(sorted(_DISCOVERY_KEYS))}), got {listed}"
        )
    url, source, channel = _checked_url(value["url"]), value["source_id"], value["channel"]
    if not isinstance(source, str) or not _SOURCE_ID.fullmatch(source):
        raise BadJournalLine("source_id: not a source id")
    if not isinstance(channel, str) or not _NAME.fullmatch(channel):
        raise BadJournalLine("channel: not a channel name")
    aggregator = _optional_text(value, "aggregator")
    if aggregator is None:
        raise BadJournalLine("aggregator: not a string")
    moment = _aware_time(value["discovered_at"])
    if moment is None:
        raise BadJournalLine("discovered_at: not an ISO 8601 time with its offset")
    return DiscoveryRecord(url, source, channel, aggregator, moment)


def _parse_link(value: dict[str, Any], what: str) -> tuple[str, str, datetime]:
    """The URL, article id and time of a claim or an alias line."""
    if set(value) != _LINK_KEYS:
        listed = ", ".join(sorted(map(str, value)))
        raise BadJournalLine(
            f"expected the keys of {'an' if what[0] in 'aeiou' else 'a'} {what} "
            f"({', '.join(sorted(_LINK_KEYS))}), got {listed}"
        )
    url, article = _checked_url(value["url"]), value["article_id"]
    if not isinstance(article, str) or not _ARTICLE_ID.fullmatch(article):
        raise BadJournalLine("article_id: not an article id")
    moment = _aware_time(value["created_at"])
    if moment is None:
        raise BadJournalLine("created_at: not an ISO 8601 time with its offset")
    return url, article, moment


def _parse_run(value: dict[str, Any]) -> RunRecord:
    if set(value) != _RUN_KEYS:
        listed = ", ".join(sorted(map(str, value)))
        raise BadJournalLine(
            f"expected the keys of a run ({', '.join(sorted(_RUN_KEYS))}), got {listed}"
        )
    source, status, counts = value["source_id"], value["status"], value["counts"]
    if not isinstance(source, str) or not _SOURCE_ID.fullmatch(source):
        raise BadJournalLine("source_id: not a source id")
    if status not in _FINISHED_RUN_STATUSES:
        raise BadJournalLine(f"status: not one of {', '.join(sorted(_FINISHED_RUN_STATUSES))}")
    if not isinstance(counts, dict):
        raise BadJournalLine("counts: not a JSON object")
    started, finished = _aware_time(value["started_at"]), _aware_time(value["finished_at"])
    if started is None or finished is None:
        raise BadJournalLine("started_at, finished_at: not ISO 8601 times with their offset")
    if finished < started:
        raise BadJournalLine("finished_at: before started_at")
    numbers = {key: value[key] for key in ("job_id", "run_id")}
    for key, number in numbers.items():
        if number is not None and (type(number) is not int or not 0 < number <= _MAX_ROW_ID):
            raise BadJournalLine(f"{key}: not a positive 64-bit integer")
    worker = _optional_text(value, "worker")
    return RunRecord(
        source, started, finished, status, counts, worker, numbers["job_id"], numbers["run_id"]
    )


def _checked_url(url: object) -> str:
    if (
        not isinstance(url, str)
        or not url.startswith(("http://", "https://"))
        or len(url) > MAX_URL_CHARS
        or any(c.isspace() for c in url)
        or _CONTROL.search(url)
    ):
        raise BadJournalLine("url: not an http(s) URL")
    return url


def _optional_text(value: dict[str, Any], key: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    """``value[key]``: absent or null (None), or a one-line string of at most ``limit``
    characters."""
    text = value.get(key)
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > limit or _CONTROL.search(text):
        raise BadJournalLine(f"{key}: not a short one-line string")
    return text


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


@dataclass(frozen=True)
class _Skipped:
    line: int | None  # None: the journal itself was not read
    reason: str

    def __str__(self) -> str:
        where = "journal" if self.line is None else f"line {self.line}"
        return f"{where}: {self.reason}"


def load_pending(
    root: Path, *, discoveries: bool = True, paths: Sequence[Path] | None = None
) -> PendingJournal:
    """The journals' valid entries (and sightings, unless ``discoveries`` is False:
    ``replay_discoveries`` streams them instead), and why each other line was skipped
    (logged). ``paths``: the journals to read (default: every one under ``root``)."""
    journal = PendingJournal()
    for path, item in _scan_all(root, paths):
        if isinstance(item, PendingEntry):
            journal.entries.append(item)
        elif isinstance(item, DiscoveryRecord):
            if discoveries:
                journal.discoveries.append(item)
        elif isinstance(item, ClaimRecord):
            journal.claims.append(item)
        elif isinstance(item, AliasRecord):
            journal.aliases.append(item)
        elif isinstance(item, RunRecord):
            journal.runs.append(item)
        else:
            journal.skipped.append(str(item))
            if item.line is None:
                log.warning("pending journal %s not read: %s", path, item.reason)
            else:
                log.warning("pending journal %s line %d skipped: %s", path, item.line, item.reason)
    return journal


def pending_discoveries(
    root: Path, paths: Sequence[Path] | None = None
) -> Iterator[DiscoveryRecord]:
    """The journals' valid sightings, streamed (bad lines are skipped silently here:
    ``load_pending`` reports them)."""
    for _path, item in _scan_all(root, paths):
        if isinstance(item, DiscoveryRecord):
            yield item


def _scan_all(
    root: Path, paths: Sequence[Path] | None
) -> Iterator[tuple[Path, JournalItem | _Skipped]]:
    for path in journal_paths(root) if paths is None else paths:
        for item in _scan(root, path):
            yield path, item


def _scan(root: Path, path: Path) -> Iterator[JournalItem | _Skipped]:
    """What each line of the journal holds, or why it is skipped, one line at a time."""
    try:
        handle = _open_journal(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        yield _Skipped(None, "a symlink" if exc.errno == errno.ELOOP else exc.strerror or str(exc))
        return
    with handle:
        for number, raw in _journal_lines(handle):
            if raw is not None and not raw.strip():
                continue
            item: JournalItem | _Skipped
            try:
                if raw is None:
                    raise BadJournalLine(f"longer than {MAX_LINE_BYTES} bytes")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise BadJournalLine("not UTF-8") from None
                item = parse_pending_line(line, Path(root))
            except BadJournalLine as exc:
                item = _Skipped(number, str(exc))
            yield item


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
    return load_pending(root, discoveries=False).sources


def replay_discoveries(
    database: Database,
    root: Path,
    batch_size: int = 1000,
    paths: Sequence[Path] | None = None,
) -> int:
    """Record the journals' sightings in batches; returns how many lines were replayed.
    Replaying twice stores nothing twice (a sighting is stored once)."""
    count = 0
    batch: list[DiscoveryRecord] = []
    for record in pending_discoveries(root, paths):
        batch.append(record)
        if len(batch) >= batch_size:
            database.record_discoveries(batch)
            count, batch = count + len(batch), []
    if batch:
        database.record_discoveries(batch)
        count += len(batch)
    return count


@dataclass
class SyncResult:
    checked: int = 0  # record files looked at
    new: int = 0  # stored without a row before
    updated: int = 0  # row replaced by the file's content
    level: int = 0  # row already held the file's content
    unreadable: int = 0  # not a record: skipped (and logged)
    refused: int = 0  # rows the database would not hold (logged): their files stay
    # Second record files of an article that has another (logged): left out, or each
    # sync would set the row to each file in turn.
    duplicates: int = 0


def sync_files(
    database: Database,
    folder: Path,
    guess_source: Callable[[Document], str] = lambda _: "",
    batch_size: int = 500,
    provenance: Mapping[str, Provenance] | None = None,
    details: Mapping[str, PageDetails] | None = None,
) -> SyncResult:
    """Store every record file under ``folder`` that has no row, or whose content hash
    differs from its row's, in batches of ``batch_size``. Files whose hash matches are
    not even parsed (unless ``provenance`` has their article: a row without one gets
    it). A new row gets ``guess_source(document)`` as its source_id; an existing row
    keeps its own.

    A record file does not say where its date came from: ``provenance`` (article id ->
    (published_original, date_source), from the pending journal) does for the files
    it names; the others are stored without, and a stored provenance stays. The page's
    metadata (``details``, from the journal too) goes the same way."""
    result = SyncResult()
    batch: list[Path] = []
    known = _Journalled(provenance or {}, details or {})
    second_copies = _second_copies(database, folder)
    for path in record_files(folder):
        if path in second_copies:
            result.checked += 1
            result.duplicates += 1
            continue
        batch.append(path)
        if len(batch) >= batch_size:
            _sync_batch(database, folder, batch, guess_source, result, known)
            batch = []
    if batch:
        _sync_batch(database, folder, batch, guess_source, result, known)
    return result


def _second_copies(database: Database, folder: Path) -> set[Path]:
    """The record files to leave out because their article has another one (a backup
    put back after the article's date moved it to another folder, say): of each set of
    files of one article, the one its row names is kept, else the newest. Each file
    left out is logged with the one kept."""
    first: dict[str, Path] = {}
    copies: dict[str, list[Path]] = {}
    for path in record_files(folder):
        article = record_id(path)
        if article is not None and first.setdefault(article, path) != path:
            copies.setdefault(article, [first[article]]).append(path)
    if not copies:
        return set()
    rows = {row["id"]: row["file_path"] for row in database.articles_by_id(list(copies))}
    left_out: set[Path] = set()
    for article, paths in copies.items():
        named = [p for p in paths if p.relative_to(folder).as_posix() == rows.get(article)]
        kept = named[0] if named else max(paths, key=_modified_time)
        for path in paths:
            if path != kept:
                left_out.add(path)
                log.warning(
                    "%s is a second record file of article %s (kept: %s): left out; "
                    "delete the one that is stale",
                    path,
                    article,
                    kept,
                )
    return left_out


def _modified_time(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class _Journalled:
    """What the journal says of the files that the files themselves cannot."""

    provenance: Mapping[str, Provenance]
    details: Mapping[str, PageDetails]

    def __contains__(self, article: object) -> bool:
        return article in self.provenance or article in self.details

    def complete(self, document: Document) -> Document:
        if document.id in self.provenance:
            original, date_source = self.provenance[document.id]
            document = replace(document, published_original=original, date_source=date_source)
        if document.id in self.details:
            document = replace(document, **self.details[document.id])
        return document


def _sync_batch(
    database: Database,
    folder: Path,
    paths: list[Path],
    guess_source: Callable[[Document], str],
    result: SyncResult,
    journalled: _Journalled,
) -> None:
    result.checked += len(paths)
    stored = database.content_hashes(record_id(path) or "" for path in paths)
    records: list[ArticleRecord] = []
    for path in paths:
        try:
            record = _record_if_different(path, folder, stored, guess_source, journalled)
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
        elif status == "refused":
            result.refused += 1
        else:
            result.level += 1


def _record_if_different(
    path: Path,
    folder: Path,
    stored: Mapping[str, str],
    guess_source: Callable[[Document], str],
    journalled: _Journalled,
) -> ArticleRecord | None:
    """The record to store for ``path``, None when its row is level (and there is no
    provenance to give it). Raises OSError or ValueError when the file cannot be read
    or is not a record."""
    article = record_id(path) or ""
    stored_hash = stored.get(article)
    if stored_hash is not None and article not in journalled:
        # The content hash is the sha256 of the record text, i.e. of the file's bytes.
        text = path.read_bytes().decode("utf-8")
        if content_hash(text) == stored_hash:
            return None
    document = journalled.complete(read_document(path))
    return ArticleRecord(
        document=document,
        source_id="" if stored_hash is not None else guess_source(document),
        file_path=path.relative_to(folder).as_posix(),
        content_hash=content_hash(render(document)),
    )


def sync_pending(database: Database, files: FileStore) -> int:
    """Store what the journal lists (and any other file without its row) with the
    journalled source ids and date provenance, and record the journalled sightings;
    returns how many article rows were written. The journal goes only once everything
    is stored; lines crawls append meanwhile stay for the next catch-up."""
    claimed = claim_pending(files.root)
    journal = load_pending(files.root, discoveries=False, paths=claimed)
    if journal.skipped:
        log.warning("pending journal: %d bad lines skipped", len(journal.skipped))
    sources = journal.sources
    result = sync_files(
        database,
        files.root,
        lambda doc: sources.get(doc.id, ""),
        provenance=journal.provenance,
        details=journal.details,
    )
    sightings = replay_discoveries(database, files.root, paths=claimed)
    store_journalled_links(database, journal)
    release_pending(claimed)
    log.info(
        "database caught up with the files: %d new, %d updated rows, %d sightings",
        result.new,
        result.updated,
        sightings,
    )
    if result.refused:
        log.error("the database refused %d rows (see above); their files stay", result.refused)
    return result.new + result.updated


_RECENT_RUNS_LOOKED_AT = 100  # per source


def record_runs(database: Database, runs: Iterable[RunRecord]) -> None:
    """Write each journalled run to crawl_runs: into the row that is that run already
    (the same source, start and worker: the row its start made, or one an earlier
    catch-up wrote), else as a row of its own. Replaying a run twice writes it once,
    and a row of another run is never taken for it."""
    runs = list(runs)
    if not runs:
        return
    rows = {
        (row["source_id"], _instant(row["started_at"]), row["worker"]): row["id"]
        for row in database.recent_runs(_RECENT_RUNS_LOOKED_AT)
    }
    for run in runs:
        key = (run.source_id, run.started_at, run.worker)
        run_id = rows.get(key)
        if run_id is None:
            run_id = database.start_run(run.source_id, run.started_at, run.worker, run.job_id)
            rows[key] = run_id
        database.finish_run(run_id, run.finished_at, run.status, run.counts)


def _instant(value: datetime | str) -> datetime:
    """A crawl_runs time as read back: a datetime (PostgreSQL) or its text (SQLite)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def store_journalled_links(database: Database, journal: PendingJournal) -> None:
    """Store what the journal holds besides the articles and the sightings: the aliases
    and the claims (after the rows of the articles they name: aliases first, as a crawl
    stores them) and the crawl runs."""
    database.save_aliases(journal.aliases)
    database.save_claims(journal.claims)
    record_runs(database, journal.runs)


async def sync_if_behind(database: Database, files: FileStore) -> None:
    """Before a crawl: catch the database up when an earlier run left it behind."""
    if has_pending(files.root):
        await asyncio.to_thread(sync_pending, database, files)
