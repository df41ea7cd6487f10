"""The ``scraper`` command (typer + rich): a thin layer over the library."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import quote, urlsplit

import typer
from rich.console import Console

from scraper.adhoc import AdhocChannels, adhoc_source
from scraper.cli_db import EXIT_INCOMPLETE, db_app, export_command, parse_since
from scraper.config import (
    ConfigError,
    Settings,
    Source,
    SourcesLoad,
    load_settings,
    load_sources_report,
    unknown_variables,
)
from scraper.document import Document, render
from scraper.logs import final_line, one_line, setup_logging
from scraper.models import Discovery, FetchedPage, Skip, SourceDefaults
from scraper.summary import CrawlSummary
from scraper.urls import normalize_url

# Plain help text: typer's rich panels print a type beside every flag ("--all <bool>"),
# which reads as if the flag took a value.
HELP_SETTINGS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="Keeps a collection of news articles up to date.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP_SETTINGS,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        envvar="SCRAPER_CONFIG",
        metavar="DIR",
        help="Folder with settings.yaml and sources/.",
    ),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", metavar="DIR", help="Folder of the document files.")
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", metavar="URL", help="postgresql://... (default: embedded SQLite)."),
]
VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose", "-v", count=True, show_default=False, help="More logging (-vv: more)."
    ),
]

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_DATABASE_BEHIND = 4
EXIT_FAILED = 1  # the command crashed
EXIT_OUTPUT = 6  # the output folder could not be written
# The settings the flags override, so that a bad value is reported against its flag.
FLAG_NAMES = {"output_dir": "--output", "database_url": "--database"}


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    print_problems([message])
    raise typer.Exit(code)


def print_problems(lines: list[str], label: str = "error") -> None:
    for line in lines:
        err.print(final_line(label, line), markup=False, highlight=False)


def start_logging(verbose: int, chatty: tuple[str, ...] = ()) -> None:
    """Logging as SCRAPER_LOG_FORMAT asks (an invalid value ends the command, exit 2),
    then one warning per SCRAPER_* variable that nothing reads."""
    try:
        setup_logging(verbose, chatty=chatty)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    print_problems(unknown_variables(), "warning")


def config_failed(exc: ConfigError) -> NoReturn:
    """End the command on an invalid config: every problem on a line of its own."""
    print_problems(str(exc).splitlines())
    raise typer.Exit(EXIT_CONFIG)


def load_config(
    config: Path, output: Path | None = None, database: str | None = None
) -> tuple[Settings, SourcesLoad]:
    """Settings and sources. Invalid settings end the command (exit 2); invalid source
    files do not: they are in the result's ``invalid``, for the caller to report."""
    try:
        settings = load_settings(config, flags=FLAG_NAMES, output_dir=output, database_url=database)
        loaded = load_sources_report(config)
    except ConfigError as exc:
        config_failed(exc)
    return settings, loaded


def select_sources(
    loaded: SourcesLoad, ids: list[str], all_: bool
) -> tuple[list[Source], list[Path]]:
    """The valid sources to crawl, and the invalid files asked for (all of them with
    --all), whose problems are printed; any other invalid file gets one warning line."""
    if all_ and ids:
        fail("give SOURCE_IDs or --all, not both", EXIT_CONFIG)
    if not all_ and not ids:
        fail("name one or more SOURCE_IDs, or give --all", EXIT_CONFIG)
    sources = loaded.sources
    if all_ and not sources and not loaded.invalid:
        fail("no sources configured", EXIT_CONFIG)
    unknown = [i for i in ids if i not in sources and not loaded.problems_of(i)]
    if unknown:
        known = ", ".join(sorted(sources)) or "none"
        fail(f"unknown source {unknown[0]!r} (known: {known})", EXIT_CONFIG)
    wanted = list(sources) if all_ else [i for i in dict.fromkeys(ids) if i in sources]
    broken = [
        path for path in loaded.invalid if all_ or (path.stem in ids and path.stem not in sources)
    ]
    for path, problems in loaded.invalid.items():
        if path in broken:
            print_problems(problems)
        else:
            count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
            print_problems([f"{path}: invalid ({count}; see 'scraper sources')"], "warning")
    if not wanted:
        fail(f"nothing to crawl: invalid {', '.join(map(str, broken))}", EXIT_CONFIG)
    return [sources[i] for i in wanted], broken


