"""A source made up on the command line (``scraper crawl --feed URL``...): no YAML file
needed to try a feed, a sitemap, a Google News query or a list of article URLs.

The name, home page and id default to the site's own (the host of the first URL
given); the crawl, its output and its summary are those of a configured source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from scraper.config import ConfigError, Source

GNEWS_HOME = "https://news.google.com"
_SITE_QUERY = re.compile(r"\bsite:([A-Za-z0-9.-]+)")


@dataclass(frozen=True)
class AdhocChannels:
    """What the flags asked for; empty lists when not given."""

    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    urls_file: Path | None = None

    @property
    def given(self) -> bool:
        return bool(self.feeds or self.sitemaps or self.queries or self.urls_file)


def read_url_list(path: Path) -> list[str]:
    """One URL per line; blank lines and lines starting with # are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--urls: cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--urls: {path} is not UTF-8 text") from exc
    urls = [line.strip() for line in text.splitlines()]
    urls = [url for url in urls if url and not url.startswith("#")]
    if not urls:
        raise ConfigError(f"--urls: {path} lists no URL")
    return urls


def adhoc_source(
    channels: AdhocChannels,
    name: str | None = None,
    homepage: str | None = None,
    language: str | None = None,
) -> Source:
    """The Source the flags describe; ConfigError (one line per problem, each naming its
    flag) when a value is invalid."""
    discovery: list[dict[str, Any]] = [{"kind": "feed", "url": url} for url in channels.feeds]
    discovery += [{"kind": "sitemap", "url": url} for url in channels.sitemaps]
    discovery += [{"kind": "gnews", "query": query} for query in channels.queries]
    if channels.urls_file is not None:
        discovery.append({"kind": "urls", "urls": read_url_list(channels.urls_file)})
    home = homepage or _site_home(discovery)
    host = urlsplit(home).hostname or "adhoc"
    # Imported here: scraper.add imports Scrapy, which the command line need not load
    # before a crawl has started its extraction workers (scraper.cli.crawl).
    from scraper.add import source_id_for

    data = {
        "id": source_id_for(host),
        "name": name or host.removeprefix("www."),
        "homepage": home,
        "language": language,
        "discovery": discovery,
    }
    try:
        return Source.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_flag_problems(exc, channels))) from exc


def _site_home(discovery: list[dict[str, Any]]) -> str:
    """scheme://host of the first URL given, or the site a Google News query names."""
    for channel in discovery:
        url = channel.get("url") or (channel.get("urls") or [None])[0]
        if url:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
        elif (match := _SITE_QUERY.search(channel.get("query", ""))) is not None:
            return f"https://{match.group(1)}"
    return GNEWS_HOME


def _flag_problems(error: ValidationError, channels: AdhocChannels) -> list[str]:
    """Each problem worded against the flag that gave the value."""
    # Channels are built in this order, so an index into ``discovery`` names its flag.
    flags = ["--feed"] * len(channels.feeds) + ["--sitemap"] * len(channels.sitemaps)
    flags += ["--gnews"] * len(channels.queries) + ["--urls"]
    lines = []
    for problem in error.errors():
        loc = problem["loc"]
        message = str(problem["msg"]).removeprefix("Value error, ")
        flag = f"--{loc[0]}" if loc else "(source)"
        if len(loc) > 1 and loc[0] == "discovery" and isinstance(loc[1], int):
            flag = flags[min(loc[1], len(flags) - 1)]
        lines.append(f"{flag}: {message}")
    return lines
