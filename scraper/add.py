"""``scraper add HOMEPAGE_URL``: find a site's feeds, sitemaps and Google News search,
check each, and write ``config/sources/<id>.yaml`` with what answered.

Candidates, in the order they are tried:

- feeds the home page advertises (``<link rel="alternate" type="application/rss+xml">``,
  Atom, JSON Feed); only when none of them answers, the common paths (/feed, /rss,
  /rss.xml, /atom.xml, /feed.xml, /index.xml);
- sitemaps robots.txt lists (else /sitemap.xml and /sitemap_index.xml), the usual news
  sitemap paths, and the children of a sitemap index whose URL says "news". A news
  sitemap (Google News extension) is preferred: when one answers, the general
  sitemaps (the site's whole archive) are left out;
- a Google News search ``site:<host>``, checked against ``--gnews-base-url`` (Google
  News by default, the same default as a channel's ``base_url``; ``--no-gnews`` skips
  it), because a channel written unchecked could be one that never answers.

A candidate answers when its document is fetched as the crawl would fetch it (host_map,
address guard, limits, robots.txt) and the crawl's own parser reads at least one entry
from it. Two candidates that list the same articles are one channel; a comments feed is
no news channel.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from parsel import Selector
from pydantic import ValidationError

from scraper.config import GNewsChannel, Settings, Source
from scraper.discovery import Entry, decode_html
from scraper.probe import ROBOTS_REASON, Probe, ProbeError, is_html, origin_of
from scraper.text import single_line

GNEWS_BASE_URL = "https://news.google.com"
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
COMMON_FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml")
COMMON_SITEMAP_PATHS = ("/sitemap.xml", "/sitemap_index.xml")
NEWS_SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap-news.xml")
# Sitemaps checked at most (robots.txt may list hundreds) and children of an index
# looked at for a news sitemap.
MAX_SITEMAPS = 10
MAX_NEWS_CHILDREN = 3
DEFAULT_SCHEDULE = "1h"

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_WWW = re.compile(r"^www\d*\.")
_TITLE_SEPARATORS = re.compile(r"\s+[|–—:·•-]+\s+")
_HOME_WORDS = frozenset(
    {
        "home",
        "homepage",
        "home page",
        "start",
        "startseite",
        "accueil",
        "inicio",
        "início",
        "página inicial",
        "strona główna",
        "главная",
        "головна",
    }
)
# Two-letter top-level domains sites use for their look, not their country.
_GENERIC_TLDS = frozenset({"io", "co", "me", "tv", "ai", "ly", "fm", "am", "gg", "to", "ws", "cc"})
_TLD_COUNTRY = {"uk": "GB", "eu": None}


# --- pure parts ----------------------------------------------------------------------


def source_id_for(host: str) -> str:
    """The source id a host suggests: ``www.city.example`` -> ``city-example``."""
    host = _WWW.sub("", host.lower().rstrip("."))
    return _NOT_SLUG.sub("-", host).strip("-") or "source"


def homepage_url(text: str) -> str:
    """The URL a user typed: ``city.example`` means ``https://city.example``."""
    text = text.strip()
    return text if "://" in text else "https://" + text


def home_of(url: str) -> str:
    """A home page URL as sources write it: a site's root without its bare "/"."""
    parts = urlsplit(url)
    if parts.path in ("", "/") and not parts.query:
        return f"{parts.scheme}://{parts.netloc}"
    return url.split("#", 1)[0]


def flag_problems(
    source_id: str, name: str | None, language: str | None, homepage: str, gnews_base_url: str
) -> list[str]:
    """What is wrong with the values given on the command line, one line each, worded
    against the flag (checked before any request is made)."""
    data = {
        "id": source_id,
        "name": "-" if name is None else name,
        "homepage": homepage,
        "language": language,
        "discovery": [{"kind": "gnews", "query": "-", "base_url": gnews_base_url}],
    }
    try:
        Source.model_validate(data)
    except ValidationError as exc:
        flags = {"id": "--id", "homepage": "HOMEPAGE_URL", "discovery": "--gnews-base-url"}
        lines = []
        for problem in exc.errors():
            key = str(problem["loc"][0]) if problem["loc"] else "(source)"
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"{flags.get(key, '--' + key)}: {message}")
        return lines
    return []


