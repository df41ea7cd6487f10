"""Log output of every command: plain lines by default, or one JSON object per line with
``SCRAPER_LOG_FORMAT=json`` (for log shippers), carrying the ``extra`` fields of a record
(a run's source, status and counts) as keys."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

LOG_FORMAT_ENV = "SCRAPER_LOG_FORMAT"
# Attributes every LogRecord has; anything else came in through ``extra=`` and is data.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


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


LOG_FORMATS = ("text", "json")


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """``text`` or ``json`` from SCRAPER_LOG_FORMAT (unset or empty: text). ValueError
    names the variable when it holds anything else."""
    env = os.environ if environ is None else environ
    value = env.get(LOG_FORMAT_ENV, "").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV}: {value!r} is not one of: {', '.join(LOG_FORMATS)}")
    return value


def final_line(label: str, message: str, environ: Mapping[str, str] | None = None) -> str:
    """A command's closing ``error:`` or ``warning:`` line, as a JSON object like every
    other log line when the log format is JSON."""
    try:
        json_format = log_format(environ) == "json"
    except ValueError:
        json_format = False
    if not json_format:
        return f"{label}: {message}"
    record = logging.LogRecord("scraper", logging.INFO, "", 0, message, None, None)
    record.levelname = label.upper()
    return JsonFormatter().format(record)


def setup_logging(
    verbose: int,
    environ: Mapping[str, str] | None = None,
    chatty: tuple[str, ...] = (),
) -> None:
    """WARNING by default (INFO for the ``chatty`` loggers, e.g. the daemon's one line per
    run); -v adds INFO from every part, -vv DEBUG and Scrapy's per-request lines.
    ValueError when SCRAPER_LOG_FORMAT is neither text nor json."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format(environ) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    for name in chatty:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    # Every failure is already reported once, in one line, by the spider that met it;
    # Scrapy's own errors repeat it with tracebacks, so they show only from -v on.
    scrapy_level = (
        logging.DEBUG if verbose > 1 else logging.WARNING if verbose else logging.CRITICAL
    )
    logging.getLogger("scrapy").setLevel(scrapy_level)
