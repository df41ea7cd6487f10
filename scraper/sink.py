"""Where documents go: their file at once, the database in batches.

Files are the primary copy and are always written; the database row follows in a batch
(one transaction per batch, never one commit per row). When the database fails, the
crawl goes on writing files and the sink remembers that the database is behind, so the
run ends with a non-zero exit and the next run can bring the database level again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from scraper.document import Document, render
from scraper.logs import one_line
from scraper.storage.base import (
    AliasRecord,
    ArticleRecord,
    ClaimRecord,
    Database,
    DatabaseError,
    DiscoveryRecord,
    RowStatus,
)
from scraper.storage.files import FileStore
from scraper.storage.sync import note_pending
from scraper.summary import CrawlSummary

log = logging.getLogger(__name__)


# Counted for an article whose file was written but whose row the database refused
# for what it holds (RowRefused): the file stays, the next crawl's levelling tries the
# row again.
ROW_REFUSED = "database: row refused"


@dataclass
class ArticleSink:
    files: FileStore
    database: Database | None
    dry_run: bool = False
    # Set when the database could not be opened or failed: rows then go to the journal.
    batch_size: int = 200
    database_error: str | None = None
    _articles: list[ArticleRecord] = field(default_factory=list)
    _discoveries: list[DiscoveryRecord] = field(default_factory=list)
    _aliases: list[AliasRecord] = field(default_factory=list)
    _claims: list[ClaimRecord] = field(default_factory=list)
    # The summary each queued article was counted in, and as what, by article id: a row
    # the database refuses is counted as failed there instead.
    _counted: dict[str, tuple[CrawlSummary, str]] = field(default_factory=dict)
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Called with each stored document's id and status (the daemon's metrics listen here).
    on_stored: Callable[[str, str, str], None] | None = None

    async def store(self, doc: Document, source_id: str, summary: CrawlSummary) -> str:
        """Write ``doc``'s file and queue its row; returns new / updated / unchanged."""
        if self.dry_run:
            status = self._would_be(doc)
            summary.add(status)
            return status
        written = await asyncio.to_thread(self.files.write, doc)
        summary.add(written.status)
        if self.on_stored is not None:
            self.on_stored(source_id, doc.id, written.status)
        self._articles.append(
            ArticleRecord(doc, source_id, written.relative_path, written.content_hash)
        )
        self._counted[doc.id] = (summary, written.status)
        if len(self._articles) >= self.batch_size:
            await self.flush()
        return written.status

    def _would_be(self, doc: Document) -> str:
        """What writing ``doc`` would do, for a dry run (reads, never writes)."""
        path = self.files.path_of(doc.id)
        if path is None:
            return "new"
        try:
            same = path.read_text(encoding="utf-8") == render(doc)
        except OSError:
            same = False
        return "unchanged" if same else "updated"

    def discovered(self, record: DiscoveryRecord) -> None:
        if not self.dry_run:
            self._discoveries.append(record)

    def alias(self, record: AliasRecord) -> None:
        """Queue a row of article_aliases (stored after the articles of its batch; while
        the database is behind, journalled with them, as claims are)."""
        if not self.dry_run:
            self._aliases.append(record)

    def claim(self, record: ClaimRecord) -> None:
        """Queue a row of canonical_claims (stored after the articles of its batch).
        While the database is behind, claims go to the pending journal with the articles
        they name: a claim lost would let the page it names be stored a second time."""
        if not self.dry_run:
            self._claims.append(record)

    async def flush(self) -> None:
        """Send queued rows to the database in one batch. While it is behind, the rows
        (articles and sightings) go to the pending journal instead, for the next run to
        catch up.

        Once taken from the queues, the rows are stored or journalled even when the
        caller is cancelled (the crawl cancels its periodic flush when it ends, maybe in
        the middle of a slow write): the write goes on, and the next flush waits for it.
        The last flush of a crawl therefore leaves nothing unwritten behind it."""
        await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        async with self._flush_lock:
            articles, self._articles = self._articles, []
            discoveries, self._discoveries = self._discoveries, []
            aliases, self._aliases = self._aliases, []
            claims, self._claims = self._claims, []
            counted, self._counted = self._counted, {}
            if self.dry_run or not (articles or discoveries or aliases or claims):
                return
            if self.database is not None and self.database_error is None:
                try:
                    if articles:
                        statuses = await asyncio.to_thread(self.database.save_articles, articles)
                        _count_refused(articles, statuses, counted)
                    if discoveries:
                        await asyncio.to_thread(self.database.record_discoveries, discoveries)
                    if aliases:
                        await asyncio.to_thread(self.database.save_aliases, aliases)
                    if claims:
                        await asyncio.to_thread(self.database.save_claims, claims)
                    return
                except DatabaseError as exc:
                    self.database_error = str(exc)
                    log.error("database write failed, files keep being written: %s", exc)
                except Exception as exc:  # a driver's surprise: the rows must not be lost
                    self.database_error = one_line(exc)
                    log.exception("database write failed, files keep being written")
            # The sightings, aliases and claims too: `scraper db sync` (or the next run)
            # stores them.
            await asyncio.to_thread(
                note_pending, self.files.root, articles, discoveries, claims, aliases=aliases
            )

    @property
    def database_behind(self) -> bool:
        return self.database_error is not None


def _count_refused(
    records: list[ArticleRecord],
    statuses: list[RowStatus],
    counted: dict[str, tuple[CrawlSummary, str]],
) -> None:
    """Move each article whose row was refused from what its file write counted it as
    (new, updated, unchanged) to the failures of its crawl."""
    for record, status in zip(records, statuses, strict=True):
        if status == "refused" and record.document.id in counted:
            summary, written = counted[record.document.id]
            summary.add(written, -1)
            summary.fail(ROW_REFUSED)
