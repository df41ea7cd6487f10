"""``scraper db migrate``, ``scraper db sync``, ``scraper db identities`` and
``scraper export``.

The commands are thin: they load the settings, open the database and call the storage
and export functions. Configuration and database problems end the command with one
line on stderr and exit code 1.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO
from urllib.parse import urlsplit

import typer

from scraper.config import ConfigError, Settings, Source, load_settings, load_sources
from scraper.document import Document
from scraper.export import export
from scraper.storage.base import Database, DatabaseError
from scraper.storage.open import open_database, sqlite_path
from scraper.storage.sync import (
    claim_pending,
    load_pending,
    release_pending,
    replay_discoveries,
    sync_files,
)

log = logging.getLogger(__name__)

db_app = typer.Typer(
    name="db",
    help="The database: create or upgrade its schema, bring it level with the files, "
    "repair article identities.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="SCRAPER_CONFIG",
        help="Configuration folder (settings.yaml, sources/). Default: ./config",
        show_default=False,
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="postgresql://... or sqlite:///path; default: settings (embedded SQLite).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", help="Folder of the record files; default: settings.", show_default=False
    ),
]


class ExportFormatChoice(StrEnum):
    jsonl = "jsonl"
    md = "md"


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """ConfigError / DatabaseError (and bad arguments found late) end the command with
    one line on stderr and exit code 1, never a traceback."""
    try:
        yield
    except (ConfigError, DatabaseError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _settings(config: Path | None, database: str | None, output: Path | None) -> Settings:
    return load_settings(config or Path("config"), database_url=database, output_dir=output)


@db_app.command("migrate")
def migrate_command(
    config: ConfigOption = None, database: DatabaseOption = None, output: OutputOption = None
) -> None:
    """Create the schema, or upgrade it to this version of the scraper."""
    with _one_line_errors():
        settings = _settings(config, database, output)
        db = open_database(settings, migrate=False)
        try:
            version = db.migrate()
        finally:
            db.close()
        engine = None
        if sqlite_path(settings) is None:
            # A fleet's job engine lives in PostgreSQL too (scraper.fleet.engine).
            from scraper.fleet.engine import ENGINE, migrate_engine

            assert settings.database_url is not None
            engine = f"{ENGINE} {migrate_engine(settings.database_url)}"
    typer.echo(f"database schema at version {version}")
    if engine is not None:
        typer.echo(f"job engine schema: {engine}")


@db_app.command("sync")
def sync_command(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    output: OutputOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000)] = 500,
) -> None:
    """Bring the database level with the record files: store every file that has no
    row, or whose content differs from its row (e.g. after the database was down), and
    record the sightings crawls journalled meanwhile."""
    with _one_line_errors():
        settings = _settings(config, database, output)
        # Crawls that found the database down noted which source wrote each file, where
        # its date came from, and what the discovery channels listed.
        claimed = claim_pending(settings.output_dir)
        journal = load_pending(settings.output_dir, discoveries=False, paths=claimed)
        noted = journal.sources
        by_config = source_guesser(_sources_if_any(config or Path("config")))
        db = open_database(settings)
        try:
            result = sync_files(
                db,
                settings.output_dir,
                lambda doc: noted.get(doc.id) or by_config(doc),
                batch_size,
                journal.provenance,
            )
            sightings = replay_discoveries(db, settings.output_dir, paths=claimed)
        finally:
            db.close()
        release_pending(claimed)
    typer.echo(
        f"sync {settings.output_dir}: {result.checked} files, {result.new} new, "
        f"{result.updated} updated, {result.level} already level, "
        f"{result.unreadable} unreadable"
        + (f", {sightings} journalled sightings recorded" if sightings else "")
    )


@db_app.command("identities")
def identities_command(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    output: OutputOption = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix the rows listed (see docs/schema.md).")
    ] = False,
) -> None:
    """List stored articles whose identity the URL rule before issue 8 may have got
    wrong (collapsed, to re-key, duplicate), one line each; --repair fixes them."""
    from scraper.identities import find_problems
    from scraper.identities import repair as repair_rows

    with _one_line_errors():
        settings = _settings(config, database, output)
        db = open_database(settings)
        try:
            problems = find_problems(db)
            for problem in problems:
                typer.echo(problem.describe())
            if not repair:
                verdict = "; run with --repair to fix them" if problems else ""
                typer.echo(f"{len(problems)} rows to repair{verdict}")
                return
            result = repair_rows(db, settings.output_dir, problems)
        finally:
            db.close()
    for failure in result.failed:
        typer.echo(f"not repaired: {failure}")
    typer.echo(
        f"repaired {result.deleted + result.rekeyed} rows: {result.deleted} deleted "
        f"(fetched again by the next crawl), {result.rekeyed} re-keyed"
    )


def export_command(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    output: OutputOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only articles stored or changed since this date (2024-01-31: midnight in "
            "the output time zone) or time (2024-01-31T08:00, offset optional).",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source's articles (needs the database).")
    ] = None,
    fmt: Annotated[
        ExportFormatChoice,
        typer.Option("--format", help="jsonl: one JSON object per line; md: record texts."),
    ] = ExportFormatChoice.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    from_files: Annotated[
        bool, typer.Option("--from-files", help="Read the record files, not the database.")
    ] = False,
) -> None:
    """Export stored articles for consumers, streaming (JSON Lines or record texts).

    Reads the database, or the record files when there is none (or with --from-files)."""
    with _one_line_errors():
        settings = _settings(config, database, output)
        moment = parse_since(since, settings.zone) if since else None
        db = None if from_files else _existing_database(settings)
        try:
            with _text_output(out) as stream:
                export(
                    stream,
                    database=db,
                    folder=settings.output_dir,
                    since=moment,
                    source_id=source,
                    fmt=fmt.value,
                    zone=settings.zone,
                )
        finally:
            if db is not None:
                db.close()


def parse_since(text: str, zone: tzinfo) -> datetime:
    """A date (its midnight in ``zone``) or an ISO time (``zone`` when it has no offset)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since: {text!r} is not a date (2024-01-31) or time (2024-01-31T08:00)"
        ) from None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=zone)


