"""The sitemap channel: a urlset, a sitemap index or a Google News sitemap.

Indexes are followed newest child first (by lastmod), at most MAX_DEPTH levels deep and
at most MAX_CHILD_SITEMAPS children per crawl: a news site's index can list thousands of
archive sitemaps, and the newest few hold what a crawl wants.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from scrapy.http import Request, Response

from scraper.config import SitemapChannel
from scraper.context import CrawlContext
from scraper.discovery import DiscoveryError, Entry, entry_time, parse_sitemap
from scraper.guard import link_refusal
from spiders.base import DiscoverySpider

MAX_DEPTH = 2  # index -> index -> urlset
MAX_CHILD_SITEMAPS = 50
# Lines of a text sitemap that are no http(s) URL: skipped, the others still used.
NOT_A_URL_REASON = "sitemap: line not a URL"


def newest_first(entries: Iterable[Entry]) -> list[Entry]:
    """Entries by descending date (published, else lastmod); undated ones keep their
    order after the dated ones. With --limit, a crawl then takes the newest articles."""
    return sorted(entries, key=entry_time, reverse=True)


class SitemapSpider(DiscoverySpider[SitemapChannel]):
    name = "sitemap"

    def __init__(self, context: CrawlContext, channel: SitemapChannel, **kwargs: Any) -> None:
        super().__init__(context, channel, **kwargs)
        self.seen_sitemaps: set[str] = {channel.url}
        self.child_sitemaps = 0

    def initial_requests(self) -> Iterable[Request]:
        yield self.sitemap_request(self.channel.url, depth=0)

    def sitemap_request(self, url: str, depth: int) -> Request:
        return self.document_request(url, self.parse_sitemap, cb_kwargs={"depth": depth})

    async def parse_sitemap(self, response: Response, depth: int) -> AsyncIterator[Request]:
        settings = self.context.settings
        try:
            # Gzip is recognized by its magic bytes: .xml.gz files arrive both raw and
            # already decoded (Content-Encoding), whatever the URL says. In a thread
            # (see scraper.discovery).
            document = await asyncio.to_thread(
                parse_sitemap,
                response.body,
                response.url,
                settings.max_download_size,
                max_items=settings.max_items_per_channel,
            )
        except DiscoveryError as exc:
            self.document_failed(response.url, exc.reason)
            return
        # The oldest entries: a sitemap has no order, and the newest matter most.
        self.count_over_limit(document.dropped, response.url)
        self.count_unlinked(document.unlinked, response.url)
        if document.not_urls:
            self.context.summary.skip(NOT_A_URL_REASON, document.not_urls)
            self.logger.info("%s: %d lines: %s", NOT_A_URL_REASON, document.not_urls, response.url)
        if document.damaged:
            # Counted, but the entries that could be read are still used.
            self.document_failed(response.url, "invalid XML")
        if document.kind == "sitemapindex":
            requests = self.child_requests(response.url, document.entries, depth)
        else:
            requests = self.article_requests(newest_first(document.entries))
        for request in requests:
            yield request

    def child_requests(self, url: str, children: list[Entry], depth: int) -> Iterator[Request]:
        if depth >= MAX_DEPTH:
            self.count_skip("sitemap: index nested too deep", url)
            return
        fresh = [c for c in newest_first(children) if c.url not in self.seen_sitemaps]
        room = max(0, MAX_CHILD_SITEMAPS - self.child_sitemaps)
        if len(fresh) > room:
            self.context.summary.skip("sitemap: too many child sitemaps", len(fresh) - room)
            self.logger.info(
                "sitemap: following %d of %d child sitemaps: %s", room, len(fresh), url
            )
        for child in fresh[:room]:
            if self.context.limit_reached():
                return
            self.seen_sitemaps.add(child.url)
            self.child_sitemaps += 1
            if request := self.child_request(child.url, depth + 1):
                yield request

    def child_request(self, url: str, depth: int) -> Request | None:
        """The request for a child sitemap, or None (counted as the skip of an article
        link would be) when its URL is not a usable http(s) one: one bad child must not
        end the iteration over its siblings."""
        refusal = link_refusal(url)
        if refusal is None:
            return self.sitemap_request(url, depth)
        self.count_skip(f"{self.name}: {refusal}", url)
        return None
