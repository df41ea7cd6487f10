"""The Scrapy item pipeline: every FetchedPage a spider yields goes to its crawl context,
which extracts it in a worker process and stores the document."""

from __future__ import annotations

from typing import Any, Protocol, Self

from scrapy.crawler import Crawler

from scraper.models import FetchedPage


class _PageHandler(Protocol):
    async def handle(self, page: FetchedPage) -> None: ...


class _SpiderWithContext(Protocol):
    context: _PageHandler


class DocumentPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, FetchedPage):
            spider: _SpiderWithContext = self.crawler.spider  # type: ignore[assignment]
            await spider.context.handle(item)
        return item