@dataclass(frozen=True)
class FeedLink:
    url: str  # absolute
    title: str | None
    type: str

    @property
    def is_comments(self) -> bool:
        """WordPress and others advertise a comments feed beside the articles' one."""
        return "comment" in f"{self.title or ''} {self.url}".lower()


@dataclass(frozen=True)
class PageFacts:
    """What a home page says about its site."""

    name: str | None
    language_tag: str | None  # as written: "en-US", "uk"
    feeds: list[FeedLink]

    @property
    def language(self) -> str | None:
        """The ISO 639-1 code of ``language_tag`` ("en" for "en-US"), when it has one."""
        return language_code(self.language_tag)


def language_code(tag: str | None) -> str | None:
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0] if tag else ""
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None


def _joined(base: str, link: str) -> str | None:
    """``link`` resolved against ``base``; None for a malformed one ("http://[::1")."""
    try:
        return urljoin(base, link)
    except ValueError:
        return None


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def read_homepage(body: bytes, url: str, content_type: str | None = None) -> PageFacts:
    """Name (og:site_name, else <title>), language (<html lang>, else og:locale) and the
    feeds advertised with <link rel="alternate">, resolved against <base href>."""
    selector = Selector(text=decode_html(body, content_type), base_url=url, type="html")
    base = selector.css("base::attr(href)").get()
    base_url = (_joined(url, base.strip()) if base else None) or url
    feeds: list[FeedLink] = []
    for link in selector.xpath("//link[@href]"):
        rel = (link.attrib.get("rel") or "").lower().split()
        kind = (link.attrib.get("type") or "").split(";")[0].strip().lower()
        href = link.attrib["href"].strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            title = (link.attrib.get("title") or "").strip() or None
            absolute = (_joined(base_url, href) or "").split("#", 1)[0]
            if absolute.startswith(("http://", "https://")):
                feeds.append(FeedLink(absolute, title, kind))
    language = selector.xpath("/html/@lang").get() or selector.xpath("/html/@xml:lang").get()
    locale = selector.css('meta[property="og:locale"]::attr(content)').get()
    name = site_name(
        selector.css('meta[property="og:site_name"]::attr(content)').get(),
        selector.css("title::text").get(),
    )
    unique: dict[str, FeedLink] = {}
    for feed in feeds:
        unique.setdefault(feed.url, feed)  # the first mention keeps its title
    return PageFacts(name, (language or locale or "").strip() or None, list(unique.values()))


def site_name(og_site_name: str | None, title: str | None) -> str | None:
    """og:site_name, else the page title without a "Home" part ("Home | City News")."""
    # single_line: also without control characters, which a source's name may not hold.
    if og_site_name and (name := single_line(og_site_name)):
        return name
    title = single_line(title or "")
    if not title:
        return None
    parts = _TITLE_SEPARATORS.split(title)
    kept = [p for p in parts if p.strip().casefold() not in _HOME_WORDS]
    if kept and len(kept) < len(parts):
        return " - ".join(kept)
    return title


def gnews_edition(language_tag: str | None, host: str) -> tuple[str, str, str]:
    """hl, gl and ceid of the Google News edition for a site: the page's language with
    the region of its language tag ("pt-BR") or country domain (".ua"); Google's
    US English edition when either is unknown."""
    language = language_code(language_tag)
    tag_parts = re.split(r"[-_]", language_tag or "")
    region = tag_parts[1].upper() if len(tag_parts) > 1 and len(tag_parts[1]) == 2 else None
    hl = f"{language}-{region}" if language and region else language
    if region is None:
        tld = host.rstrip(".").rsplit(".", 1)[-1].lower()
        if len(tld) == 2 and tld.isalpha() and tld not in _GENERIC_TLDS:
            region = _TLD_COUNTRY.get(tld, tld.upper())
    if language is None or region is None or hl is None:
        return "en-US", "US", "US:en"
    return hl, region, f"{region}:{language}"


