"""Politeness across workers: sources of one host take turns, fleet-wide.

Within a run, a source's ``crawl`` policy (delay, concurrency per host) holds. Across
sources, and so across workers, a run first takes the **host lease** of its source's
host, a PostgreSQL advisory lock keyed on the homepage's authority (host name and port),
held on a connection of its own for the whole run and for the source's ``delay`` after
it. So the sources of one host never crawl at once anywhere in the fleet, and one
starts at least ``delay`` after the previous one ended: together they respect the
host's delay and concurrency as one source would. A worker that dies releases its leases
with its connections: nothing to clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Final
from urllib.parse import urlsplit

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from scraper.config import Source

LEASE_POLL_SECONDS: Final = 0.5
TRY_LOCK: Final = "SELECT pg_try_advisory_lock(%(key)s)"
UNLOCK: Final = "SELECT pg_advisory_unlock(%(key)s)"


def host_of(source: Source) -> str:
    """The authority a source's politeness is counted on: its homepage's host and port."""
    parts = urlsplit(str(source.homepage))
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def lease_key(host: str) -> int:
    """A signed 64-bit advisory lock key for ``host`` (stable across processes)."""
    digest = hashlib.sha256(f"scraper-host:{host}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class HostLeases:
    def __init__(self, dsn: str, size: int) -> None:
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            dsn,
            min_size=0,
            max_size=max(1, size),
            open=False,
            kwargs={"autocommit": True, "application_name": "news-scraper-lease"},
        )

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def lease(
        self, source: Source, give_up: Callable[[], bool] = lambda: False
    ) -> AsyncIterator[bool]:
        """Hold ``source``'s host lease while the block runs (and ``delay`` after it).
        Yields False when ``give_up()`` turned true while waiting (a stop)."""
        key = lease_key(host_of(source))
        async with self.pool.connection() as conn:
            while True:
                cursor = await conn.execute(TRY_LOCK, {"key": key})
                row = await cursor.fetchone()
                if row and row[0]:
                    break
                if give_up():
                    yield False
                    return
                await asyncio.sleep(LEASE_POLL_SECONDS)
            try:
                yield True
                if source.crawl.delay > 0 and not give_up():
                    await asyncio.sleep(source.crawl.delay)
            finally:
                # Never back into the pool holding the lock: unlock, or drop the
                # connection (which releases it) when that fails.
                try:
                    await asyncio.shield(conn.execute(UNLOCK, {"key": key}))
                except BaseException:
                    await conn.close()
                    raise
