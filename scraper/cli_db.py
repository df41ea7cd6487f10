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
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer

from scraper.config import ConfigError, Settings, Source, load_settings, load_sources
from scraper.dates import in_safe_years
from scraper.export import ExportFilters, export
from scraper.logs import one_line
from scraper.storage.base import Database, DatabaseError
from scraper.storage.files import FileStore
from scraper.storage.level import restore_files, source_guesser
from scraper.storage.open import open_database, sqlite_path
from scraper.storage.sync import (
    claim_pending,
    load_pending,
    release_pending,
    replay_discoveries,
    store_journalled_links,
    sync_files,
)

log = logging.getLogger(__name__)

# As for `scraper crawl` (which takes it from here): not everything could be done.
EXIT_INCOMPLETE = 5

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
    csv = "csv"
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
    except OSError as exc:  # a file or folder it could not read or write (--out, --output)
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error: {where}{exc.strerror or one_line(exc)}", err=True)
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
    """Bring the database and the record files level: store every file that has no
    row, or whose content differs from its row (e.g. after the database was down),
    record the sightings, aliases, claims and crawl runs crawls journalled meanwhile,
    and write again from its row every record file that was lost."""
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
                details=journal.details,
            )
            sightings = replay_discoveries(db, settings.output_dir, paths=claimed)
            store_journalled_links(db, journal)  # aliases, claims and crawl runs
            # ... and the other way: rows whose record file was lost get it back.
            restored, not_restored = restore_files(
                db, FileStore(settings.output_dir), settings.zone
            )
        finally:
            db.close()
        release_pending(claimed)
    second = result.duplicates  # files of an article that has another (logged)
    typer.echo(
        f"sync {settings.output_dir}: {result.checked} files, {result.new} new, "
        f"{result.updated} updated, {result.level} already level, "
        f"{result.unreadable} unreadable, {restored} restored from the database"
        + (f" ({not_restored} could not be written)" if not_restored else "")
        + (f", {result.refused} refused by the database (see the log)" if result.refused else "")
        + (
            f", {second} second {'file' if second == 1 else 'files'} left out (see the log)"
            if second
            else ""
        )
        + (f", {sightings} journalled sightings recorded" if sightings else "")
    )
    # Not everything is level: a row refused (its file stays for the next try), a record
    # file that cannot be read, a second file of one article, or a file that could not
    # be written from its row.
    if result.refused or result.unreadable or result.duplicates or not_restored:
        raise typer.Exit(EXIT_INCOMPLETE)


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


EXIT_USAGE = 2  # bad arguments or an unknown source, as for every scraper command
_TIME_HELP = (
    "a date (2024-01-31: midnight in the output time zone) or a time (2024-01-31T08:00, "
    "offset optional)"
)
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def export_command(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    output: OutputOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE|TIME",
            help=f"Only articles published at or after this: {_TIME_HELP}. (Earlier versions "
            "read it as stored since: that is --stored-since now.)",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE|TIME",
            help="Only articles published up to this, included: a date (its whole day) or a time.",
            show_default=False,
        ),
    ] = None,
    stored_since: Annotated[
        str | None,
        typer.Option(
            "--stored-since",
            metavar="DATE|TIME",
            help=f"Only articles stored or changed at or after this (a consumer's cursor): "
            f"{_TIME_HELP}. From the files: their modification time.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", metavar="ID", help="Only this source's articles (needs the database)."
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option("--language", metavar="CODE", help="Only articles in this language (en)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", min=0, help="At most N articles.", show_default=False),
    ] = None,
    fmt: Annotated[
        ExportFormatChoice,
        typer.Option(
            "--format",
            help="jsonl: one JSON object per line; csv: a header row, then one row per "
            "article; md: record texts.",
        ),
    ] = ExportFormatChoice.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    from_files: Annotated[
        bool, typer.Option("--from-files", help="Read the record files, not the database.")
    ] = False,
) -> None:
    """Export stored articles for consumers, streaming (JSON Lines, CSV or record texts),
    in the order they were stored.

    Reads the database, or the record files when there is none (or with --from-files);
    every filter works on both but --source, which needs the database."""
    with _one_line_errors():
        settings = _settings(config, database, output)
        filters = _export_filters(settings, since, until, stored_since, source, language, limit)
        db = None if from_files else _existing_database(settings)
        if db is None and not settings.output_dir.is_dir():
            # A mistyped --output read as an empty store: say there is none there.
            raise ValueError(f"{settings.output_dir}: no such folder of record files")
        unreadable: list[Path] = []  # record files left out (logged)
        try:
            if source is not None:
                _check_source(source, config or Path("config"), db)
                if db is None:
                    _usage_error(
                        "--source needs the database: the record files do not say their source"
                    )
            with _text_output(out) as stream:
                export(
                    stream,
                    database=db,
                    folder=settings.output_dir,
                    filters=filters,
                    fmt=fmt.value,
                    zone=settings.zone,
                    unreadable=unreadable,
                )
        finally:
            if db is not None:
                db.close()
    if unreadable:
        # Everything else was exported; a consumer's script must still be able to tell.
        files = "record file" if len(unreadable) == 1 else "record files"
        typer.echo(f"error: left out {len(unreadable)} {files} that could not be read", err=True)
        raise typer.Exit(EXIT_INCOMPLETE)