def is_news_sitemap(entries: list[Entry]) -> bool:
    """A Google News sitemap gives titles or publication dates; a plain one only lastmod."""
    return any(entry.title or entry.published for entry in entries)


def entries_phrase(count: int, noun: str = "entry") -> str:
    plural = "entries" if noun == "entry" else noun + "s"
    return f"{count} {noun if count == 1 else plural}"


# --- checking candidates -------------------------------------------------------------


@dataclass
class Candidate:
    """One feed, sitemap or search tried, and what came of it."""

    kind: str  # feed | sitemap | gnews
    url: str  # as tried; a Google News search's query
    found_by: str  # where the candidate came from
    status: str = "failed"  # ok | failed | unused
    detail: str = ""  # the reason, or what it lists
    final_url: str | None = None
    news: bool = False
    listed: frozenset[str] = frozenset()  # what it lists, to spot one channel twice
    channel: dict[str, Any] | None = None  # the channel for the source file

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def line(self) -> str:
        moved = f" -> {self.final_url}" if self.final_url and self.final_url != self.url else ""
        where = f"{self.url}{moved}: {self.detail} ({self.found_by})"
        return f"{self.status:<6}  {self.kind:<7}  {where}"


@dataclass
class SiteReport:
    """What ``discover`` found for one home page."""

    homepage: str  # as fetched (after redirects), else as given
    facts: PageFacts = field(default_factory=lambda: PageFacts(None, None, []))
    homepage_error: str | None = None
    unreachable: bool = False  # the home page gave no answer at all: nothing else tried
    notes: list[str] = field(default_factory=list)  # robots.txt and the like
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def chosen(self) -> list[Candidate]:
        return [c for c in self.candidates if c.ok]

    def lines(self) -> list[str]:
        if self.homepage_error is not None:
            home = f"failed  page     {self.homepage}: {self.homepage_error}"
        else:
            facts = [self.facts.name or "no name", f"language {self.facts.language or '?'}"]
            facts.append(f"advertises {entries_phrase(len(self.facts.feeds), 'feed')}")
            home = f"ok      page     {self.homepage}: {', '.join(facts)}"
        return [home, *self.notes, *(c.line() for c in self.candidates)]


@dataclass(frozen=True)
class AddOptions:
    gnews: bool = True
    gnews_base_url: str = GNEWS_BASE_URL


def discover(
    homepage: str,
    settings: Settings,
    options: AddOptions = AddOptions(),
    progress: Callable[[str], None] | None = None,
) -> SiteReport:
    """Every candidate channel of the site at ``homepage``, checked."""
    probe = Probe(settings, robots=True)
    report = SiteReport(homepage)
    step = progress or (lambda _text: None)
    step(f"fetching {homepage}")
    try:
        page = probe.get(homepage)
    except ProbeError as exc:
        report.homepage_error = exc.reason
        if exc.status is None and exc.reason != ROBOTS_REASON:
            report.unreachable = True  # no server answered: the other paths won't either
            return report
    else:
        report.homepage = page.url
        if is_html(page.content_type):
            report.facts = read_homepage(page.body, page.url, page.content_type)
        else:
            report.homepage_error = f"not an HTML page ({page.content_type})"
    origin = origin_of(report.homepage)
    robots = probe.robots_file(origin)
    if robots.answered:
        listed = entries_phrase(len(robots.sitemaps), "sitemap")
        report.notes.append(f"ok      robots   {robots.url}: lists {listed}")
    _check_feeds(probe, report, origin, step)
    _check_sitemaps(probe, report, origin, robots.sitemaps, step)
    if options.gnews:
        _check_gnews(probe, report, options.gnews_base_url, step)
    return report


