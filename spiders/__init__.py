"""Generic Scrapy spiders, one per discovery channel kind; no extraction code.

The crawl runner starts one per channel: ``crawl(SPIDERS[channel.kind], context=ctx,
channel=channel)``; each yields scraper.models.FetchedPage items.
"""

from __future__ import annotations

import scrapy

from spiders.base import DiscoverySpider
from spiders.feed import FeedSpider
from spiders.gnews import GNewsSpider
from spiders.listing import ListingSpider
from spiders.sitemap import SitemapSpider
from spiders.urls import UrlsSpider

SPIDERS: dict[str, type[scrapy.Spider]] = {
    "feed": FeedSpider,
    "sitemap": SitemapSpider,
    "listing": ListingSpider,
    "gnews": GNewsSpider,
    "urls": UrlsSpider,
}

__all__ = [
    "SPIDERS",
    "DiscoverySpider",
    "FeedSpider",
    "GNewsSpider",
    "ListingSpider",
    "SitemapSpider",
    "UrlsSpider",
]
