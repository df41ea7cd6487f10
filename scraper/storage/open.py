"""Pick and open the database backend the settings ask for."""

from __future__ import annotations

from pathlib import Path

from scraper.config import Settings
from scraper.storage.base import Database

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file the settings select, or None when they select PostgreSQL.

    ``database_url`` unset means the embedded database at ``settings.sqlite_path``;
    ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` name another file.
    """
    url = settings.database_url
    if url is None:
        return settings.sqlite_path
    if url.startswith(SQLITE_PREFIX):
        return Path(url.removeprefix(SQLITE_PREFIX))
    return None


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """PostgreSQL when ``settings.database_url`` is a postgresql:// URL, SQLite otherwise.

    With ``migrate`` (the default) pending migrations are applied first, so a fresh
    machine needs no setup step; a schema newer than this code is refused either way
    at the first migrate. Raises DatabaseError with a one-line message."""
    database: Database
    path = sqlite_path(settings)
    if path is not None:
        from scraper.storage.sqlite import SQLiteDatabase

        database = SQLiteDatabase(path)
    else:
        # Imported here: psycopg is only loaded by processes that use PostgreSQL.
        from scraper.storage.postgres import PostgresDatabase

        assert settings.database_url is not None
        database = PostgresDatabase(settings.database_url)
    if migrate:
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
    return database