def _check_feeds(
    probe: Probe, report: SiteReport, origin: str, step: Callable[[str], None]
) -> None:
    advertised = [(f.url, f.is_comments) for f in report.facts.feeds]
    _try_feeds(probe, report, advertised, "advertised by the page", step)
    if not any(c.ok and c.kind == "feed" for c in report.candidates):
        common = [(origin + path, False) for path in COMMON_FEED_PATHS]
        _try_feeds(probe, report, common, "common path", step)


def _try_feeds(
    probe: Probe,
    report: SiteReport,
    urls: list[tuple[str, bool]],
    found_by: str,
    step: Callable[[str], None],
) -> None:
    for url, is_comments in urls:
        if any(c.url == url or c.final_url == url for c in report.candidates):
            continue
        candidate = Candidate("feed", url, found_by)
        report.candidates.append(candidate)
        if is_comments:
            candidate.status, candidate.detail = "unused", "a comments feed"
            continue
        step(f"checking {url}")
        try:
            final_url, document = probe.feed(url)
        except ProbeError as exc:
            candidate.detail = exc.reason
            continue
        candidate.final_url = final_url
        if not document.entries:
            candidate.detail = "no entries"
            continue
        candidate.listed = frozenset(entry.url for entry in document.entries)
        candidate.detail = entries_phrase(len(document.entries)) + newest(document.entries)
        _accept(report, candidate, {"kind": "feed", "url": final_url})


def _check_sitemaps(
    probe: Probe,
    report: SiteReport,
    origin: str,
    listed: list[str],
    step: Callable[[str], None],
) -> None:
    queue = [(url, "robots.txt") for url in listed]
    if not listed:
        queue += [(origin + path, "common path") for path in COMMON_SITEMAP_PATHS]
    queue += [(origin + path, "common news path") for path in NEWS_SITEMAP_PATHS]
    tried: set[str] = set()
    for url, found_by in queue:  # grows with the news children of indexes
        if url in tried:
            continue
        if len(tried) == MAX_SITEMAPS:
            left = len({u for u, _ in queue} - tried)
            detail = f"not checked, nor {left - 1} more (at most {MAX_SITEMAPS} are)"
            report.candidates.append(Candidate("sitemap", url, found_by, "unused", detail))
            break
        tried.add(url)
        candidate = Candidate("sitemap", url, found_by)
        report.candidates.append(candidate)
        step(f"checking {url}")
        try:
            final_url, document = probe.sitemap(url)
        except ProbeError as exc:
            candidate.detail = exc.reason
            continue
        candidate.final_url = final_url
        candidate.listed = frozenset(entry.url for entry in document.entries)
        if not document.entries:
            candidate.detail = "no entries"
            continue
        if document.kind == "sitemapindex":
            candidate.detail = f"index of {entries_phrase(len(document.entries), 'sitemap')}"
            news = [e.url for e in document.entries if "news" in _path_of(e.url).lower()]
            queue += [(child, f"listed by {final_url}") for child in news[:MAX_NEWS_CHILDREN]]
        else:
            candidate.news = is_news_sitemap(document.entries)
            kind = "news sitemap, " if candidate.news else ""
            count = entries_phrase(len(document.entries))
            candidate.detail = kind + count + newest(document.entries)
        _accept(report, candidate, {"kind": "sitemap", "url": final_url})
    sitemaps = [c for c in report.candidates if c.kind == "sitemap" and c.ok]
    if any(c.news for c in sitemaps):
        for candidate in sitemaps:
            if not candidate.news:
                candidate.status = "unused"
                candidate.detail += "; a news sitemap answered, so not the whole archive"