def _usage_error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _export_filters(
    settings: Settings,
    since: str | None,
    until: str | None,
    stored_since: str | None,
    source: str | None,
    language: str | None,
    limit: int | None,
) -> ExportFilters:
    """The filters the options ask for; a bad value ends the command (exit 2)."""
    zone = settings.zone
    try:
        published_since = parse_since(since, zone, "--since") if since else None
        published_before = parse_until(until, zone) if until else None
        stored = parse_since(stored_since, zone, "--stored-since") if stored_since else None
    except ValueError as exc:
        _usage_error(str(exc))
    if since and not (until or stored_since):
        # --since meant "stored since" before schema version 4 (issue 11); a script
        # written then would now get another set of articles without a word. One line,
        # on stderr only; --until or --stored-since beside it show the new meaning is meant.
        typer.echo(
            "warning: export --since now filters on publication time, as crawl --since does; "
            "for articles stored or changed since (its old meaning), use --stored-since",
            err=True,
        )
    if language is not None:
        language = language.strip().lower()
        if not _LANGUAGE_CODE.fullmatch(language):
            _usage_error(f"--language: {language!r} is not a language code (en, pt, uk)")
    return ExportFilters(
        stored_since=stored,
        published_since=published_since,
        published_before=published_before,
        source_id=source,
        language=language,
        limit=limit,
    )


def _check_source(source: str, config: Path, db: Database | None) -> None:
    """End the command (exit 2, one line) unless ``source`` is a configured source or
    one the database holds articles or runs of."""
    configured = _configured_source_ids(config)
    if source in configured:
        return
    stored = set(db.source_ids()) if db is not None else set()
    if source in stored:
        return
    known = ", ".join(sorted(configured | stored)) or "none configured or stored"
    _usage_error(f"unknown source {source!r} (known: {known})")


def _configured_source_ids(config: Path) -> set[str]:
    """The ids of the source files under ``config`` (their file names repeat them),
    valid or not: exporting what an invalid source stored is no crime."""
    folder = config / "sources"
    if not folder.is_dir():
        return set()
    return {path.stem for path in folder.iterdir() if path.suffix in (".yaml", ".yml")}


def parse_since(text: str, zone: tzinfo, option: str = "--since") -> datetime:
    """A date (its midnight in ``zone``) or an ISO time (``zone`` when it has no offset)."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(0), zone)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option}: {text!r} is not a date (2024-01-31) or time (2024-01-31T08:00)"
        ) from None
    if not in_safe_years(moment):  # moved to another zone, or a day on, it would overflow
        raise ValueError(f"{option}: {text!r} is too far in the past or the future")
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=zone)


def parse_until(text: str, zone: tzinfo) -> datetime:
    """The end of ``--until``, exclusive: after the whole day of a date (the next
    midnight in ``zone``), after the second of a time (publication times are stored to
    the second, so 08:00 includes 08:00:00)."""
    moment = parse_since(text, zone, "--until")
    if len(text) == 10:
        return datetime.combine(moment.date() + timedelta(days=1), time(0), zone)
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def _existing_database(settings: Settings) -> Database | None:
    """The database to export from; None when only files exist (the embedded SQLite
    database was never created). Opened without migrating: export only reads."""
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        if settings.database_url is None:
            return None
        raise DatabaseError(f"SQLite database {path}: does not exist")
    database = open_database(settings, migrate=False)
    try:
        _require_current_schema(database, "sqlite" if path is not None else "postgres")
    except BaseException:
        database.close()
        raise
    return database


def _require_current_schema(database: Database, backend: str) -> None:
    """Export only reads, so it does not migrate: an older schema lacks columns the
    query names, and the user is told what to run instead of a "no such column"."""
    from scraper.storage.migrate import latest_version, load_migrations

    current, known = database.schema_version(), latest_version(load_migrations(backend))
    if current < known:
        raise DatabaseError(
            f"the database schema is at version {current}, this scraper reads version "
            f"{known}: run 'scraper db migrate' first"
        )


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
