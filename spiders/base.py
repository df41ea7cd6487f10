"""What every discovery spider shares: fetching article pages and counting failures.

A kind's spider parses its discovery document (with scraper.discovery) and hands the
entries to ``article_requests``; this class claims each article through the crawl
context, downloads the page, checks that it is HTML and yields a FetchedPage. Every
failure, for discovery documents and articles alike, is mapped to a short aggregatable
reason ("article: HTTP 500", "feed: timeout", ...), counted in the summary and logged with
its URL. No extraction happens here: the runner's item pipeline does it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any, Generic, Protocol, TypeVar

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx_error
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from scraper.config import (
    FeedChannel,
    GNewsChannel,
    ListingChannel,
    SitemapChannel,
    UrlsChannel,
    aggregator_label,
)
from scraper.context import CrawlContext
from scraper.discovery import NO_LINK, OVER_MAX_ITEMS, Entry, charset_from_content_type
from scraper.guard import RefusedRequest, scheme_refusal
from scraper.models import Discovery, FetchedPage
from scraper.robots import RobotsUnreachable, unreachable_reason
from scraper.urls import identity, listed_url

ChannelT = TypeVar(
    "ChannelT", FeedChannel, SitemapChannel, ListingChannel, GNewsChannel, UrlsChannel
)

ROBOTS_REASON = "forbidden by robots.txt"
BROKEN_ENCODING_REASON = "broken content encoding"
# An article request that got neither a response nor an error by the end of the crawl.
DROPPED_REASON = "article: dropped without an answer"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# meta key: how to word a failure of this request; "{reason}" is e.g. "HTTP 404".
FAILURE_TEMPLATE = "failure_template"
# meta key: True on the channel's own documents, whose failure fails the channel.
DOCUMENT = "channel_document"


def _scrapy_exceptions(*names: str) -> tuple[type[BaseException], ...]:
    """Recent Scrapy versions (2.19 here) wrap Twisted's download errors in their own
    classes; older ones raise the Twisted ones. Both are mapped, so the reasons don't
    depend on the version."""
    import scrapy.exceptions as exceptions

    found = (getattr(exceptions, name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type))


# Checked in order: the first match names the failure.
_FAILURE_REASONS: list[tuple[tuple[type[BaseException], ...], str]] = [
    (
        (
            tx_error.TimeoutError,
            tx_error.TCPTimedOutError,
            *_scrapy_exceptions("DownloadTimeoutError"),
        ),
        "timeout",
    ),
    (
        (tx_error.ConnectionRefusedError, *_scrapy_exceptions("DownloadConnectionRefusedError")),
        "connection refused",
    ),
    ((tx_error.DNSLookupError, *_scrapy_exceptions("CannotResolveHostError")), "DNS lookup failed"),
    # The HTTP/1.1 handler cancels a download once it exceeds DOWNLOAD_MAXSIZE (before
    # reading it when Content-Length says so, else while reading); nothing else cancels
    # a download while the spider runs.
    ((CancelledError, *_scrapy_exceptions("DownloadCancelledError")), "response too large"),
    ((tx_error.SSLError,), "TLS error"),
    (
        (
            tx_error.ConnectionLost,
            tx_error.ConnectionDone,
            ResponseFailed,
            *_scrapy_exceptions("DownloadFailedError", "ResponseDataLossError"),
        ),
        "connection reset",
    ),
]


def describe_failure(failure: Failure) -> tuple[str, bool]:
    """(reason, is_skip) for a failed request. Robots.txt refusals are skips (the site
    asked not to be crawled), everything else is a failure."""
    exc = failure.value
    assert exc is not None  # a Failure holds the exception it was made from
    return describe_error(exc)


def describe_error(exc: BaseException) -> tuple[str, bool]:
    """(reason, is_skip) for the exception a request failed with (describe_failure)."""
    if isinstance(exc, RobotsUnreachable):
        cause = exc.cause
        why = f"HTTP {cause}" if isinstance(cause, int) else describe_error(cause)[0]
        return unreachable_reason(why), False
    if isinstance(exc, RefusedRequest):
        return exc.reason, True
    if isinstance(exc, HttpError):
        return f"HTTP {exc.response.status}", False
    if isinstance(exc, IgnoreRequest):
        return _ignored_request_reason(str(exc))
    for classes, reason in _FAILURE_REASONS:
        if isinstance(exc, classes):
            return reason, False
    if _is_decoding_error(exc):
        return BROKEN_ENCODING_REASON, False
    return f"error ({type(exc).__name__})", False


def _is_decoding_error(exc: BaseException) -> bool:
    """A body its Content-Encoding does not decode (gzip, deflate, br, zstd), as
    Scrapy's HttpCompressionMiddleware lets the decoder's own error through."""
    kind = type(exc)
    return isinstance(exc, (gzip.BadGzipFile, zlib.error)) or (
        kind.__module__.split(".")[-1] in {"brotli", "zstd", "_zstd", "zstandard"}
        and kind.__name__ in {"error", "Error", "ZstdError"}
    )


def _ignored_request_reason(message: str) -> tuple[str, bool]:
    """Downloader middlewares say why they drop a request only in the message."""
    if "robots.txt" in message:
        return ROBOTS_REASON, True
    if "DOWNLOAD_MAXSIZE" in message:  # HttpCompressionMiddleware, while decompressing
        return "response too large", False
    if "redirections" in message:  # RedirectMiddleware: REDIRECT_MAX_TIMES reached
        return "too many redirects", False
    return "request ignored", True


def header(response: Response, name: bytes) -> str | None:
    raw = response.headers.get(name)
    return raw.decode("latin-1").strip() if raw else None


def content_type(response: Response) -> str | None:
    return header(response, b"Content-Type")


class Validators(Protocol):
    @property
    def etag(self) -> str | None: ...

    @property
    def last_modified(self) -> str | None: ...


def validator_headers(validators: Validators | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since for a conditional GET (empty without validators)."""
    headers: dict[str, str] = {}
    if validators is not None and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators is not None and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def media_type(response: Response) -> str | None:
    value = content_type(response)
    return value.split(";", 1)[0].strip().lower() if value else None