def _existing_database(settings: Settings) -> Database | None:
    """The database to export from; None when only files exist (the embedded SQLite
    database was never created). Opened without migrating: export only reads."""
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        if settings.database_url is None:
            return None
        raise DatabaseError(f"SQLite database {path}: does not exist")
    return open_database(settings, migrate=False)


@contextlib.contextmanager
def _text_output(path: Path | None) -> Iterator[TextIO]:
    """UTF-8 with "\\n" line ends whatever the locale: the file, or stdout."""
    if path is not None:
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            yield handle
        return
    stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
    try:
        yield stream
        stream.flush()
    except BrokenPipeError:
        # The reader went away (`scraper export | head`): not an error of ours.
        raise typer.Exit(0) from None
    finally:
        stream.detach()  # leave sys.stdout usable


def _sources_if_any(config: Path) -> Mapping[str, Source]:
    return load_sources(config) if (config / "sources").is_dir() else {}


def source_guesser(sources: Mapping[str, Source]) -> Callable[[Document], str]:
    """Which configured source most likely stored a document the database has no row
    for: one whose homepage host is the publisher's (the Origem link) or the article's;
    among several, the one of the document's language. "" when none matches."""
    by_host: dict[str, list[Source]] = {}
    for source in sorted(sources.values(), key=lambda s: s.id):
        by_host.setdefault(_host(source.homepage), []).append(source)

    def guess(document: Document) -> str:
        for url in (document.source_url, document.url):
            candidates = by_host.get(_host(url), [])
            if candidates:
                same_language = [s for s in candidates if s.language == document.language]
                return (same_language or candidates)[0].id
        return ""

    return guess


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")
