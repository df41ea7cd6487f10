"""Fixtures for tests against real databases.

PostgreSQL (fixtures pg_session_dsn and pg_dsn live in tests/conftest.py):
``SCRAPER_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) names a server and a database to
connect to; each test session creates its own ``scraper_test_<random>`` database there
and drops it at the end, and each test gets a schema of its own inside it, so tests
never see each other's rows. Without a server the PostgreSQL tests skip, saying why;
under ``CI=true`` they fail instead.

SQLite: a file in the test's own temporary folder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scraper.storage.base import Database
from scraper.storage.postgres import PostgresDatabase
from scraper.storage.sqlite import SQLiteDatabase


@dataclass(frozen=True)
class Backend:
    """One database of either kind, for tests: open it, and look at it with raw SQL."""

    kind: str  # "sqlite" | "postgres"
    location: str  # SQLite file path or PostgreSQL DSN

    def open(self) -> Database:
        if self.kind == "sqlite":
            return SQLiteDatabase(Path(self.location))
        return PostgresDatabase(self.location)

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``query`` (``?`` placeholders) on a connection of its own, committed."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as conn:
                return conn.execute(query, tuple(params)).fetchall()
        with psycopg.connect(self.location, autocommit=True) as conn:
            cursor = conn.execute(query.replace("?", "%s").encode(), tuple(params))
            return cursor.fetchall() if cursor.description else []

    def scalar(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self.rows(query, params)[0][0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.db)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "db" / "scraper.db"))
    return Backend("postgres", request.getfixturevalue("pg_dsn"))


@pytest.fixture
def database(backend: Backend) -> Iterator[Database]:
    """A migrated database of the parametrized backend, closed afterwards."""
    db = backend.open()
    db.migrate()
    yield db
    db.close()