def is_html(response: Response) -> bool:
    """Servers that omit Content-Type mostly send HTML; anything declared otherwise
    (PDF, images, feeds) is not an article page."""
    kind = media_type(response)
    return kind is None or kind in HTML_TYPES


class DiscoverySpider(scrapy.Spider, Generic[ChannelT]):
    """Base of the spiders of ``spiders.SPIDERS``; built as
    ``crawl(SpiderClass, context=ctx, channel=channel)``."""

    # Subclasses set ``name`` to their channel kind; it prefixes their failure reasons.

    def __init__(self, context: CrawlContext, channel: ChannelT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context = context
        self.channel: ChannelT = channel
        self.aggregator = aggregator_label(channel)
        # Failures of the channel's own documents (feed, sitemaps, listing pages, Google
        # News steps), as opposed to its articles': a run with any is a failed run.
        self.document_failures = 0
        # Claimed articles whose request has had no answer yet (identity -> URL fetched).
        self.unanswered: dict[str, str] = {}

    # --- to implement ----------------------------------------------------------------

    def initial_requests(self) -> Iterable[Request]:
        """The discovery document request(s) this channel starts with."""
        raise NotImplementedError

    # --- start -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        for request in self.initial_requests():
            yield request

    def start_requests(self) -> Iterable[Request]:
        # Only read by Scrapy < 2.13, which has no start().
        return self.initial_requests()

    # --- discovery documents ---------------------------------------------------------

    def document_request(
        self,
        url: str,
        callback: Callable[..., Any],
        *,
        failure_template: str | None = None,
        **kwargs: Any,
    ) -> Request:
        """A request for a discovery document (feed, sitemap, listing page, Google News
        step); its failures count as "<kind>: <reason>" unless a template says otherwise."""
        meta = dict(kwargs.pop("meta", None) or {})
        meta[FAILURE_TEMPLATE] = failure_template or f"{self.name}: {{reason}}"
        meta[DOCUMENT] = failure_template is None
        return Request(url, callback=callback, errback=self.on_error, meta=meta, **kwargs)

    def document_failed(self, url: str, reason: str) -> None:
        """A discovery document arrived but is unusable (not a feed, invalid XML...)."""
        self.document_failures += 1
        self.count_failure(f"{self.name}: {reason}", url)

    # --- articles --------------------------------------------------------------------

    def new_discovery(
        self,
        url: str,
        *,
        title: str | None = None,
        published: datetime | date | None = None,
        modified: datetime | None = None,
        publisher_name: str | None = None,
        publisher_url: str | None = None,
    ) -> Discovery | None:
        """A Discovery for an article URL as listed (fetched as such, stored under its
        identity); None (counted) when it isn't a usable http(s) URL."""
        try:
            listed = listed_url(url)
            article_url = identity(listed)
        except ValueError:
            reason = scheme_refusal(url) or "invalid URL"
            self.count_skip(f"{self.name}: {reason}", url)
            return None
        return Discovery(
            url=article_url,
            source_id=self.context.source.id,
            channel=self.name,
            aggregator=self.aggregator,
            title=title,
            published=published,
            modified=modified,
            publisher_name=publisher_name,
            publisher_url=publisher_url,
            discovered_at=datetime.now(UTC),
            listed_url=listed,
        )

    def article_requests(self, entries: Iterable[Entry]) -> Iterator[Request]:
        """Requests for the listed articles the context wants, until --limit is reached."""
        for entry in entries:
            if self.context.limit_reached():
                return
            discovery = self.new_discovery(
                entry.url, title=entry.title, published=entry.published, modified=entry.modified
            )
            if discovery is not None and (request := self.article_request(discovery)):
                yield request

    def article_request(self, discovery: Discovery) -> Request | None:
        """The download of one article page at its URL as listed, or None when the
        context doesn't claim it (claims go by the article's identity)."""
        if not self.context.claim(discovery):
            return None
        meta: dict[str, Any] = {FAILURE_TEMPLATE: "article: {reason}"}
        # A stored article fetched again for a change: a conditional GET, where a 304
        # means unchanged (let through to the callback, not an HTTP error).
        headers = validator_headers(self.context.stored_validators(discovery))
        if headers:
            meta["handle_httpstatus_list"] = [304]
        self.unanswered[discovery.url] = discovery.fetch_url
        return Request(
            discovery.fetch_url,
            callback=self.parse_article,
            errback=self.on_error,
            cb_kwargs={"discovery": discovery},
            headers=headers,
            meta=meta,
            # claim() already de-duplicates; Scrapy's filter would drop an article whose
            # URL was fetched as a discovery document without telling anyone.
            dont_filter=True,
        )

    def parse_article(self, response: Response, discovery: Discovery) -> Iterator[FetchedPage]:
        self.unanswered.pop(discovery.url, None)
        if response.status == 304:
            self.context.summary.add("fetched")
            self.context.not_modified(
                discovery, header(response, b"ETag"), header(response, b"Last-Modified")
            )
            self.logger.info("article not modified since its last fetch: %s", response.url)
            return
        if not is_html(response):
            self.count_skip("article: not HTML", response.url)
            return
        self.context.summary.add("fetched")
        yield FetchedPage(
            discovery=discovery,
            source=self.context.defaults,
            url=response.url,
            body=response.body,
            encoding=charset_from_content_type(content_type(response)),
            timezone=self.context.settings.timezone,
            etag=header(response, b"ETag"),
            last_modified=header(response, b"Last-Modified"),
        )

    # --- failures --------------------------------------------------------------------

    def on_error(self, failure: Failure) -> None:
        """Errback of every request: count and log the failure, never re-raise."""
        request: Request = failure.request  # type: ignore[attr-defined]  # set by Scrapy
        discovery = request.cb_kwargs.get("discovery")
        if isinstance(discovery, Discovery):
            self.unanswered.pop(discovery.url, None)
        reason, is_skip = describe_failure(failure)
        if is_skip and reason == ROBOTS_REASON:
            self.count_skip(reason, request.url)
            return
        template = request.meta.get(FAILURE_TEMPLATE) or f"{self.name}: {{reason}}"
        worded = template.format(reason=reason)
        if is_skip:
            self.count_skip(worded, request.url)
        else:
            self.document_failures += bool(request.meta.get(DOCUMENT))
            self.count_failure(worded, request.url)

    def closed(self, reason: str) -> None:
        """At the end of a crawl that ran to its end (not stopped): an article request
        that Scrapy dropped without calling back or erring back (as its URL length
        middleware did) is a failure, not an article quietly missing from the counts.
        Subclasses that have their own ``closed`` call this first."""
        if reason != "finished":
            return
        for url in self.unanswered.values():
            self.count_failure(DROPPED_REASON, url)
        self.unanswered.clear()

    def count_failure(self, reason: str, url: str) -> None:
        self.context.summary.fail(reason)
        self.logger.warning("%s: %s", reason, url)

    def count_skip(self, reason: str, url: str) -> None:
        self.context.summary.skip(reason)
        self.logger.info("%s: %s", reason, url)

    def count_unlinked(self, unlinked: int, url: str) -> None:
        """Entries of a document that name no article: skipped, counted as one reason
        ("<kind>: entry without a link"), so that a document of such entries does not
        look like an empty one."""
        if unlinked:
            self.context.summary.skip(f"{self.name}: {NO_LINK}", unlinked)
            self.logger.info("%s: %d entries without a link: %s", self.name, unlinked, url)

    def count_over_limit(self, dropped: int, url: str, what: str = "entries") -> None:
        """Entries of a document past max_items_per_channel: skipped, counted as one
        reason ("<kind>: over max_items_per_channel")."""
        if dropped:
            self.context.summary.skip(f"{self.name}: {OVER_MAX_ITEMS}", dropped)
            self.logger.info("%s: %d %s over the limit: %s", self.name, dropped, what, url)
