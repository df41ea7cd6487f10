"""Versioned schema migrations shared by both backends.

Migrations are SQL files shipped in the package,
``scraper/storage/migrations/<backend>/NNNN_name.sql``, applied in order. Each backend
records the versions it applied in its ``schema_version`` table and refuses a database
whose schema is newer than the files it ships (an older scraper must not write to a
schema it does not understand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from scraper.storage.base import DatabaseError

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(backend: str) -> list[Migration]:
    """The migrations of ``backend`` ("postgres" or "sqlite"), in version order.

    Versions must run 1, 2, 3... without gaps: a missing file would otherwise be skipped
    silently and the schema would differ between machines."""
    folder = resources.files("scraper.storage").joinpath("migrations", backend)
    migrations: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            text = entry.read_text(encoding="utf-8")
            migrations.append(Migration(int(match["version"]), match["name"], text))
    migrations.sort(key=lambda m: m.version)
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise DatabaseError(f"{backend} migrations are not numbered 0001, 0002, ... without gaps")
    return migrations


def latest_version(migrations: list[Migration]) -> int:
    return migrations[-1].version if migrations else 0


def pending(migrations: list[Migration], current: int) -> list[Migration]:
    """The migrations to apply to a database at version ``current``.

    Raises DatabaseError when the database is newer than this code knows."""
    known = latest_version(migrations)
    if current > known:
        raise DatabaseError(
            f"database schema version {current} is newer than this scraper supports "
            f"({known}); upgrade the scraper"
        )
    return [m for m in migrations if m.version > current]