def since_option(value: str | None, settings: Settings) -> datetime | None:
    """--since as a time in the output zone; a bad value ends the command (exit 2)."""
    if value is None:
        return None
    try:
        return parse_since(value, settings.zone)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)


def summary_line(summary: CrawlSummary) -> str:
    return (
        f"discovered {summary.discovered}, known {summary.known}, fetched {summary.fetched}, "
        f"new {summary.new}, updated {summary.updated}, unchanged {summary.unchanged}, "
        f"skipped {sum(summary.skipped.values())}, failed {sum(summary.failed.values())}"
    )


def print_summary(summaries: dict[str, CrawlSummary], total: CrawlSummary) -> None:
    for source_id, summary in summaries.items():
        out.print(f"{source_id}: {summary_line(summary)}", markup=False, highlight=False)
        for note, count in summary.notes.items():
            times = f" ({count})" if count > 1 else ""
            out.print(f"  {note}{times}", markup=False, highlight=False)
        for label, reasons in (("skipped", summary.skipped), ("failed", summary.failed)):
            for reason, count in reasons.most_common():
                out.print(f"  {label}: {reason} ({count})", markup=False, highlight=False)
    if len(summaries) > 1:
        out.print(f"total: {summary_line(total)}", markup=False, highlight=False)


@app.command()
def crawl(
    source_ids: Annotated[
        list[str] | None, typer.Argument(metavar="SOURCE_ID", help="Source ids to crawl.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Crawl every configured source.")] = False,
    config: ConfigOpt = Path("config"),
    output: OutputOpt = None,
    database: DatabaseOpt = None,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Articles per source at most.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="DATE", help="Skip articles published before.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing.")] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch stored articles again to pick up changes.")
    ] = False,
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", metavar="URL", help="Ad hoc: crawl this feed (repeatable)."),
    ] = None,
    sitemap: Annotated[
        list[str] | None,
        typer.Option("--sitemap", metavar="URL", help="Ad hoc: crawl this sitemap (repeatable)."),
    ] = None,
    gnews: Annotated[
        list[str] | None,
        typer.Option("--gnews", metavar="QUERY", help="Ad hoc: a Google News search (repeatable)."),
    ] = None,
    urls: Annotated[
        Path | None,
        typer.Option("--urls", metavar="FILE", help="Ad hoc: article URLs, one per line."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="TEXT", help="Ad hoc: the source's name (default: the host)."
        ),
    ] = None,
    homepage: Annotated[
        str | None,
        typer.Option("--homepage", metavar="URL", help="Ad hoc: home URL (default: the site's)."),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option("--language", metavar="CODE", help="Ad hoc: ISO 639-1 language."),
    ] = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Crawl sources now and print a summary."""
    start_logging(verbose)
    adhoc = AdhocChannels(feed or [], sitemap or [], gnews or [], urls)
    configured: list[Source] = []  # to guess whose a file is that the database lacks
    if adhoc.given:
        if source_ids or all_:
            fail("give SOURCE_IDs, --all or ad-hoc channels, not several", EXIT_CONFIG)
        settings = load_settings_only(config, output, database)
        try:
            chosen, broken = [adhoc_source(adhoc, name, homepage, language)], list[Path]()
        except ConfigError as exc:
            config_failed(exc)
    else:
        settings, loaded = load_config(config, output, database)
        chosen, broken = select_sources(loaded, source_ids or [], all_)
        configured = list(loaded.sources.values())
    since_time = since_option(since, settings)
    from scraper.forkserver import start_fork_server

    # The extraction workers' imports take longest: started before Scrapy's own imports
    # (scraper.crawl) and the crawl's start, which overlap with them (scraper.command
    # started it before this module's imports already, unless called another way).
    start_fork_server()
    from scraper.crawl import CrawlOptions
    from scraper.runner import run_manual_crawl

    options = CrawlOptions(limit=limit, since=since_time, dry_run=dry_run, refresh=refresh)
    try:
        report = run_manual_crawl(
            settings,
            chosen,
            options,
            progress=err if err.is_terminal else None,
            known_sources=configured,
        )
    except Exception as exc:  # a bug: one line, the traceback from -v on
        logging.getLogger(__name__).info("the crawl crashed", exc_info=True)
        fail(f"the crawl crashed: {type(exc).__name__}: {one_line(exc)}", EXIT_FAILED)
    print_summary(report.summaries, report.total)
    if report.level is not None and (leveled := report.level.describe()):
        out.print(leveled, markup=False, highlight=False)
    if report.output_error is not None:
        fail(f"cannot write the output folder: {report.output_error}", EXIT_OUTPUT)
    if report.nothing_reachable:
        fail("nothing reachable: no discovery channel answered", EXIT_UNREACHABLE)
    if problems := report.problems():
        fail(f"not everything was crawled: {'; '.join(problems)}", EXIT_INCOMPLETE)
    if report.database_error is not None:
        fail(
            f"the database is behind the files ({report.database_error}); "
            "every file was written: run 'scraper db sync' or crawl again once it is back",
            EXIT_DATABASE_BEHIND,
        )
    if broken:
        fail(f"not crawled, invalid: {', '.join(map(str, broken))}", EXIT_CONFIG)


@app.command()
def sources(config: ConfigOpt = Path("config"), verbose: VerboseOpt = 0) -> None:
    """List the configured sources (validating their files), then each one's last run,
    last success, counts, and whether it is failing. Every problem of every invalid
    file is listed on stderr (exit 2)."""
    start_logging(verbose)
    settings, loaded = load_config(config)
    if not loaded.sources and not loaded.invalid:
        out.print("no sources configured")
        return
    for source in loaded.sources.values():
        every = source.schedule.every
        schedule = f"every {format_duration(every)}" if every else f"cron {source.schedule.cron}"
        channels = ", ".join(channel.kind for channel in source.discovery)
        out.print(
            f"{source.id}\t{source.name}\t{schedule}\t{channels}", markup=False, highlight=False
        )
    print_run_status(settings, loaded.sources)
    print_problems(loaded.errors)
    if loaded.invalid:
        raise typer.Exit(EXIT_CONFIG)


def format_duration(duration: timedelta) -> str:
    """The largest unit that divides it: 30m, 2h, 1d, 90s."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def print_run_status(settings: Settings, loaded: dict[str, Source]) -> None:
    """One line per source from crawl_runs (nothing is created when no crawl ran yet),
    its times in the output time zone, as in the records."""
    from scraper.schedule import RUNS_PER_SOURCE, summarize_runs
    from scraper.storage.base import DatabaseError
    from scraper.storage.open import open_database, sqlite_path

    embedded = sqlite_path(settings)
    runs: list[dict[str, object]] = []
    if embedded is None or embedded.exists():
        try:
            database = open_database(settings, migrate=False)
            try:
                runs = database.recent_runs(RUNS_PER_SOURCE)
            finally:
                database.close()
        except DatabaseError as exc:
            err.print(f"run status unavailable: {exc}", markup=False, highlight=False)
            return
    for status in summarize_runs(loaded, runs):
        out.print(status.describe(settings.zone), markup=False, highlight=False)


