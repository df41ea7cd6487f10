"""The fleet's job engine against a real PostgreSQL: its schema comes with the migrations,
a source never has two jobs waiting or two running, and a lost worker's job is recovered,
also when a newer job of the same source already waits (its queueing lock would refuse a
plain retry)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from procrastinate import App, exceptions
from procrastinate.jobs import Status

from scraper.fleet.engine import (
    CRAWL_QUEUE,
    CRAWL_TASK,
    PRUNE_CRON,
    PRUNE_TASK,
    build_app,
    migrate_engine,
    source_lock,
)
from scraper.fleet.worker import recover_stalled
from scraper.storage.postgres import PostgresDatabase

pytestmark = pytest.mark.db


@pytest.fixture
def fleet_dsn(pg_dsn: str) -> Iterator[str]:
    with PostgresDatabase(pg_dsn) as database:
        database.migrate()
    assert migrate_engine(pg_dsn) == migrate_engine(pg_dsn)  # a second run changes nothing
    yield pg_dsn


def sql(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(query.encode(), params)
        return cursor.fetchall() if cursor.description else []


async def defer(app: App, source_id: str) -> int:
    lock = source_lock(source_id)
    deferrer = app.configure_task(CRAWL_TASK, queue=CRAWL_QUEUE, lock=lock, queueing_lock=lock)
    return await deferrer.defer_async(source_id=source_id, due=datetime.now(UTC).isoformat())


async def lose_a_worker_mid_job(app: App, dsn: str, source_id: str) -> int:
    """A worker takes the source's job, starts its run, and is lost (no heartbeat)."""
    job_id = await defer(app, source_id)
    worker_id = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker_id)
    assert job is not None and job.id == job_id
    sql(
        dsn,
        "INSERT INTO crawl_runs (source_id, started_at, worker, job_id) "
        "VALUES (%s, now(), 'lost:1', %s)",
        source_id,
        job_id,
    )
    sql(
        dsn,
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes' "
        "WHERE id = %s",
        worker_id,
    )
    return job_id


def status(dsn: str, job_id: int) -> str:
    return str(sql(dsn, "SELECT status FROM procrastinate_jobs WHERE id = %s", job_id)[0][0])


async def recover(app: App) -> list[str]:
    connector: Any = app.connector
    async with connector.pool.connection() as conn, conn.transaction():
        return await recover_stalled(app, conn)


def test_engine_schema_and_version_come_with_migrate(fleet_dsn: str) -> None:
    assert sql(fleet_dsn, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL") == [(True,)]
    ((engine, version),) = sql(fleet_dsn, "SELECT engine, version FROM engine_schema")
    assert engine == "procrastinate" and version.startswith("3.")


def test_one_job_waits_per_source(fleet_dsn: str) -> None:
    async def scenario() -> None:
        app = build_app(fleet_dsn, pool_size=3, job_retention_days=14)
        async with app.open_async():
            await defer(app, "a")
            with pytest.raises(exceptions.AlreadyEnqueued):
                await defer(app, "a")
            await defer(app, "b")
            worker = await app.job_manager.register_worker()
            first = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker)
            assert first is not None
            await defer(app, first.task_kwargs["source_id"])  # queued behind the running one
            second = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker)
            assert second is not None
            assert second.task_kwargs["source_id"] != first.task_kwargs["source_id"]
            # The source's lock keeps its queued job back while its run goes on.
            third = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker)
            assert third is None

    asyncio.run(scenario())


def test_a_lost_workers_job_runs_again_and_its_run_is_abandoned(fleet_dsn: str) -> None:
    async def scenario() -> None:
        app = build_app(fleet_dsn, pool_size=3, job_retention_days=14)
        async with app.open_async():
            job_id = await lose_a_worker_mid_job(app, fleet_dsn, "a")
            assert await recover(app) == ["retried"]
            assert status(fleet_dsn, job_id) == "todo"
            ((run_status, finished),) = sql(
                fleet_dsn, "SELECT status, finished_at FROM crawl_runs WHERE job_id = %s", job_id
            )
            assert run_status == "abandoned" and finished is not None
            assert await recover(app) == []  # nothing stalled any more

    asyncio.run(scenario())


def test_a_retry_colliding_with_a_newer_queued_job_loses_neither(fleet_dsn: str) -> None:
    async def scenario() -> None:
        app = build_app(fleet_dsn, pool_size=3, job_retention_days=14)
        async with app.open_async():
            stalled = await lose_a_worker_mid_job(app, fleet_dsn, "a")
            newer = await defer(app, "a")  # dispatch queued the next run meanwhile
            assert await recover(app) == ["superseded"]
            assert status(fleet_dsn, stalled) == "failed"
            assert status(fleet_dsn, newer) == "todo", "the waiting job stays and runs"
            worker = await app.job_manager.register_worker()
            job = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker)
            assert job is not None and job.id == newer, "the source's lock is free again"

    asyncio.run(scenario())


async def end_job(app: App, source_id: str, outcome: Status) -> int:
    """A job of ``source_id`` taken by a worker and ended with ``outcome``, kept in the
    table as the fleet's workers keep every job that did not succeed."""
    await defer(app, source_id)
    worker = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=[CRAWL_QUEUE], worker_id=worker)
    assert job is not None and job.id is not None
    await app.job_manager.finish_job(job, status=outcome, delete_job=False)
    return job.id


def test_jobs_that_ended_before_the_retention_are_pruned_every_hour(fleet_dsn: str) -> None:
    async def scenario() -> None:
        app = build_app(fleet_dsn, pool_size=3, job_retention_days=14)
        async with app.open_async():
            old = [
                await end_job(app, "old-failed", Status.FAILED),
                await end_job(app, "old-aborted", Status.ABORTED),
            ]
            recent = await end_job(app, "recent-failed", Status.FAILED)
            waiting = await defer(app, "waiting")
            sql(
                fleet_dsn,
                "UPDATE procrastinate_events SET at = now() - interval '15 days' "
                "WHERE job_id = ANY(%s)",
                [*old, waiting],
            )
            (periodic,) = [
                task
                for task in app.periodic_registry.periodic_tasks.values()
                if task.task.name == PRUNE_TASK
            ]
            assert periodic.cron == PRUNE_CRON == "17 * * * *"
            await periodic.task.func(SimpleNamespace(app=app), timestamp=0)
        left = sql(fleet_dsn, "SELECT id FROM procrastinate_jobs WHERE id = ANY(%s)", [*old])
        assert left == [], "failed and aborted jobs 15 days old are gone"
        assert status(fleet_dsn, recent) == "failed", "a failure of today is kept"
        assert status(fleet_dsn, waiting) == "todo", "a waiting job is never pruned"
        assert sql(
            fleet_dsn, "SELECT count(*) FROM procrastinate_events WHERE job_id = ANY(%s)", old
        ) == [(0,)]

    asyncio.run(scenario())