def _check_gnews(
    probe: Probe, report: SiteReport, base_url: str, step: Callable[[str], None]
) -> None:
    host = urlsplit(report.homepage).hostname or ""
    query = f"site:{_WWW.sub('', host)}"
    hl, gl, ceid = gnews_edition(report.facts.language_tag, host)
    channel = GNewsChannel(kind="gnews", query=query, hl=hl, gl=gl, ceid=ceid, base_url=base_url)
    candidate = Candidate("gnews", query, f"Google News at {base_url}, {hl} {gl} {ceid}")
    report.candidates.append(candidate)
    step(f"searching {base_url} for {query}")
    try:
        _url, feed = probe.gnews(channel)
    except ProbeError as exc:
        candidate.detail = exc.reason
        return
    if not feed.items:
        candidate.detail = "no items"
        return
    candidate.detail = entries_phrase(len(feed.items), "item")
    data: dict[str, Any] = {"kind": "gnews", "query": query, "hl": hl, "gl": gl, "ceid": ceid}
    if base_url.rstrip("/") != GNEWS_BASE_URL:
        data["base_url"] = base_url
    candidate.status, candidate.channel = "ok", data


def _accept(report: SiteReport, candidate: Candidate, channel: dict[str, Any]) -> None:
    """``candidate`` answered: a channel of its own unless an earlier one is the same
    document or lists the same articles."""
    for other in report.candidates:
        if other is candidate or not other.ok or other.kind != candidate.kind:
            continue
        if other.final_url == candidate.final_url or other.listed == candidate.listed:
            candidate.status = "unused"
            candidate.detail += f"; the same as {other.final_url}"
            return
    candidate.status, candidate.channel = "ok", channel


def newest(entries: list[Entry]) -> str:
    """ ", newest 2024-05-02": the latest day the entries give, if any."""
    values = [entry.published or entry.modified for entry in entries]
    days = [v.date() if isinstance(v, datetime) else v for v in values if v is not None]
    return f", newest {max(days).isoformat()}" if days else ""


# --- the source file -----------------------------------------------------------------


def source_data(
    report: SiteReport, source_id: str, name: str | None, language: str | None
) -> dict[str, Any]:
    """The source file's content: what answered, feeds first, Google News last (the
    crawl runs channels in order, so an article found directly is credited to its
    feed or sitemap)."""
    order = {"feed": 0, "sitemap": 1, "gnews": 2}
    chosen = sorted(report.chosen, key=lambda c: order[c.kind])
    host = urlsplit(report.homepage).hostname or source_id
    data: dict[str, Any] = {
        "id": source_id,
        "name": name or report.facts.name or _WWW.sub("", host),
        "homepage": home_of(report.homepage),
    }
    if language or report.facts.language:
        data["language"] = language or report.facts.language
    data["schedule"] = {"every": DEFAULT_SCHEDULE}
    data["discovery"] = [c.channel for c in chosen]
    return data


def source_yaml(data: dict[str, Any], report: SiteReport, command: str) -> str:
    """The YAML text of ``data``, each channel under a comment saying what it listed."""
    head = {k: v for k, v in data.items() if k != "discovery"}
    lines = [
        f"# Written by '{command}' on {date.today().isoformat()}.",
        f"# Try it with 'scraper check {data['id']}'.",
    ]
    lines += yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=1000).splitlines()
    lines.append("discovery:")
    by_channel = {id(c.channel): c for c in report.chosen}
    for channel in data["discovery"]:
        candidate = by_channel.get(id(channel))
        if candidate is not None:
            lines.append(f"  # {candidate.detail} ({candidate.found_by})")
        item = yaml.safe_dump([channel], sort_keys=False, allow_unicode=True, width=1000)
        lines += ["  " + line for line in item.splitlines()]
    return "\n".join(lines) + "\n"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def validate_source(text: str) -> Source:
    """The Source the text describes (ValueError with the problems when it is invalid)."""
    return Source.model_validate(yaml.safe_load(text))


def write_source_file(path: Path, text: str, replace: bool) -> None:
    """Write ``text`` to ``path`` atomically; FileExistsError when ``path`` exists and
    ``replace`` is False (checked by the final link itself, so no race loses a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from others
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
