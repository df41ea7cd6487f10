"""The database of a long-running process: a link that may fail and catch up.

The files are the primary copy. When the database is down the process keeps crawling
and writing files, says that the database is behind (log, /healthz, /metrics), retries,
and brings it level (``sync_if_behind``) once it answers again. Bookkeeping calls run in
a thread (the clients are synchronous) and never stop a crawl.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from scraper.config import Settings
from scraper.logs import one_line
from scraper.metrics import DaemonMetrics
from scraper.service.lifecycle import Background
from scraper.storage.files import FileStore
from scraper.storage.sync import sync_if_behind

if TYPE_CHECKING:
    from scraper.storage.base import Database

T = TypeVar("T")
DATABASE_RETRY_SECONDS = 60.0
DATABASE_START_WAIT = 2.0  # seconds the start waits for the database before going on

# Returns the database with its schema migrated (as open_database does).
DatabaseOpener = Callable[[Settings], "Database"]


class Holder(Protocol):
    """Where the database in use lives (the crawl service) and the files it mirrors."""

    database: Database | None
    files: FileStore


class DatabaseLink:
    def __init__(
        self,
        settings: Settings,
        opener: DatabaseOpener,
        metrics: DaemonMetrics,
        background: Background,
        logger: logging.Logger,
        retry_seconds: float = DATABASE_RETRY_SECONDS,
    ) -> None:
        self.settings = settings
        self.opener = opener
        self.metrics = metrics
        self.background = background
        self.log = logger
        self.retry_seconds = retry_seconds
        self.holder: Holder | None = None  # set once the crawl service exists
        self.error: str | None = None  # why the database is behind; None when level
        self.stopping = False
        self._catching_up = False

    @property
    def database(self) -> Database | None:
        return self.holder.database if self.holder is not None else None

    async def connect(self) -> Database | None:
        try:
            return await asyncio.to_thread(self.opener, self.settings)
        except Exception as exc:
            self.failed(one_line(exc))
            self.log.error(
                "database unavailable: %s; crawling on, writing files only, retrying every %.0f s",
                one_line(exc),
                self.retry_seconds,
            )
            return None

    async def connect_at_start(self) -> tuple[Database | None, asyncio.Future[Database | None]]:
        """Wait a moment for the database; returns it (or None) and the connection
        attempt, which may still be under way: a database that does not answer must not
        keep /healthz and the crawls from starting."""
        connecting = asyncio.ensure_future(self.connect())
        done, _ = await asyncio.wait({connecting}, timeout=DATABASE_START_WAIT)
        return (connecting.result() if done else None), connecting

    def attach(self, holder: Holder, connecting: asyncio.Future[Database | None]) -> None:
        """Start keeping ``holder``'s database level (or attach it once it answers)."""
        self.holder = holder
        if holder.database is None:
            self.background.spawn(self._reconnect(None if connecting.done() else connecting))
        else:
            self.start_catch_up(holder.database)

    async def _reconnect(self, connecting: asyncio.Future[Database | None] | None) -> None:
        """Attach the database once it answers: the start-up connection still under way
        (if any), then a new try every ``retry_seconds``."""
        if connecting is not None:
            database = await connecting
            if database is not None and self.holder is not None:
                self.holder.database = database
                self.log.warning("database reachable")
                self.start_catch_up(database)
                return
        while self.holder is not None and self.holder.database is None:
            await asyncio.sleep(self.retry_seconds)
            try:
                database = await asyncio.to_thread(self.opener, self.settings)
            except Exception as exc:
                self.log.warning("database still unavailable: %s", one_line(exc))
                continue
            self.holder.database = database
            self.log.warning("database reachable again")
            self.start_catch_up(database)

    async def call(self, call: Callable[[Database], T]) -> T | None:
        """``call(database)`` in a thread; None (and the database marked behind) when the
        database is missing or fails: bookkeeping never stops a crawl."""
        database = self.database
        if database is None:
            return None
        try:
            result = await asyncio.to_thread(call, database)
        except Exception as exc:
            self.failed(one_line(exc))
            return None
        if self.error is not None:
            self.start_catch_up(database)
        return result

    def failed(self, reason: str) -> None:
        if self.error is None:
            self.log.error(
                "the database is behind the files (%s); crawling goes on, files are "
                "written, and the database is brought level when it answers",
                reason,
            )
        self.error = reason
        self.metrics.database_behind.set(1)

    def start_catch_up(self, database: Database) -> None:
        if not self._catching_up and not self.stopping:
            self._catching_up = True
            self.background.spawn(self._catch_up(database))

    async def _catch_up(self, database: Database) -> None:
        """Bring the database level with the files written while it was behind."""
        try:
            assert self.holder is not None
            await sync_if_behind(database, self.holder.files)
            if self.error is not None:
                self.log.warning("the database is level with the files again")
            self.error = None
            self.metrics.database_behind.set(0)
        except Exception as exc:
            self.failed(one_line(exc))
        finally:
            self._catching_up = False

    def health(self) -> dict[str, object]:
        return {"behind": self.error is not None, "error": self.error}
