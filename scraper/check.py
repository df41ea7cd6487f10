"""``scraper check SOURCE_ID``: run every channel of a source without storing anything
and show what each one finds, like Scrapy's ``parse`` and ``check``.

Each channel's documents are fetched as the crawl fetches them (scraper.probe: host_map,
the address guard, the limits, robots.txt when the source obeys it) and read by the
crawl's own parsers, in the crawl's order: a feed's entries as listed, a sitemap's
newest first (an index: its newest child), a listing's links that match ``follow``
page by page with the ``next`` link, a Google News search with its first links
resolved to the publisher. Then the first article is fetched and extracted as the
crawl would store it. No file, database row, validator or resolved link is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from scraper.config import (
    AnyChannel,
    FeedChannel,
    GNewsChannel,
    ListingChannel,
    Settings,
    SitemapChannel,
    Source,
    UrlsChannel,
    aggregator_label,
)
from scraper.dates import to_output_zone
from scraper.discovery import Entry, entry_time
from scraper.document import Document, format_date
from scraper.guard import link_refusal
from scraper.models import Discovery, FetchedPage, Skip, SourceDefaults
from scraper.probe import Probe, ProbeError, is_html, media_type
from scraper.urls import identity, listed_url

# Listing pages checked at most: the first and the one its ``next`` link names.
LISTING_PAGES = 2
SITEMAP_DEPTH = 2  # index -> index -> urlset, as the crawl follows them
SAMPLE_LINKS = 5  # links shown when none matches ``follow``
TEXT_PREVIEW = 300  # characters of the article's text shown

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Listed:
    """An article a channel lists, as the crawl would claim it."""

    url: str  # as listed
    title: str | None = None
    published: datetime | date | None = None
    modified: datetime | None = None
    publisher_name: str | None = None
    publisher_url: str | None = None


@dataclass
class ChannelCheck:
    number: int  # 1-based, in the source file's order
    channel: AnyChannel
    count: int = 0  # articles listed (for an index: by the child checked)
    items: list[Listed] = field(default_factory=list)  # in the crawl's order
    findings: list[str] = field(default_factory=list)  # lines about its documents
    error: str | None = None  # why the crawl would count the channel as failed

    @property
    def ok(self) -> bool:
        return self.error is None and self.count > 0

    @property
    def target(self) -> str:
        return self.channel.query if isinstance(self.channel, GNewsChannel) else _url(self.channel)

    @property
    def problem(self) -> str | None:
        """Why the channel is not fine, in a few words; None when it is."""
        return self.error or (None if self.count else "no articles listed")


def _url(channel: AnyChannel) -> str:
    if isinstance(channel, UrlsChannel):
        return f"{len(channel.urls)} URLs"
    assert not isinstance(channel, GNewsChannel)
    return channel.url


@dataclass
class ArticleCheck:
    """The first article of the first channel that listed one, extracted."""

    listed: Listed
    channel: ChannelCheck
    document: Document | None = None
    skipped: str | None = None  # why the crawl would skip it (no date, not HTML...)
    failed: str | None = None  # why the crawl would count it as failed (HTTP 500...)


@dataclass
class SourceCheck:
    source: Source
    channels: list[ChannelCheck]
    article: ArticleCheck | None = None

    @property
    def ok(self) -> bool:
        """Every channel listed articles, and the article shown did not fail (a skip,
        like a page with no date, is the page's own business, as in a crawl)."""
        article_failed = self.article is not None and self.article.failed is not None
        return all(c.ok for c in self.channels) and not article_failed

    def problems(self) -> list[str]:
        problems = [
            f"channel {c.number} ({c.channel.kind}): {c.problem}"
            for c in self.channels
            if c.problem is not None
        ]
        if self.article is not None and self.article.failed is not None:
            problems.append(f"article {self.article.listed.url}: {self.article.failed}")
        return problems


def check_source(
    source: Source, settings: Settings, limit: int = 5, progress: Progress | None = None
) -> SourceCheck:
    """What every channel of ``source`` lists now, and what its first article becomes."""
    probe = Probe(settings, robots=source.crawl.robots)
    step = progress or (lambda _text: None)
    checks = []
    for number, channel in enumerate(source.discovery, start=1):
        check = ChannelCheck(number, channel)
        step(f"channel {number}: {check.target}")
        try:
            _CHECKERS[channel.kind](probe, check, limit, step)
        except ProbeError as exc:
            check.error = exc.reason
        checks.append(check)
    result = SourceCheck(source, checks)
    # The first listed link the crawl would fetch (an http(s) URL): a mailto: or
    # malformed first entry took the one article probe, and the check said nothing of
    # the articles behind it.
    fetchable = ((c, item) for c in checks for item in c.items if link_refusal(item.url) is None)
    first = next(fetchable, None)
    if first is None:
        first = next(((c, c.items[0]) for c in checks if c.items), None)
    if first is not None:
        check, item = first
        step(f"article: {item.url}")
        result.article = check_article(probe, source, check, item)
    return result


# --- channels --------------------------------------------------------------------------


def _check_feed(probe: Probe, check: ChannelCheck, limit: int, _step: Progress) -> None:
    assert isinstance(check.channel, FeedChannel)
    final_url, feed = probe.feed(check.channel.url)
    check.count = len(feed.entries)
    over = f" ({feed.dropped} more over max_items_per_channel)" if feed.dropped else ""
    check.findings.append(
        f"feed {_moved(check.channel.url, final_url)}: {check.count} entries{over}"
    )
    check.items = [_listed(entry) for entry in feed.entries]


def _check_sitemap(probe: Probe, check: ChannelCheck, limit: int, step: Progress) -> None:
    assert isinstance(check.channel, SitemapChannel)
    url, depth = check.channel.url, 0
    while True:
        try:
            final_url, document = probe.sitemap(url)
        except ProbeError as exc:  # a child sitemap's failure names the child
            raise ProbeError(f"{url}: {exc.reason}" if depth else exc.reason) from exc
        entries = sorted(document.entries, key=entry_time, reverse=True)  # newest first
        where = _moved(url, final_url)
        if document.kind == "urlset":
            news = " (news sitemap)" if any(e.title or e.published for e in entries) else ""
            check.findings.append(f"sitemap {where}: {_count(len(entries), 'entry')}{news}")
            check.count = len(entries)
            check.items = [_listed(entry) for entry in entries]
            return
        children = _count(len(entries), "sitemap")
        check.findings.append(f"sitemap index {where}: {children}, newest first:")
        check.findings += [f"  {_when(e.modified)}  {e.url}" for e in entries[:limit]]
        if len(entries) > limit:
            check.findings.append(f"  ... {len(entries) - limit} more")
        if not entries:
            return
        if depth + 1 > SITEMAP_DEPTH:
            check.error = "index nested too deep"
            return
        url, depth = entries[0].url, depth + 1
        step(f"sitemap {url}")


def _check_listing(probe: Probe, check: ChannelCheck, limit: int, step: Progress) -> None:
    channel = check.channel
    assert isinstance(channel, ListingChannel)
    url: str | None = channel.url
    seen: dict[str, None] = {}
    pages = min(channel.max_pages, LISTING_PAGES)
    for number in range(1, pages + 1):
        assert url is not None
        try:
            final_url, page, links = probe.listing(url, channel.follow, channel.next)
        except ProbeError as exc:  # a next page's failure names the page
            reason = f"page {number} {url}: {exc.reason}" if number > 1 else exc.reason
            raise ProbeError(reason) from exc
        check.findings.append(
            f"page {number} {_moved(url, final_url)}: {_count(len(links), 'link')}, "
            f"{len(page.article_urls)} match follow '{channel.follow}'"
        )
        if not page.article_urls:
            sample = _sample_links(links, final_url)
            if sample:
                check.findings.append("  links on the page look like:")
                check.findings += [f"    {link}" for link in sample]
        seen.update(dict.fromkeys(page.article_urls))
        url = page.next_url
        if channel.next is None:
            check.findings.append("  next: no 'next' selector (one page)")
        elif url is None:
            check.findings.append(f"  next: nothing matches '{channel.next}'")
        else:
            check.findings.append(f"  next: {url}")
        if url is None or url == final_url or number == pages:
            break
        step(f"listing page {number + 1}: {url}")
    if url is not None and channel.max_pages > pages:
        check.findings.append(f"  (checked {pages} of up to {channel.max_pages} pages)")
    check.items = [Listed(link) for link in seen]
    check.count = len(check.items)


def _check_gnews(probe: Probe, check: ChannelCheck, limit: int, step: Progress) -> None:
    channel = check.channel
    assert isinstance(channel, GNewsChannel)
    search_url, feed = probe.gnews(channel)
    check.count = len(feed.items)
    check.findings.append(f"search {search_url}: {_count(check.count, 'item')}")
    unresolved = 0
    for item in feed.items[:limit]:
        step(f"resolving {item.link}")
        try:
            url = probe.gnews_link(channel.base_url, item.link)
        except ProbeError as exc:
            unresolved += 1
            check.findings.append(f"  {item.link}: {exc.reason}")
            continue
        check.items.append(
            Listed(url, item.title, item.published, None, item.publisher_name, item.publisher_url)
        )
    if unresolved:
        shown = min(limit, len(feed.items))
        check.error = f"{unresolved} of the first {shown} links could not be resolved"
    elif len(feed.items) > limit:
        check.findings.append(f"  (links resolved for the first {limit} items only)")


def _check_urls(probe: Probe, check: ChannelCheck, limit: int, _step: Progress) -> None:
    assert isinstance(check.channel, UrlsChannel)
    check.items = [Listed(url) for url in check.channel.urls]
    check.count = len(check.items)
    check.findings.append(f"urls: {_count(check.count, 'URL')} given")


_CHECKERS: dict[str, Callable[[Probe, ChannelCheck, int, Progress], None]] = {
    "feed": _check_feed,
    "sitemap": _check_sitemap,
    "listing": _check_listing,
    "gnews": _check_gnews,
    "urls": _check_urls,
}


def _count(count: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{count} {noun if count == 1 else plural}"


def _listed(entry: Entry) -> Listed:
    return Listed(entry.url, entry.title, entry.published, entry.modified)


def _moved(url: str, final_url: str) -> str:
    return url if url == final_url else f"{url} -> {final_url}"


def _sample_links(links: list[str], page_url: str) -> list[str]:
    """A few links of the page to write ``follow`` against: its own site's first, the
    longest paths first (articles have longer ones than menus)."""
    site = urlsplit(page_url).netloc
    own = [link for link in links if urlsplit(link).netloc == site and link != page_url]
    return sorted(own or links, key=lambda link: -len(urlsplit(link).path))[:SAMPLE_LINKS]


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "(no date)".ljust(16)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat().ljust(16)


# --- the article -----------------------------------------------------------------------


def check_article(
    probe: Probe, source: Source, check: ChannelCheck, listed: Listed
) -> ArticleCheck:
    """Fetch and extract ``listed`` as the crawl would (nothing is stored)."""
    result = ArticleCheck(listed, check)
    try:
        fetch_url = listed_url(listed.url)
        article_url = identity(fetch_url)
    except ValueError:
        result.skipped = link_refusal(listed.url) or "invalid URL"  # as the crawl says
        return result
    try:
        fetched = probe.get(fetch_url)
    except ProbeError as exc:
        if exc.reason.startswith(("forbidden by robots.txt", "private address")):
            result.skipped = exc.reason
        else:
            result.failed = exc.reason
        return result
    if not is_html(fetched.content_type):
        result.skipped = f"not HTML ({media_type(fetched.content_type)})"
        return result
    discovery = Discovery(
        url=article_url,
        source_id=source.id,
        channel=check.channel.kind,
        aggregator=aggregator_label(check.channel),
        title=listed.title,
        published=listed.published,
        modified=listed.modified,
        publisher_name=listed.publisher_name,
        publisher_url=listed.publisher_url,
        listed_url=fetch_url,
    )
    page = FetchedPage(
        discovery,
        SourceDefaults.of(source),
        fetched.url,
        fetched.body,
        fetched.charset,
        probe.settings.timezone,
    )
    from scraper.normalize import process_page  # trafilatura: loaded only when needed

    outcome = process_page(page)
    if isinstance(outcome, Skip):
        if outcome.failure:
            result.failed = outcome.reason
        else:
            result.skipped = outcome.reason
    else:
        result.document = outcome
    return result


# --- what is printed -------------------------------------------------------------------


def report_lines(result: SourceCheck, settings: Settings, limit: int) -> list[str]:
    source = result.source
    lines = [f"{source.id}: {source.name} ({source.homepage})"]
    zone = settings.zone
    local = ZoneInfo(source.timezone) if source.timezone else None
    for check in result.channels:
        status = "ok" if check.ok else "FAILED"
        lines.append("")
        lines.append(f"channel {check.number}: {check.channel.kind} {check.target}  [{status}]")
        lines += [f"  {line}" for line in check.findings]
        if check.error is not None:
            lines.append(f"  error: {check.error}")
        lines += [f"  {_item_line(item, zone, local)}" for item in check.items[:limit]]
        if len(check.items) > limit:
            lines.append(f"  ... {len(check.items) - limit} more")
        if check.error is None and not check.count:
            lines.append("  no articles listed")
    lines.append("")
    if result.article is None:
        lines.append("article: none (no channel listed one)")
    else:
        lines += _article_lines(result.article)
    return lines


def _item_line(item: Listed, zone: tzinfo, local_zone: tzinfo | None) -> str:
    """One listed article: its date in the output zone, its title and its URL."""
    if item.published is not None:
        when = to_output_zone(item.published, zone, local_zone).strftime("%Y-%m-%d %H:%M")
    elif item.modified is not None:  # a sitemap's lastmod: a change, not the publication
        when = to_output_zone(item.modified, zone, local_zone).strftime("%Y-%m-%d lastmod")
    elif item.title is None:
        return item.url  # a listing's link: nothing else is known before the page
    else:
        when = "(no date)"
    return f"{when:<16}  {item.title or '(no title)'}  {item.url}"


def _article_lines(article: ArticleCheck) -> list[str]:
    channel = article.channel
    first = "first" if channel.items[0] is article.listed else "first http(s) link"
    where = f"{first} of channel {channel.number}, {channel.channel.kind}"
    lines = [f"article: {article.listed.url} ({where})"]
    if article.failed is not None:
        return [*lines, f"  FAILED: {article.failed}"]
    if article.skipped is not None:
        return [*lines, f"  skipped by the crawl: {article.skipped}"]
    doc = article.document
    assert doc is not None
    stated = f"{doc.date_source or '?'}: {doc.published_original}" if doc.published_original else ""
    text = " ".join(doc.content.split())
    preview = text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW].rstrip() + "..."
    paragraphs = len(doc.paragraphs)
    return [
        *lines,
        f"  title:      {doc.title}",
        f"  date:       {format_date(doc.published)}" + (f" (from {stated})" if stated else ""),
        f"  url:        {doc.url}",
        f"  origin:     [{doc.source_name}]({doc.source_url})",
        f"  language:   {doc.language}",
        f"  aggregator: {doc.aggregator}",
        f"  text:       {paragraphs} paragraph{'s' if paragraphs != 1 else ''}, "
        f"{len(doc.content)} characters: {preview}",
    ]
