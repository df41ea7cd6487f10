"""The feed channel: an RSS, Atom or JSON Feed document lists the articles.

Feeds are fetched with a conditional GET: the ETag and Last-Modified of the last run go
out as If-None-Match / If-Modified-Since, and a 304 answer ends the channel at once. The
validators of a run are kept only when none of its articles failed, so a failed article
is retried on the next run instead of hiding behind a 304.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from scrapy.http import Request, Response

from scraper.config import FeedChannel
from scraper.discovery import DiscoveryError, parse_feed_document
from scraper.storage.base import FeedValidators
from spiders.base import DiscoverySpider, content_type, validator_headers


def validators_of(url: str, response: Response) -> FeedValidators | None:
    etag = response.headers.get(b"ETag")
    modified = response.headers.get(b"Last-Modified")
    if not etag and not modified:
        return None
    return FeedValidators(
        url=url,
        etag=etag.decode("latin-1") if etag else None,
        last_modified=modified.decode("latin-1") if modified else None,
    )


class FeedSpider(DiscoverySpider[FeedChannel]):
    name = "feed"
    _pending_validators: FeedValidators | None = None
    _failures_before = 0

    def initial_requests(self) -> Iterable[Request]:
        self._failures_before = sum(self.context.summary.failed.values())
        headers = validator_headers(self.context.feed_validators(self.channel.url))
        yield self.document_request(
            self.channel.url,
            self.parse_feed,
            headers=headers,
            # A 304 answers a conditional GET only: to a plain one (no validators kept)
            # it is the server's error, not "nothing new since the last run".
            meta={"handle_httpstatus_list": [304]} if headers else {},
        )

    async def parse_feed(self, response: Response) -> AsyncIterator[Request]:
        if response.status == 304:
            # Said on the summary, or "discovered 0" would read like a broken feed.
            self.context.summary.note(f"{self.name}: not modified since the last run (304)")
            self.logger.info("feed not modified since the last run: %s", response.url)
            return
        settings = self.context.settings
        try:
            # In a thread: a stranger's feed can take seconds (see scraper.discovery).
            feed = await asyncio.to_thread(
                parse_feed_document,
                response.body,
                response.url,
                content_type(response),
                max_items=settings.max_items_per_channel,
                max_size=settings.max_download_size,
            )
        except DiscoveryError as exc:
            self.document_failed(response.url, exc.reason)
            return
        self.count_over_limit(feed.dropped, response.url)
        self.count_unlinked(feed.unlinked, response.url)
        self._pending_validators = validators_of(self.channel.url, response)
        # Every listed article is kept, whatever its host: the feed decides what is wanted.
        for request in self.article_requests(feed.entries):
            yield request

    def closed(self, reason: str) -> None:
        super().closed(reason)
        failures = sum(self.context.summary.failed.values()) - self._failures_before
        complete = reason == "finished" and failures == 0 and not self.context.limit_reached()
        if self._pending_validators is not None and complete:
            self.context.remember_feed_validators(self._pending_validators)
