"""The gnews channel: a Google News RSS search, each item resolved to the publisher.

Item links that hold the publisher URL (2011 redirects, 2019-era ids) are resolved
offline. Current ids take Google's two-step flow: the article page gives a signature
and timestamp, a batchexecute POST trades them for the URL. Ids resolved in earlier
crawls come from the context and cost no request; new ones are remembered.

Online resolutions run as a few chains (each starts the next id when it ends, however
it ends) rather than all at once: Google rate-limits this endpoint, and articles are
claimed only once resolved, so --limit can stop the chains early.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Request, Response
from twisted.python.failure import Failure

from scraper.config import GNewsChannel
from scraper.context import CrawlContext
from scraper.discovery import DiscoveryError, GNewsItem, parse_gnews_document
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
from spiders.base import DiscoverySpider, content_type

UNRESOLVED = "gnews: unresolved link"
# A failed resolution request counts as unresolved, with the cause: "(HTTP 429)".
_UNRESOLVED_BECAUSE = UNRESOLVED + " ({reason})"


def publisher_home(url: str) -> str | None:
    """scheme://host of an article URL: the publisher's home when the feed names none."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def usable_home(url: str | None) -> str | None:
    """The publisher's home a Google News item names (<source url>), when it is an
    absolute http(s) URL: it becomes the record's "Origem" link, which must not point
    at javascript:, ftp: or nothing at all ("http://[::1")."""
    if url is None:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


class GNewsSpider(DiscoverySpider[GNewsChannel]):
    name = "gnews"
    resolution_chains = 2  # online resolutions in flight at once

    def __init__(self, context: CrawlContext, channel: GNewsChannel, **kwargs: Any) -> None:
        super().__init__(context, channel, **kwargs)
        self.to_resolve: deque[tuple[str, GNewsItem]] = deque()
        self.unresolved: list[str] = []  # links, for one warning when the channel ends

    def count_failure(self, reason: str, url: str) -> None:
        """Unresolved links are counted one by one but warned about once, at the end: a
        feed whose links cannot be resolved would otherwise print a line per item."""
        if not reason.startswith(UNRESOLVED):
            super().count_failure(reason, url)
            return
        self.context.summary.fail(reason)
        self.unresolved.append(url)
        self.logger.info("%s: %s", reason, url)

    def closed(self, reason: str) -> None:
        super().closed(reason)
        if self.unresolved:
            count = len(self.unresolved)
            self.logger.warning(
                "%s: %d link%s could not be resolved to a publisher URL (first: %s)",
                self.name,
                count,
                "" if count == 1 else "s",
                self.unresolved[0],
            )

    def initial_requests(self) -> Iterable[Request]:
        channel = self.channel
        url = search_feed_url(channel.base_url, channel.query, channel.hl, channel.gl, channel.ceid)
        yield self.document_request(url, self.parse_search)

    async def parse_search(self, response: Response) -> AsyncIterator[Request]:
        """Async: the feed is parsed (see scraper.discovery), and ids resolved by
        earlier crawls are looked up in the database, off the event loop."""
        settings = self.context.settings
        try:
            feed = await asyncio.to_thread(
                parse_gnews_document,
                response.body,
                response.url,
                content_type(response),
                max_items=settings.max_items_per_channel,
                max_size=settings.max_download_size,
            )
        except DiscoveryError as exc:
            self.document_failed(response.url, exc.reason)
            return
        self.count_over_limit(feed.dropped, response.url, "items")
        self.count_unlinked(feed.unlinked, response.url)
        online: dict[str, GNewsItem] = {}
        for item in feed.items:
            if self.context.limit_reached():
                return
            if (url := resolve_offline(item.link)) is not None:
                for request in self.item_article(item, url):
                    yield request
            elif (article_id := article_id_from_link(item.link)) is not None:
                online.setdefault(article_id, item)
            else:
                self.count_failure(UNRESOLVED, item.link)
        known = await self.context.resolved_gnews(list(online)) if online else {}
        for request in self.resolve_online(online, known):
            yield request

    def resolve_online(
        self, items: dict[str, GNewsItem], known: dict[str, str]
    ) -> Iterator[Request]:
        for article_id, item in items.items():
            if article_id in known:
                yield from self.item_article(item, known[article_id])
            else:
                self.to_resolve.append((article_id, item))
        for _ in range(self.resolution_chains):
            yield from self.next_resolution()

    def next_resolution(self) -> Iterator[Request]:
        """The first step for the next id waiting, unless --limit is reached."""
        if not self.to_resolve or self.context.limit_reached():
            return
        article_id, item = self.to_resolve.popleft()
        yield self.resolution_request(
            signature_page_url(self.channel.base_url, article_id),
            self.parse_signature_page,
            article_id,
            item,
        )

    def resolution_request(
        self,
        url: str,
        callback: Callable[..., Any],
        article_id: str,
        item: GNewsItem,
        **kwargs: Any,
    ) -> Request:
        request = self.document_request(
            url,
            callback,
            failure_template=_UNRESOLVED_BECAUSE,
            cb_kwargs={"article_id": article_id, "item": item},
            **kwargs,
        )
        return request.replace(errback=self.on_resolution_error)

    def on_resolution_error(self, failure: Failure) -> Iterator[Request]:
        self.on_error(failure)
        yield from self.next_resolution()

    def parse_signature_page(
        self, response: Response, article_id: str, item: GNewsItem
    ) -> Iterator[Request]:
        params = parse_signature_page(response.body)
        if params is None or self.context.limit_reached():
            if params is None:
                self.count_failure(UNRESOLVED, item.link)
            yield from self.next_resolution()
            return
        yield self.resolution_request(
            batchexecute_url(self.channel.base_url),
            self.parse_batchexecute,
            article_id,
            item,
            method="POST",
            body=batchexecute_body(article_id, params),
            headers={"Content-Type": BATCHEXECUTE_CONTENT_TYPE},
            # One POST URL for every id: the body tells them apart, and Scrapy's
            # duplicate filter must not decide otherwise.
            dont_filter=True,
        )

    def parse_batchexecute(
        self, response: Response, article_id: str, item: GNewsItem
    ) -> Iterator[Request]:
        url = parse_batchexecute_response(response.body)
        if url is None:
            self.count_failure(UNRESOLVED, item.link)
        else:
            self.context.remember_gnews(article_id, url)
            yield from self.item_article(item, url)
        yield from self.next_resolution()

    def item_article(self, item: GNewsItem, url: str) -> Iterator[Request]:
        publisher_url = usable_home(item.publisher_url)
        if publisher_url is None and item.publisher_name:
            publisher_url = publisher_home(url)
        discovery = self.new_discovery(
            url,
            title=item.title,
            published=item.published,
            publisher_name=item.publisher_name,
            publisher_url=publisher_url,
        )
        if discovery is not None and (request := self.article_request(discovery)):
            yield request
