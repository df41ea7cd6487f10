"""The fleet's own SQL, as named queries, on psycopg's async connections (the job engine's
pool): the timetable, the last runs dispatch looks at, and closing the runs of a lost
worker. The engine's tables are procrastinate's and are only touched through its API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection

from scraper.fleet.dispatch import LastRun, TimetableRow

DISPATCH_LOCK_KEY: Final = 0x5C4A9E14
RECENT_RUNS: Final = 20


class Q:
    TRY_DISPATCH_LOCK: Final = "SELECT pg_try_advisory_xact_lock(%(key)s)"
    TIMETABLE: Final = "SELECT source_id, schedule, next_due_at, last_due_at FROM fleet_schedule"
    SAVE_ROW: Final = """
        INSERT INTO fleet_schedule (source_id, schedule, next_due_at, last_due_at)
        VALUES (%(source_id)s, %(schedule)s, %(next_due)s, %(last_due)s)
        ON CONFLICT (source_id) DO UPDATE SET
            schedule = EXCLUDED.schedule, next_due_at = EXCLUDED.next_due_at,
            last_due_at = EXCLUDED.last_due_at, updated_at = now()
    """
    # The newest runs of each wanted source, newest first (the index on
    # (source_id, started_at) answers each one).
    LAST_RUNS: Final = """
        SELECT s.id AS source_id, r.started_at, r.statuses
        FROM unnest(%(ids)s::text[]) AS s(id)
        JOIN LATERAL (
            SELECT max(started_at) AS started_at,
                   array_agg(status ORDER BY started_at DESC) AS statuses
            FROM (SELECT started_at, status FROM crawl_runs WHERE source_id = s.id
                  ORDER BY started_at DESC LIMIT %(limit)s) AS recent
        ) AS r ON r.started_at IS NOT NULL
    """
    # clock_timestamp(), not now(): the run ends before the job is retried, so its row
    # never overlaps the run that replaces it.
    ABANDON_RUNS_OF_JOB: Final = """
        UPDATE crawl_runs
        SET status = 'abandoned', finished_at = clock_timestamp(), errors = %(errors)s::jsonb
        WHERE job_id = %(job_id)s AND status = 'running'
        RETURNING id, source_id, worker
    """


async def try_dispatch_lock(conn: AsyncConnection[Any]) -> bool:
    """The dispatch's turn, until the transaction ends (False: another one runs)."""
    cursor = await conn.execute(Q.TRY_DISPATCH_LOCK, {"key": DISPATCH_LOCK_KEY})
    row = await cursor.fetchone()
    return bool(row and row[0])


async def timetable(conn: AsyncConnection[Any]) -> dict[str, TimetableRow]:
    cursor = await conn.execute(Q.TIMETABLE)
    return {row[0]: TimetableRow(row[0], row[1], row[2], row[3]) for row in await cursor.fetchall()}


async def save_rows(conn: AsyncConnection[Any], rows: Sequence[TimetableRow]) -> None:
    if not rows:
        return
    params = [
        {
            "source_id": row.source_id,
            "schedule": row.schedule,
            "next_due": row.next_due,
            "last_due": row.last_due,
        }
        for row in rows
    ]
    async with conn.cursor() as cursor:
        await cursor.executemany(Q.SAVE_ROW, params)


def consecutive_failures(statuses: Iterable[str]) -> int:
    """Failed runs in a row, newest first, ignoring the ones still running."""
    count = 0
    for status in statuses:
        if status == "running":
            continue
        if status != "failed":
            break
        count += 1
    return count


async def last_runs(conn: AsyncConnection[Any], source_ids: list[str]) -> dict[str, LastRun]:
    if not source_ids:
        return {}
    cursor = await conn.execute(Q.LAST_RUNS, {"ids": source_ids, "limit": RECENT_RUNS})
    return {
        source_id: LastRun(started_at, consecutive_failures(statuses or []))
        for source_id, started_at, statuses in await cursor.fetchall()
    }


async def abandon_runs_of_job(
    conn: AsyncConnection[Any], job_id: int, reason: str
) -> list[tuple[int, str, str | None]]:
    """Close the runs a lost job left ``running``; (run id, source id, worker) of each."""
    errors = json.dumps({f"abandoned: {reason}": 1})
    cursor = await conn.execute(Q.ABANDON_RUNS_OF_JOB, {"job_id": job_id, "errors": errors})
    return [(int(r[0]), str(r[1]), r[2]) for r in await cursor.fetchall()]


def as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.astimezone()
