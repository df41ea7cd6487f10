"""The values passed between discovery, extraction and storage.

They are plain, picklable dataclasses: a FetchedPage crosses into an extraction worker
process and a Document or Skip comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from scraper.document import Document

if TYPE_CHECKING:
    from scraper.config import Source


@dataclass(frozen=True)
class Discovery:
    """What a discovery channel knows about one article before it is fetched."""

    # The article's identity (scraper.urls.identity): the publisher's URL (a Google News
    # link already resolved) as stored, claimed and de-duplicated.
    url: str
    source_id: str
    channel: str  # feed | sitemap | listing | gnews
    aggregator: str  # the label written to "Agregador"
    title: str | None = None  # as the channel gave it (Google News keeps " - Publisher")
    # Publication time; a date without time means "that calendar day" (DESIGN section 2).
    published: datetime | date | None = None
    modified: datetime | None = None  # sitemap lastmod / feed updated, to spot changes
    publisher_name: str | None = None  # Google News <source>: overrides the source's name
    publisher_url: str | None = None
    discovered_at: datetime | None = None
    # The URL as the channel listed it (absolute, HTML entities decoded): the page is
    # fetched at it, every parameter included. None: fetch ``url``.
    listed_url: str | None = None

    @property
    def fetch_url(self) -> str:
        """Where the article page is downloaded: the URL as listed."""
        return self.listed_url or self.url


@dataclass(frozen=True)
class SourceDefaults:
    """The parts of a source's config that the normalizer needs, in a picklable form."""

    source_id: str
    name: str
    homepage: str
    language: str | None
    type: str
    allow_crawl_time: bool
    # The zone a zone-less time of this source is read in; None: the output zone.
    timezone: str | None = None

    @classmethod
    def of(cls, source: Source) -> SourceDefaults:
        return cls(
            source_id=source.id,
            name=source.name,
            homepage=source.homepage,
            language=source.language,
            type=source.type,
            allow_crawl_time=source.allow_crawl_time,
            timezone=source.timezone,
        )


@dataclass(frozen=True)
class FetchedPage:
    """An article page as downloaded, ready to be extracted in a worker process."""

    discovery: Discovery
    source: SourceDefaults
    url: str  # final URL after redirects (original host even when host_map rewrote it)
    body: bytes
    encoding: str | None  # charset from the HTTP headers, when it declared one
    timezone: str
    fetched_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    # The response's validators, kept with the stored article for a conditional GET.
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Skip:
    """A page that yields no document, and why (counted in the summary under the reason)."""

    url: str
    reason: str
    # True when something went wrong (counted as failed), False for an expected skip.
    failure: bool = False


ExtractionOutcome = Document | Skip
