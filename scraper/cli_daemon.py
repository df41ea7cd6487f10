"""``scraper daemon`` and the per-source run status shown by ``scraper sources``.

Self-contained (it does not import scraper.cli), so scraper.cli can import it to register
the command and ``python -m scraper.cli_daemon`` runs the daemon on its own.

Logging: plain lines by default; one JSON object per line with ``SCRAPER_LOG_FORMAT=json``
(for log shippers), carrying the run's fields (source, status, counts) as keys.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from scraper.config import ConfigError, Source
from scraper.schedule import RUNS_PER_SOURCE, SourceStatus, summarize_runs

__all__ = ["SourceStatus", "daemon_command", "setup_daemon_logging", "sources_status"]

LOG_FORMAT_ENV = "SCRAPER_LOG_FORMAT"
EXIT_CONFIG = 2
EXIT_FAILED = 1

# --- logging ----------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else came in through ``extra=`` and is data.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created)
            .astimezone()
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_daemon_logging(verbose: int, environ: Mapping[str, str] | None = None) -> None:
    """INFO from the daemon itself (one line per run) by default; -v adds INFO from every
    part, -vv DEBUG and Scrapy's per-request lines."""
    env = os.environ if environ is None else environ
    handler = logging.StreamHandler(sys.stderr)
    if env.get(LOG_FORMAT_ENV, "").strip().lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    for name in ("scraper.daemon", "scraper.health"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("scrapy").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


# --- the command ----------------------------------------------------------------------------------

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", envvar="SCRAPER_CONFIG", help="Folder with settings.yaml and sources/."
    ),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", help="Folder of the document files.")]
DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="postgresql://... (default: embedded SQLite).")
]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")]


def daemon_command(
    config: ConfigOpt = Path("config"),
    output: OutputOpt = None,
    database: DatabaseOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Crawl every source on its schedule until stopped (SIGTERM/SIGINT; SIGHUP reloads).

    Serves /healthz and /metrics on settings' http_port (SCRAPER_HTTP_HOST picks the
    address, 127.0.0.1 by default)."""
    from scraper.daemon import ConfigLocation, DaemonError, run_daemon

    setup_daemon_logging(verbose)
    overrides = {"output_dir": output, "database_url": database}
    location = ConfigLocation(config, {k: v for k, v in overrides.items() if v is not None})
    try:
        code = run_daemon(location)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except DaemonError as exc:
        _fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


# --- run status per source ------------------------------------------------------------------------


def sources_status(
    sources: Mapping[str, Source], database: object, runs_per_source: int = RUNS_PER_SOURCE
) -> list[SourceStatus]:
    """For ``scraper sources``: each source's last run, last success, counts and whether
    it is failing, from the database's crawl_runs. Raises TypeError when the database
    backend has no ``recent_runs`` (see RunHistory)."""
    reader = getattr(database, "recent_runs", None)
    if not callable(reader):
        raise TypeError(f"{type(database).__name__} cannot list crawl runs (no recent_runs)")
    rows = reader(runs_per_source)
    return summarize_runs(sources, rows)


if __name__ == "__main__":  # python -m scraper.cli_daemon (before `scraper daemon` exists)
    typer.run(daemon_command)