@app.command()
def daemon(
    config: ConfigOpt = Path("config"),
    output: OutputOpt = None,
    database: DatabaseOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Crawl every source on its schedule until stopped (SIGTERM/SIGINT; SIGHUP reloads).

    Serves /healthz and /metrics on the settings' http_port (SCRAPER_HTTP_HOST picks the
    address, 127.0.0.1 by default)."""
    from scraper.daemon import ConfigLocation, DaemonError, run_daemon

    start_logging(verbose, chatty=("scraper.daemon", "scraper.health", "scraper.storage.level"))
    overrides = {"output_dir": output, "database_url": database}
    given = {k: v for k, v in overrides.items() if v is not None}
    location = ConfigLocation(config, given, FLAG_NAMES)
    try:
        code = run_daemon(location)
    except ConfigError as exc:
        config_failed(exc)
    except DaemonError as exc:
        fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


@app.command()
def worker(
    config: ConfigOpt = Path("config"),
    output: OutputOpt = None,
    database: DatabaseOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Sources crawled at once.")
    ] = 4,
    verbose: VerboseOpt = 0,
) -> None:
    """One member of a fleet (PostgreSQL only): workers on any number of machines share
    one schedule and crawl every source (SIGTERM stops; SIGHUP reloads).

    Serves /healthz and /metrics like the daemon. See docs/fleet.md."""
    from scraper.fleet.worker import NeedsPostgres, run_worker
    from scraper.service.lifecycle import ServiceError
    from scraper.service.reload import ConfigLocation

    start_logging(verbose, chatty=("scraper.fleet", "scraper.health", "scraper.storage.level"))
    overrides = {"output_dir": output, "database_url": database}
    given = {k: v for k, v in overrides.items() if v is not None}
    location = ConfigLocation(config, given, FLAG_NAMES)
    try:
        code = run_worker(location, concurrency)
    except ConfigError as exc:
        config_failed(exc)
    except NeedsPostgres as exc:
        fail(str(exc), EXIT_CONFIG)
    except ServiceError as exc:
        fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


# "scheme://": a URL (any case; RFC 3986 scheme characters), else a file's path.
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def _read_page(target: str, url: str | None, settings: Settings) -> tuple[str, bytes, str | None]:
    """(normalized URL, body, charset) of an article URL or a saved HTML file."""
    from scraper.fetch import FetchError, fetch_page

    if not target.strip():
        fail("give an article URL or an HTML file", EXIT_CONFIG)
    scheme = _URL_SCHEME.match(target)
    is_url = scheme is not None and scheme.group(1).lower() in ("http", "https")
    if scheme is not None and not is_url and not Path(target).exists():
        fail(f"{target}: only http and https URLs are fetched", EXIT_CONFIG)
    if is_url:
        try:
            normalize_url(target)
        except ValueError as exc:  # "http://[::1" and the like: never fetched
            fail(str(exc), EXIT_CONFIG)
        try:
            fetched = fetch_page(target, settings)
        except FetchError as exc:
            fail(str(exc))
        final_url, body, charset = fetched.url, fetched.body, fetched.charset
    else:
        path = Path(target)
        try:
            body = path.read_bytes()
        except OSError as exc:
            fail(f"{target}: {exc.strerror or exc}")
        # A saved page has no URL of its own: --url gives it one, else the canonical URL
        # the page declares, else a local stand-in.
        final_url, charset = (
            url or _declared_url(body) or f"http://localhost/{quote(path.name)}",
            None,
        )
    try:
        return normalize_url(final_url), body, charset
    except ValueError as exc:
        fail(str(exc))


def _declared_url(body: bytes) -> str | None:
    """The absolute http(s) URL a saved page's <link rel=canonical> names, if any."""
    from scraper.extract import UnusablePage, decode_html, parse_html
    from scraper.normalize import declared_canonical

    try:
        tree = parse_html(decode_html(body, None))
    except UnusablePage:
        return None
    # No base: only an absolute canonical link names the page.
    return declared_canonical(tree, "")


