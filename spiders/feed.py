"""The feed channel: an RSS, Atom or JSON Feed document lists the articles."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from scrapy.http import Request, Response

from scraper.config import FeedChannel
from scraper.discovery import DiscoveryError, parse_feed
from spiders.base import DiscoverySpider, content_type


class FeedSpider(DiscoverySpider[FeedChannel]):
    name = "feed"

    def initial_requests(self) -> Iterable[Request]:
        yield self.document_request(self.channel.url, self.parse_feed)

    def parse_feed(self, response: Response) -> Iterator[Request]:
        try:
            entries = parse_feed(response.body, response.url, content_type(response))
        except DiscoveryError as exc:
            self.document_failed(response.url, exc.reason)
            return
        # Every listed article is kept, whatever its host: the feed decides what is wanted.
        yield from self.article_requests(entries)
