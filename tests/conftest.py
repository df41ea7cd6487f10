"""Shared fixtures: where the shared reference material lives, and skipping without it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SHARED = Path(__file__).resolve().parents[2] / "shared"
RECORD = SHARED / "format" / "000_27fad4cbe759321a.txt"
CORPUS = SHARED / "corpus"


@pytest.fixture
def record_text() -> str:
    """The real record of the system this project replaces (skips when absent)."""
    if not RECORD.is_file():
        pytest.skip(f"{RECORD} is absent")
    return RECORD.read_text(encoding="utf-8")


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent")
    return CORPUS


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


@pytest.fixture
def pg_url(pg_session_dsn: str) -> Iterator[str]:
    """A postgresql:// URL (as a user passes to --database) whose search_path is a
    schema of this test's own."""
    schema = f"e2e_{secrets.token_hex(6)}"
    info = conninfo_to_dict(pg_session_dsn)
    with psycopg.connect(pg_session_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield (
                f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
                f"{info.get('port', 5432)}/{info['dbname']}"
                f"?options={quote(f'-c search_path={schema}')}"
            )
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