def _defaults_for(source_id: str | None, config: Path, page_url: str) -> SourceDefaults:
    """The named source's defaults, or ones made up from the page's own site."""
    if source_id is not None:
        _settings, loaded = load_config(config)
        if source_id not in loaded.sources:
            print_problems(loaded.problems_of(source_id))
            fail(f"unknown or invalid source {source_id!r}", EXIT_CONFIG)
        return SourceDefaults.of(loaded.sources[source_id])
    parts = urlsplit(page_url)
    home = f"{parts.scheme}://{parts.netloc}"
    return SourceDefaults("extract", parts.hostname or home, home, None, "Notícias", False)


class ExtractFormat(StrEnum):
    record = "record"
    json = "json"


def document_fields(doc: Document) -> dict[str, str | list[str] | None]:
    """A document as JSON-ready fields: the record's, its id, the date's provenance and
    what the page says about itself (stored in the database, not in the record)."""
    return {
        "id": doc.id,
        "title": doc.title,
        "published": doc.published.isoformat(),
        "published_original": doc.published_original,
        "date_source": doc.date_source,
        "type": doc.type,
        "url": doc.url,
        "source_name": doc.source_name,
        "source_url": doc.source_url,
        "language": doc.language,
        "aggregator": doc.aggregator,
        "content": doc.content,
        **doc.page_metadata_fields(),
    }


