"""The listing channel: news index pages whose links matching ``follow`` are articles.

A listing gives no title or date (the article page does), and its next page is found
with the ``next`` CSS selector, up to ``max_pages`` pages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

from scrapy.http import Request, Response

from scraper.config import ListingChannel
from scraper.context import CrawlContext
from scraper.discovery import Entry, parse_listing
from spiders.base import DiscoverySpider, content_type, is_html


class ListingSpider(DiscoverySpider[ListingChannel]):
    name = "listing"

    def __init__(self, context: CrawlContext, channel: ListingChannel, **kwargs: Any) -> None:
        super().__init__(context, channel, **kwargs)
        self.follow = re.compile(channel.follow)
        self.seen_pages: set[str] = {channel.url}

    def initial_requests(self) -> Iterable[Request]:
        yield self.page_request(self.channel.url, page=1)

    def page_request(self, url: str, page: int) -> Request:
        return self.document_request(url, self.parse_listing, cb_kwargs={"page": page})

    async def parse_listing(self, response: Response, page: int) -> AsyncIterator[Request]:
        if not is_html(response):
            self.document_failed(response.url, "not HTML")
            return
        # In a thread: a stranger's page can take seconds (see scraper.discovery).
        listing = await asyncio.to_thread(
            parse_listing,
            response.body,
            response.url,
            self.follow,
            self.channel.next,
            content_type(response),
            max_items=self.context.settings.max_items_per_channel,
        )
        self.count_over_limit(listing.dropped, response.url, "links")
        for request in self.article_requests(Entry(url=url) for url in listing.article_urls):
            yield request
        next_url = listing.next_url
        if (
            next_url is None
            or page >= self.channel.max_pages
            or next_url in self.seen_pages
            or self.context.limit_reached()
        ):
            return
        self.seen_pages.add(next_url)
        yield self.page_request(next_url, page + 1)
