"""Discovery documents fetched and read outside a crawl, for ``scraper add`` (is there a
feed here?) and ``scraper check`` (what does this channel list?).

One document at a time, synchronously, through scraper.fetch (host_map, the address
guard, the size and time limits) and with robots.txt obeyed as the crawl obeys it; the
documents are read by the crawl's own parsers (scraper.discovery), so what answers
here answers in a crawl. Nothing is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from scraper.config import GNewsChannel, Settings
from scraper.discovery import (
    DiscoveryError,
    FeedDocument,
    GNewsFeed,
    ListingPage,
    SitemapDocument,
    parse_feed_document,
    parse_gnews_document,
    parse_listing,
    parse_sitemap,
)
from scraper.fetch import FetchedBody, FetchError, fetch_page
from scraper.gnews import (
    BATCHEXECUTE_CONTENT_TYPE,
    article_id_from_link,
    batchexecute_body,
    batchexecute_url,
    parse_batchexecute_response,
    parse_signature_page,
    resolve_offline,
    search_feed_url,
    signature_page_url,
)
from scraper.guard import link_refusal
from scraper.robots import disallows_site, unreachable_reason, within_parse_limit

ROBOTS_REASON = "forbidden by robots.txt"  # the crawl's skip reason (spiders.base)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_EVERY_LINK = re.compile("")


class ProbeError(Exception):
    """A document that did not answer or cannot be used; ``reason`` is short ("HTTP 404",
    "not a feed", "forbidden by robots.txt")."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status  # the HTTP status of an error answer


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def media_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def is_html(content_type: str | None) -> bool:
    """As the crawl decides (spiders.base.is_html): no Content-Type is taken for HTML."""
    kind = media_type(content_type)
    return kind is None or kind in HTML_TYPES


@dataclass
class RobotsFile:
    """A site's robots.txt; an unreadable or missing one allows everything, one that
    answered with a server error (or 429), or not at all, nothing (as the crawl reads
    it: scraper.robots)."""

    url: str
    parser: Protego
    answered: bool  # False: missing or unreadable
    # Why nothing of the site may be fetched: what each of its URLs fails with.
    unreachable: ProbeError | None = None

    def allows(self, url: str, user_agent: str) -> bool:
        return bool(self.parser.can_fetch(url, user_agent))

    @property
    def sitemaps(self) -> list[str]:
        return list(dict.fromkeys(s.strip() for s in self.parser.sitemaps if s.strip()))


def parse_robots(text: str, url: str, answered: bool = True) -> RobotsFile:
    return RobotsFile(url, Protego.parse(text), answered)


