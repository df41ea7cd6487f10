"""The urls channel: article URLs given one by one, fetched as listed (no discovery
document, so nothing to parse: the page gives title and date)."""

from __future__ import annotations

from collections.abc import Iterable

from scrapy.http import Request

from scraper.config import UrlsChannel
from scraper.discovery import Entry
from spiders.base import DiscoverySpider


class UrlsSpider(DiscoverySpider[UrlsChannel]):
    name = "urls"

    def initial_requests(self) -> Iterable[Request]:
        return self.article_requests(Entry(url=url) for url in self.channel.urls)
