"""What a discovery spider may ask of the crawl it runs in.

Spiders stay generic: they parse discovery documents and fetch article pages; the
crawl context decides whether an article is wanted (first sighting in this job, not
stored yet, newer than --since, within --limit) and keeps the counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from scraper.config import Settings, Source
from scraper.models import Discovery, SourceDefaults
from scraper.storage.base import FeedValidators
from scraper.storage.checks import ArticleCheck
from scraper.summary import CrawlSummary


class CrawlContext(Protocol):
    settings: Settings
    source: Source
    summary: CrawlSummary

    @property
    def defaults(self) -> SourceDefaults: ...

    def claim(self, discovery: Discovery) -> bool:
        """Count the discovery and say whether its article page should be fetched.

        False when this job already claimed the URL (another channel listed it), when it
        is stored and neither the channel reports a newer modification nor the source's
        refresh policy wants it again (scraper.refresh), when it is older than
        ``--since``, or when ``--limit`` articles were already claimed."""
        ...

    def limit_reached(self) -> bool:
        """True once ``--limit`` articles were claimed: spiders stop paginating."""
        ...

    async def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]:
        """Google News article ids already resolved to publisher URLs (never asked twice)."""
        ...

    def remember_gnews(self, article_id: str, url: str) -> None:
        """Keep a newly resolved Google News id for later crawls."""
        ...

    def feed_validators(self, url: str) -> FeedValidators | None:
        """ETag / Last-Modified of a discovery document from an earlier run, for a
        conditional GET (a 304 answer means nothing new is listed)."""
        ...

    def remember_feed_validators(self, validators: FeedValidators) -> None:
        """Keep the validators of a discovery document whose entries were all handled."""
        ...

    def stored_validators(self, discovery: Discovery) -> ArticleCheck | None:
        """The last fetch of a claimed article that is stored already (fetched again for
        a change), when its page came with an ETag or Last-Modified: the article request
        sends them back (If-None-Match / If-Modified-Since). None for a new article."""
        ...

    def not_modified(
        self, discovery: Discovery, etag: str | None, last_modified: str | None
    ) -> None:
        """The page of a stored article answered 304 to a conditional GET: count it as
        unchanged and remember the fetch (with the answer's validators, if any)."""
        ...
