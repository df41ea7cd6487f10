"""Fixtures for tests against real databases.

PostgreSQL: ``SCRAPER_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) names a server and a database to
connect to; each test session creates its own ``scraper_test_<random>`` database there
and drops it at the end, and each test gets a schema of its own inside it, so tests
never see each other's rows. Without a server the PostgreSQL tests skip, saying why;
under ``CI=true`` they fail instead.

SQLite: a file in the test's own temporary folder.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from scraper.storage.open import DatabaseBackend
from scraper.storage.postgres import PostgresDatabase
from scraper.storage.sqlite import SQLiteDatabase

DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _mandatory() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    if _mandatory():
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests are mandatory)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_session_dsn() -> Iterator[str]:
    """DSN of a database created for this test session and dropped after it."""
    admin_dsn = os.environ.get("SCRAPER_TEST_DATABASE_URL", DEFAULT_TEST_DSN)
    info = conninfo_to_dict(admin_dsn)
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _unavailable(f"no PostgreSQL server at {where} (SCRAPER_TEST_DATABASE_URL): {first_line}")
        raise  # unreachable: _unavailable always raises
    name = f"scraper_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_conninfo(admin_dsn, dbname=name)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_dsn(pg_session_dsn: str) -> Iterator[str]:
    """DSN whose search_path is a schema of this test's own (dropped afterwards)."""
    schema = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_session_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield make_conninfo(pg_session_dsn, options=f"-c search_path={schema}")
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True)
class Backend:
    """One database of either kind, for tests: open it, and look at it with raw SQL."""

    kind: str  # "sqlite" | "postgres"
    location: str  # SQLite file path or PostgreSQL DSN

    def open(self) -> DatabaseBackend:
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
def database(backend: Backend) -> Iterator[DatabaseBackend]:
    """A migrated database of the parametrized backend, closed afterwards."""
    db = backend.open()
    db.migrate()
    yield db
    db.close()