@app.command()
def extract(
    target: Annotated[str, typer.Argument(metavar="URL|FILE", help="Article URL or HTML file.")],
    source: Annotated[
        str | None, typer.Option("--source", metavar="ID", help="Source id for defaults.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", metavar="URL", help="The page's URL, for a FILE.")
    ] = None,
    output_format: Annotated[
        ExtractFormat,
        typer.Option("--format", help="record: the document file's text; json: its fields."),
    ] = ExtractFormat.record,
    config: ConfigOpt = Path("config"),
) -> None:
    """Extract one article and print its document. A URL is fetched as a crawl would
    fetch it: through host_map and the address guard, within the size and time limits."""
    from scraper.normalize import process_page

    settings = load_settings_only(config)
    page_url, body, charset = _read_page(target, url, settings)
    defaults = _defaults_for(source, config, page_url)
    discovery = Discovery(page_url, defaults.source_id, channel="extract", aggregator="Web")
    page = FetchedPage(discovery, defaults, page_url, body, charset, settings.timezone)
    outcome = process_page(page)
    if isinstance(outcome, Skip):
        fail(f"{target}: {outcome.reason}")
    if output_format is ExtractFormat.json:
        sys.stdout.write(json.dumps(document_fields(outcome), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(render(outcome))


def progress_status(first: str) -> AbstractContextManager[Callable[[str], None] | None]:
    """A spinner on a terminal's stderr that says what is being fetched; a no-op
    elsewhere (the callback is then None)."""
    if not err.is_terminal:
        return nullcontext(None)

    @contextmanager
    def spinner() -> Iterator[Callable[[str], None]]:
        with err.status(first) as status:
            yield lambda text: status.update(text)

    return spinner()


@app.command()
def add(
    homepage: Annotated[str, typer.Argument(metavar="HOMEPAGE_URL", help="The site's home page.")],
    config: ConfigOpt = Path("config"),
    source_id: Annotated[
        str | None,
        typer.Option(
            "--id", metavar="ID", help="Source id (default: www.city.example -> city-example)."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="TEXT", help="Name (default: og:site_name or <title>)."),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option("--language", metavar="CODE", help="ISO 639-1 (default: <html lang>)."),
    ] = None,
    gnews: Annotated[
        bool, typer.Option("--gnews/--no-gnews", help="Try a Google News site: search.")
    ] = True,
    gnews_base_url: Annotated[
        str,
        typer.Option("--gnews-base-url", metavar="URL", help="Where Google News is asked."),
    ] = "https://news.google.com",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the source file, write nothing.")
    ] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Find a site's feeds, sitemaps and Google News search, check each one, and write
    config/sources/<id>.yaml with those that answered (one line per candidate)."""
    from scraper.add import (
        AddOptions,
        discover,
        flag_problems,
        homepage_url,
        source_data,
        source_id_for,
        source_yaml,
        validate_source,
        write_source_file,
    )

    start_logging(verbose)
    settings = load_settings_only(config)
    url = homepage_url(homepage)
    chosen_id = source_id or source_id_for(urlsplit(url).hostname or "")
    if problems := flag_problems(chosen_id, name, language, url, gnews_base_url):
        print_problems(problems)
        raise typer.Exit(EXIT_CONFIG)
    path = config / "sources" / f"{chosen_id}.yaml"
    if path.exists() and not force and not dry_run:
        fail(f"{path} exists: give another --id, or --force to replace it", EXIT_CONFIG)
    with progress_status(f"fetching {url}") as progress:
        report = discover(url, settings, AddOptions(gnews, gnews_base_url), progress)
    for line in report.lines():
        out.print(line, markup=False, highlight=False)
    if report.unreachable:
        fail(f"{url}: {report.homepage_error}; nothing written", EXIT_UNREACHABLE)
    if not report.chosen:
        fail(
            "no feed, sitemap or Google News search answered with entries; nothing written "
            "(a listing channel can be written by hand)",
            EXIT_INCOMPLETE,
        )
    text = source_yaml(
        source_data(report, chosen_id, name, language), report, f"scraper add {homepage}"
    )
    written = validate_source(text)  # what answered makes a valid source; a bug otherwise
    if dry_run:
        out.print(f"\n{text}(--dry-run: {path} not written)", markup=False, highlight=False)
        return
    try:
        write_source_file(path, text, replace=force)
    except FileExistsError:
        fail(f"{path} exists: give another --id, or --force to replace it", EXIT_CONFIG)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_OUTPUT)
    kinds = ", ".join(channel.kind for channel in written.discovery)
    out.print(
        f"wrote {path} ({kinds}); try it with 'scraper check {chosen_id}'",
        markup=False,
        highlight=False,
    )


@app.command()
def check(
    source_id: Annotated[str, typer.Argument(metavar="SOURCE_ID", help="The source to check.")],
    config: ConfigOpt = Path("config"),
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="Articles shown per channel.")] = 5,
    verbose: VerboseOpt = 0,
) -> None:
    """Run every channel of a source and store nothing: show what each one lists (first
    articles with their dates; a listing's follow matches and next page) and what its
    first article becomes. Exit 5 unless every channel answered with articles."""
    from scraper.check import check_source, report_lines

    start_logging(verbose)
    settings, loaded = load_config(config)
    if source_id not in loaded.sources:
        print_problems(loaded.problems_of(source_id))
        known = ", ".join(sorted(loaded.sources)) or "none"
        fail(f"unknown or invalid source {source_id!r} (known: {known})", EXIT_CONFIG)
    source = loaded.sources[source_id]
    try:
        with progress_status(f"checking {source_id}") as progress:
            result = check_source(source, settings, limit, progress)
    except Exception as exc:  # a bug: one line, the traceback from -v on
        logging.getLogger(__name__).info("the check crashed", exc_info=True)
        fail(f"the check crashed: {type(exc).__name__}: {one_line(exc)}", EXIT_FAILED)
    for line in report_lines(result, settings, limit):
        out.print(line, markup=False, highlight=False)
    if not result.ok:
        fail(f"not every channel answered: {'; '.join(result.problems())}", EXIT_INCOMPLETE)


def load_settings_only(
    config: Path, output: Path | None = None, database: str | None = None
) -> Settings:
    try:
        return load_settings(config, flags=FLAG_NAMES, output_dir=output, database_url=database)
    except ConfigError as exc:
        config_failed(exc)


def print_version(wanted: bool) -> None:
    if wanted:
        from scraper import __version__

        out.print(f"scraper {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def scraper_command(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Keeps a collection of news articles up to date."""


app.add_typer(db_app, name="db")
app.command(name="export")(export_command)


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