@dataclass
class Probe:
    """Fetches discovery documents like a crawl of a source would: robots.txt obeyed
    when ``robots`` (the source's crawl.robots), each site's robots.txt read once."""

    settings: Settings
    robots: bool = True
    _robots_files: dict[str, RobotsFile] = field(default_factory=dict)

    def robots_file(self, url: str) -> RobotsFile:
        """The robots.txt of ``url``'s site (fetched on first use)."""
        origin = origin_of(url)
        robots = self._robots_files.get(origin)
        if robots is None:
            robots_url = origin + "/robots.txt"
            try:
                fetched = fetch_page(robots_url, self.settings)
                body = within_parse_limit(fetched.body)  # as the crawl reads it
                text = body.decode(fetched.charset or "utf-8", "replace")
                robots = parse_robots(text, robots_url)
            except FetchError as exc:
                robots = parse_robots("", robots_url, answered=False)
                if exc.status is not None and disallows_site(exc.status):
                    cause = f"HTTP {exc.status}"
                    robots.unreachable = ProbeError(unreachable_reason(cause), exc.status)
                elif exc.unanswered:
                    cause = short_reason(str(exc), robots_url)
                    robots.unreachable = ProbeError(unreachable_reason(cause))
            except LookupError:
                robots = parse_robots("", robots_url, answered=False)
            self._robots_files[origin] = robots
        return robots

    def get(
        self, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> FetchedBody:
        """``url``'s answer, or ProbeError with the reason it has none."""
        # Listed by a page, a robots.txt, a sitemap: "http://[::1", "javascript:x".
        if (refusal := link_refusal(url)) is not None:
            raise ProbeError(refusal)
        if self.robots:
            robots = self.robots_file(url)
            if robots.unreachable is not None:
                raise ProbeError(robots.unreachable.reason, robots.unreachable.status)
            if not robots.allows(url, self.settings.user_agent):
                raise ProbeError(ROBOTS_REASON)
        try:
            return fetch_page(url, self.settings, data=data, headers=headers)
        except FetchError as exc:
            raise ProbeError(short_reason(str(exc), url), exc.status) from exc

    # --- discovery documents ----------------------------------------------------------

    def feed(self, url: str) -> tuple[str, FeedDocument]:
        """The final URL of a feed and what it lists."""
        fetched = self.get(url)
        try:
            return fetched.url, parse_feed_document(
                fetched.body,
                fetched.url,
                fetched.content_type,
                max_items=self.settings.max_items_per_channel,
                max_size=self.settings.max_download_size,
            )
        except DiscoveryError as exc:
            raise ProbeError(exc.reason) from exc

    def sitemap(self, url: str) -> tuple[str, SitemapDocument]:
        """The final URL of a sitemap and what it lists. A damaged document is an error:
        the crawl counts it as a failed channel even when it recovers entries."""
        fetched = self.get(url)
        try:
            document = parse_sitemap(
                fetched.body,
                fetched.url,
                self.settings.max_download_size,
                max_items=self.settings.max_items_per_channel,
            )
        except DiscoveryError as exc:
            raise ProbeError(exc.reason) from exc
        if document.damaged:
            raise ProbeError(f"invalid XML ({len(document.entries)} entries readable)")
        return fetched.url, document

    def gnews(self, channel: GNewsChannel) -> tuple[str, GNewsFeed]:
        """The search feed URL of a Google News channel and its items."""
        url = search_feed_url(channel.base_url, channel.query, channel.hl, channel.gl, channel.ceid)
        fetched = self.get(url)
        try:
            return url, parse_gnews_document(
                fetched.body,
                fetched.url,
                fetched.content_type,
                max_items=self.settings.max_items_per_channel,
                max_size=self.settings.max_download_size,
            )
        except DiscoveryError as exc:
            raise ProbeError(exc.reason) from exc

    def gnews_link(self, base_url: str, link: str) -> str:
        """The publisher URL of a Google News item link: offline when the link holds it,
        else by Google's two steps (the article page's signature, then batchexecute)."""
        url = resolve_offline(link)
        if url is not None:
            return url
        article_id = article_id_from_link(link)
        if article_id is None:
            raise ProbeError("unresolved link (not a Google News article link)")
        params = parse_signature_page(self.get(signature_page_url(base_url, article_id)).body)
        if params is None:
            raise ProbeError("unresolved link (no signature on its page)")
        answer = self.get(
            batchexecute_url(base_url),
            data=batchexecute_body(article_id, params),
            headers={"Content-Type": BATCHEXECUTE_CONTENT_TYPE},
        )
        url = parse_batchexecute_response(answer.body)
        if url is None:
            raise ProbeError("unresolved link (no URL in Google's answer)")
        return url

    def listing(
        self, url: str, follow: str, next_css: str | None
    ) -> tuple[str, ListingPage, list[str]]:
        """The final URL of a listing page, its links matching ``follow`` with its next
        page, and every link of the page (to show what ``follow`` should match)."""
        fetched = self.get(url)
        if not is_html(fetched.content_type):
            raise ProbeError(f"not HTML ({media_type(fetched.content_type)})")
        page = parse_listing(
            fetched.body,
            fetched.url,
            follow,
            next_css,
            fetched.content_type,
            max_items=self.settings.max_items_per_channel,
        )
        every = parse_listing(fetched.body, fetched.url, _EVERY_LINK, None, fetched.content_type)
        return fetched.url, page, every.article_urls


_TRAILING_URL = re.compile(r"^(.+): https?://\S+$")


def short_reason(message: str, url: str) -> str:
    """A fetch error's message without the URL it names ("HTTP 404", "private address")."""
    reason = message.removeprefix(f"{url}: ")
    match = _TRAILING_URL.match(reason)
    return (match.group(1) if match else reason) or message
