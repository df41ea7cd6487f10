"""Storage throughput: a batch of synthetic articles stored new, then stored again
unchanged, on PostgreSQL (when reachable) and SQLite.

    python benchmarks/store.py [--count 10000] [--postgres URL]

PostgreSQL: ``--postgres`` or ``SCRAPER_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) names a server; the benchmark creates
a throwaway database there and drops it afterwards. SQLite: a temporary file.

Besides the rates, it checks the promise the crawl relies on: storing unchanged
articles again rewrites no row (PostgreSQL: every row keeps its xmin, i.e. no new row
version; both: updated_at unchanged and no article_versions row).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from scraper.document import Document, render
from scraper.storage.base import ArticleRecord, Database, DatabaseError
from scraper.storage.files import content_hash
from scraper.storage.postgres import PostgresDatabase
from scraper.storage.sqlite import SQLiteDatabase

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PARAGRAPH = (
    "The delegation took part in the conference, which began in the capital with the "
    "participation of ministers, members of parliament and representatives of industry."
)


def synthetic_records(count: int) -> list[ArticleRecord]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records = []
    for n in range(count):
        doc = Document(
            title=f"Synthetic article {n} - Example Gov",
            published=start + timedelta(minutes=n),
            type="Notícias",
            url=f"https://www.example.gov/news/synthetic-{n}",
            source_name="Example Gov",
            source_url="https://www.example.gov",
            language="en",
            aggregator="RSS",
            content="\n\n".join(f"{PARAGRAPH} ({n}.{p})" for p in range(8)),
        )
        path = f"{doc.published:%Y-%m-%d}/{n:03d}_{doc.id}.txt"
        records.append(ArticleRecord(doc, "benchmark", path, content_hash(render(doc))))
    return records


def timed(label: str, count: int, action: Callable[[], list[str]]) -> list[str]:
    began = time.perf_counter()
    statuses = action()
    elapsed = time.perf_counter() - began
    print(f"  {label:<20} {count / elapsed:>10,.0f} rows/s  ({elapsed:.2f} s)")
    return statuses


def run(name: str, db: Database, snapshot: Callable[[], Any], count: int) -> bool:
    records = synthetic_records(count)
    print(f"{name}: {count:,} articles in one batch")
    new = timed("new", count, lambda: list(db.save_articles(records)))
    before = snapshot()
    again = timed("unchanged re-store", count, lambda: list(db.save_articles(records)))
    after = snapshot()
    ok = set(new) == {"new"} and set(again) == {"unchanged"} and before == after
    print(f"  unchanged re-store rewrote no row: {'yes' if ok else 'NO'}")
    return ok


@contextmanager
def postgres_database(server: str) -> Iterator[tuple[Database, Callable[[], Any]]]:
    name = f"scraper_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        dsn = make_conninfo(server, dbname=name)
        db = PostgresDatabase(dsn)
        try:
            db.migrate()

            def snapshot() -> Any:
                with psycopg.connect(dsn) as conn:
                    rows = conn.execute(
                        "SELECT id, xmin::text, updated_at FROM articles ORDER BY id"
                    ).fetchall()
                    versions = conn.execute("SELECT count(*) FROM article_versions").fetchone()
                return rows, versions

            yield db, snapshot
        finally:
            db.close()
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def sqlite_database() -> Iterator[tuple[Database, Callable[[], Any]]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        db = SQLiteDatabase(path)
        db.migrate()

        def snapshot() -> Any:
            with sqlite3.connect(path) as conn:
                rows = conn.execute("SELECT id, updated_at FROM articles ORDER BY id").fetchall()
                versions = conn.execute("SELECT count(*) FROM article_versions").fetchone()
            return rows, versions

        try:
            yield db, snapshot
        finally:
            db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("SCRAPER_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    args = parser.parse_args()
    results = []
    try:
        with postgres_database(args.postgres) as (db, snapshot):
            results.append(run("PostgreSQL", db, snapshot, args.count))
    except (psycopg.OperationalError, DatabaseError) as exc:
        print(f"PostgreSQL: skipped ({' '.join(str(exc).split())[:120]})")
    with sqlite_database() as (db, snapshot):
        results.append(run("SQLite", db, snapshot, args.count))
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
