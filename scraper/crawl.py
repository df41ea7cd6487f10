"""One crawl job: sources and options in, counts out.

A CrawlService lives as long as its process (the CLI's one crawl, or the daemon's weeks):
it owns the extraction workers, the file store, the database and Scrapy's crawler
runner. ``crawl()`` runs the discovery channels of the given sources inside the running
asyncio reactor and returns a CrawlReport; it holds no other state, so the same job
could run in another process or on another machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from scrapy import signals
from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.settings import Settings as ScrapySettings
from scrapy.settings import default_settings
from twisted.python.failure import Failure

from scraper.config import Settings, Source
from scraper.dates import to_output_zone
from scraper.document import Document
from scraper.logs import one_line
from scraper.lru import BoundedCache
from scraper.memory import trim_heap
from scraper.models import Discovery, FetchedPage, Skip, SourceDefaults
from scraper.reactor import ASYNCIO_REACTOR
from scraper.reader import read_document
from scraper.refresh import changed_since, publication_time, refresh_due
from scraper.sink import ArticleSink
from scraper.storage.base import (
    AliasRecord,
    ClaimRecord,
    Database,
    DatabaseError,
    DiscoveryRecord,
    FeedValidators,
)
from scraper.storage.checks import ArticleCheck, CheckLog, valid_validator
from scraper.storage.files import FileStore
from scraper.storage.level import Leveler, LevelResult
from scraper.summary import CrawlSummary
from scraper.urls import article_id
from scraper.workers import ExtractionPool

log = logging.getLogger(__name__)

# Entries in each in-memory cache of a long-lived process (about 200 bytes each).
CACHE_SIZE = 100_000
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
# The skip reason of a page whose canonical link names an article stored already: its URL
# became an alias of that article instead of a second copy of it.
ALIAS_REASON = "alias of a stored article (canonical link)"
# The skip reason of a listed link that redirects to an article another listed link of
# the same job names (fetched and written once).
SAME_ARTICLE_REASON = "same article as another listed link (redirect)"
# What a run cut short by the daemon's (or fleet worker's) shutdown is recorded with.
STOPPED_AT_SHUTDOWN = "stopped at shutdown"


@dataclass(frozen=True)
class CrawlOptions:
    limit: int | None = None  # articles fetched per source at most
    since: datetime | None = None  # ignore articles published before this
    dry_run: bool = False  # fetch and extract, write nothing
    refresh: bool = False  # fetch stored articles again (to pick up changes)


@dataclass
class CrawlReport:
    summaries: dict[str, CrawlSummary]
    unreachable: list[str] = field(default_factory=list)  # sources with no answer at all
    # Source id -> its channels that failed as a whole (document broken, crashed).
    broken_channels: dict[str, list[str]] = field(default_factory=dict)
    database_error: str | None = None
    # Why the output folder could not be written (nothing else could be stored then).
    output_error: str | None = None
    seconds: float = 0.0
    # What bringing the files and the database level did before the crawl (issue 11).
    level: LevelResult | None = None
    # Why a stop request cut the job short ("stopped by a signal"); None: it ran through.
    stopped: str | None = None

    @property
    def total(self) -> CrawlSummary:
        total = CrawlSummary(source_id="total")
        for summary in self.summaries.values():
            total.merge(summary)
        return total

    @property
    def nothing_reachable(self) -> bool:
        return bool(self.summaries) and len(self.unreachable) == len(self.summaries)

    def problems(self) -> list[str]:
        """What went wrong, one phrase per source that did not do all its work: it was
        unreachable, a channel failed, or pages failed. Empty when all went well."""
        problems = [self.stopped] if self.stopped else []
        for source_id, summary in self.summaries.items():
            # (The stop itself is counted among the failures of each run it cut short.)
            failed = sum(n for reason, n in summary.failed.items() if reason != self.stopped)
            if source_id in self.unreachable:
                problems.append(f"{source_id} unreachable")
            elif source_id in self.broken_channels:
                channels = ", ".join(self.broken_channels[source_id])
                problems.append(f"{source_id}: channel failed ({channels})")
            elif failed:
                problems.append(f"{source_id}: {failed} failed")
        return problems


@dataclass(frozen=True)
class RunOutcome:
    status: str  # ok | partial | failed
    summary: CrawlSummary
    error: str | None = None  # why the run failed as a whole, or was cut short
    database_error: str | None = None


def outcome_of(report: CrawlReport, source_id: str, stopping: bool = False) -> RunOutcome:
    """ok: it worked; partial: some pages failed, or a stop request cut the run short
    (whatever it got to, the next run catches up); failed: nothing of the source
    answered, a channel failed as a whole, or the output could not be written. A
    run-level reason is added to the summary's failures, so the recorded counts say why."""
    summary = report.summaries.get(source_id) or CrawlSummary(source_id)
    error: str | None = None
    stopped = STOPPED_AT_SHUTDOWN if stopping else report.stopped
    if stopped is not None:
        status, error = "partial", stopped
    elif report.output_error is not None:
        status, error = "failed", f"output not writable: {report.output_error}"
    elif source_id in report.unreachable:
        status, error = "failed", "nothing reachable: no discovery channel answered"
    elif source_id in report.broken_channels:
        # The channel's own failures are in the summary already: no second count.
        channels = ", ".join(report.broken_channels[source_id])
        return RunOutcome("failed", summary, f"channel failed: {channels}", report.database_error)
    elif summary.failed:
        status = "partial"
    else:
        status = "ok"
    if error is not None:
        summary.fail(error)
    return RunOutcome(status, summary, error, report.database_error)


# Scrapy components this service has no use for, left out of Scrapy's base lists (the
# *_BASE settings) rather than left to decline: Scrapy imports the class of every
# component it is given, disabled (None) or not, and runs each enabled one on every
# request, response or item. Each is inert here, or unwanted (said where):
UNUSED_DOWNLOADER_MIDDLEWARES = (
    # No spider sets allowed_domains (a feed decides what is wanted, whatever the host).
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware",
    # No spider sets http_user / http_pass.
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
    # Off below (COOKIES_ENABLED, HTTPPROXY_ENABLED) or by default (HTTPCACHE_ENABLED);
    # the cookies module alone imports tldextract, requests and filelock.
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware",
    "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware",
)
UNUSED_SPIDER_MIDDLEWARES = (
    # Depth: no DEPTH_LIMIT, no DEPTH_PRIORITY, and its statistics are not read.
    "scrapy.spidermiddlewares.depth.DepthMiddleware",
    # A warning for spiders that copy response.meta into new requests; ours don't.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware",
    # Not inert: it drops a request whose URL is longer than URLLENGTH_LIMIT (2,083
    # characters) without a word to the spider, so the article was counted discovered
    # and then neither fetched nor failed. URLs have no length limit here (the database
    # checks their uniqueness by hash for that reason); a server that refuses a long one
    # answers 414, counted like any other HTTP error.
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware",
)
UNUSED_EXTENSIONS = (
    # An HTTP server on 127.0.0.1 per crawler that runs Python code sent to it (with a
    # token written to a job file in the user's state folder); importing it loads
    # aiohttp (~0.15 s of CPU).
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",  # off below as well
    # Statistics nobody reads (log record counts, memory use without limits).
    "scrapy.extensions.logcount.LogCount",
    "scrapy.extensions.memusage.MemoryUsage",
    # Inert without their settings (MEMDEBUG_ENABLED, FEEDS, JOBDIR, AUTOTHROTTLE_ENABLED).
    "scrapy.extensions.memdebug.MemoryDebugger",
    "scrapy.extensions.feedexport.FeedExporter",
    "scrapy.extensions.spiderstate.SpiderState",
    "scrapy.extensions.throttle.AutoThrottle",
)


def _without(base: dict[str, int], unused: tuple[str, ...]) -> dict[str, int]:
    return {path: order for path, order in base.items() if path not in unused}


def scrapy_settings(settings: Settings) -> dict[str, Any]:
    """Scrapy settings shared by every crawl of this service."""
    return {
        "TWISTED_REACTOR": ASYNCIO_REACTOR,
        "USER_AGENT": settings.user_agent,
        "DOWNLOAD_TIMEOUT": settings.download_timeout,
        "DOWNLOAD_MAXSIZE": settings.max_download_size,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_TIMES": settings.retries,
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "HOST_MAP": dict(settings.host_map),
        "ADDRESS_GUARD_ALLOW": list(settings.allow_private_addresses),
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "scraper.middlewares.BackoffRetryMiddleware": 550,
            "scraper.middlewares.HostMapMiddleware": 50,
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "scraper.middlewares.HeadMetaRefreshMiddleware": 580,
            # After the host map (judge where a request really goes), and its exception
            # hook before the retry middleware's (a refusal is not retried).
            "scraper.guard.AddressGuardMiddleware": 560,
            # Sees a 3xx before Scrapy's RedirectMiddleware (600) builds its request.
            "scraper.guard.RedirectTargetMiddleware": 610,
            # A robots.txt that fails with a 5xx disallows its site (scraper.robots).
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "scraper.robots.ServerErrorRobotsTxtMiddleware": 100,
        },
        "DOWNLOADER_MIDDLEWARES_BASE": _without(
            default_settings.DOWNLOADER_MIDDLEWARES_BASE, UNUSED_DOWNLOADER_MIDDLEWARES
        ),
        "SPIDER_MIDDLEWARES_BASE": _without(
            default_settings.SPIDER_MIDDLEWARES_BASE, UNUSED_SPIDER_MIDDLEWARES
        ),
        "EXTENSIONS_BASE": _without(default_settings.EXTENSIONS_BASE, UNUSED_EXTENSIONS),
        # (Its own switch as well, should it come back into the list.)
        "REMOTE_CONTROL_ENABLED": False,
        # http(s) only: no file://, data:, ftp:// or s3:// from a stranger's link.
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "ftp": None, "s3": None},
        # A proxy would connect on our behalf to addresses the guard never sees.
        "HTTPPROXY_ENABLED": False,
        # Only robots.txt's first 500 KiB (RFC 9309): every request is checked against it.
        "ROBOTSTXT_PARSER": "scraper.robots.LimitedRobotParser",
        "ITEM_PIPELINES": {"scraper.pipeline.DocumentPipeline": 300},
        "CONCURRENT_REQUESTS": 32,
        # Items of one response handled at once. An article's response yields one page
        # (pages run in parallel across responses); Scrapy starts this many asyncio tasks
        # for every response whatever it yields: 50 cost ~0.2 ms of CPU per page.
        "CONCURRENT_ITEMS": 1,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_ENABLED": False,
        "DNS_TIMEOUT": 15,
        "REACTOR_THREADPOOL_MAXSIZE": 8,
        "REDIRECT_MAX_TIMES": 10,
        "URLLENGTH_LIMIT": 0,  # off as well, should the middleware come back into the list
        # Scrapy re-reads each callback's source per response to warn about generators
        # that return values; ours don't, and it costs ~2 ms a response.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        # Scrapy's own lets a burst past a slot's concurrency when the delay is 0.
        "DOWNLOADER": "scraper.downloader.PoliteDownloader",
    }


def source_settings(base: dict[str, Any], source: Source) -> ScrapySettings:
    """Per-source politeness: delay and concurrency per host, robots.txt."""
    settings = ScrapySettings(base)
    settings.set("DOWNLOAD_DELAY", source.crawl.delay)
    settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", source.crawl.concurrency)
    settings.set("CONCURRENT_REQUESTS_PER_IP", 0)  # else it overrides the per-host limit
    settings.set("ROBOTSTXT_OBEY", source.crawl.robots)
    return settings


def _file_time(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    except OSError:
        return None


class SourceCrawl:
    """The CrawlContext of one source within one job (see scraper.context)."""

    def __init__(self, job: _Job, source: Source) -> None:
        self.job = job
        self.settings = job.service.settings
        self.source = source
        self.summary = CrawlSummary(source.id)
        self.claimed = 0
        self.defaults = SourceDefaults.of(source)
        self.broken_channels: list[str] = []
        # The zone the source writes zone-less times in (None: the output zone's).
        self.source_zone = ZoneInfo(source.timezone) if source.timezone else None

    # --- CrawlContext -------------------------------------------------------------
    def limit_reached(self) -> bool:
        limit = self.job.options.limit
        return limit is not None and self.claimed >= limit

    def claim(self, discovery: Discovery) -> bool:
        self._record_sighting(discovery)
        if discovery.url in self.job.seen:
            return False  # another channel (or source) of this job listed it already
        self.job.seen.add(discovery.url)
        self.summary.add("discovered")
        since = self.job.options.since
        published = discovery.published
        zone = self.settings.zone
        if since and published and to_output_zone(published, zone, self.source_zone) < since:
            self.summary.skip("older than --since")
            return False
        if self._already_stored(discovery):
            self.summary.add("known")
            return False
        article = self.stored_id(discovery)
        if article in self.job.claimed_ids:
            # Known to redirect to an article another link of this job names.
            self.summary.skip(SAME_ARTICLE_REASON)
            return False
        if self.limit_reached():
            self.summary.skip("over --limit")
            return False
        self.job.claimed_ids.add(article)
        self.claimed += 1
        return True

    def _record_sighting(self, discovery: Discovery) -> None:
        """Keep every channel's sighting of the article, even when another channel of
        this job listed it first (once per source and channel: a sitemap that lists a
        URL twice saw it once)."""
        sighting = (discovery.url, self.source.id, discovery.channel)
        if sighting in self.job.sightings:
            return
        self.job.sightings.add(sighting)
        self.job.sink.discovered(
            DiscoveryRecord(
                url=discovery.url,
                source_id=self.source.id,
                channel=discovery.channel,
                aggregator=discovery.aggregator,
                discovered_at=discovery.discovered_at or datetime.now().astimezone(),
            )
        )

    async def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]:
        return await self.job.service.resolved_gnews(article_ids)

    def remember_gnews(self, article_id: str, url: str) -> None:
        self.job.service.remember_gnews(article_id, url)

    def feed_validators(self, url: str) -> FeedValidators | None:
        if self.job.options.refresh:
            return None  # fetch everything again, unconditionally
        return self.job.service.feed_validators(url)

    def remember_feed_validators(self, validators: FeedValidators) -> None:
        """Keep them only after a run that handled every entry: a --since run skipped
        the older ones, and a 304 on the next full run would hide them for good."""
        options = self.job.options
        if not options.dry_run and options.since is None:
            self.job.service.remember_feed_validators(validators)

    def stored_validators(self, discovery: Discovery) -> ArticleCheck | None:
        if self.job.options.refresh:
            return None  # every page whole: a new extractor may read it differently
        stored_id = self.stored_id(discovery)
        check = self.job.service.checks.get(stored_id)
        if check is None or not check.has_validators:
            return None
        # A 304 is only of use while the article's file is there.
        return check if self.job.service.files.known_path(stored_id) is not None else None

    def not_modified(
        self, discovery: Discovery, etag: str | None, last_modified: str | None
    ) -> None:
        self.summary.add("unchanged")
        check = self.job.service.checks.get(self.stored_id(discovery))
        if check is not None and not self.job.options.dry_run:
            self.job.service.checks.note(
                replace(
                    check,
                    fetched_at=datetime.now().astimezone(),
                    etag=valid_validator(etag) or check.etag,
                    last_modified=valid_validator(last_modified) or check.last_modified,
                )
            )

    # --- the pipeline's entry -------------------------------------------------------
    async def handle(self, page: FetchedPage) -> None:
        """Extract ``page`` in a worker process and store the document."""
        outcome = await self.job.service.pool.extract(page)
        if isinstance(outcome, Skip):
            (self.summary.fail if outcome.failure else self.summary.skip)(outcome.reason)
            log.info(
                "%s %s: %s", "failed" if outcome.failure else "skipped", page.url, outcome.reason
            )
            self._note_fetch_of_stored(page)
            return
        since = self.job.options.since
        if since is not None and outcome.published < since:
            self.summary.skip("older than --since")
            self._note_fetch_of_stored(page)
            return
        if await self._alias_of_stored(page, outcome):
            self._note_fetch_of_stored(page)
            return
        if outcome.url != page.discovery.url:
            # Redirected: the listed URL names the stored article from now on, in this
            # process and (an alias in the database) in the next ones.
            self.job.service.redirects[page.discovery.url] = outcome.id
            now = datetime.now().astimezone()
            self.job.sink.alias(AliasRecord(page.discovery.url, outcome.id, now))
        if outcome.id in self.job.stored_ids:
            # Another listed link of this job redirected to the same article, and it was
            # stored already: a second write would only swap the channel's titles.
            self.summary.skip(SAME_ARTICLE_REASON)
            return
        self.job.stored_ids.add(outcome.id)
        claim = self._claim_canonical(outcome)
        try:
            async with self.job.service.writing(outcome.id):
                await self.job.sink.store(outcome, self.source.id, self.summary)
        except OSError as exc:
            self.job.stored_ids.discard(outcome.id)  # not stored: another link may yet
            claims = self.job.service.canonical_claims
            if claim is not None and claims.get(claim.canonical_url) is claim:
                del claims[claim.canonical_url]  # nothing stored: no copy can name it
            reason = exc.strerror or type(exc).__name__
            self.summary.fail(f"file write: {reason}")
            self.job.output_error = self.job.output_error or f"{reason} ({exc.filename})"
            log.error("cannot write the file of %s: %s", page.url, exc)
            return
        if claim is not None:
            # Kept for later runs and other processes too (see CanonicalClaim).
            self.job.sink.claim(
                ClaimRecord(claim.canonical_url, outcome.id, datetime.now().astimezone())
            )
        if not self.job.options.dry_run:
            # The last fetch and the page's validators: when to fetch it again, and how.
            self.job.service.checks.note(
                ArticleCheck(
                    outcome.id,
                    page.fetched_at,
                    outcome.published,
                    valid_validator(page.etag),
                    valid_validator(page.last_modified),
                )
            )

    def _note_fetch_of_stored(self, page: FetchedPage) -> None:
        """The page of a stored article was fetched but gave nothing to store (a skip, an
        alias): still a fetch, or the refresh policy would ask for it on every run."""
        if self.job.options.dry_run:
            return
        stored_id = self.stored_id(page.discovery)
        check = self.job.service.checks.get(stored_id)
        if check is not None:
            self.job.service.checks.note(replace(check, fetched_at=page.fetched_at))
        elif self.job.service.files.known_path(stored_id) is not None:
            self.job.service.checks.note(ArticleCheck(stored_id, page.fetched_at))

    async def _alias_of_stored(self, page: FetchedPage, doc: Document) -> bool:
        """When ``doc`` is another copy of a stored article and is not stored under its
        own URL, record its URL as an alias of that article instead of storing a second
        copy: True when it did. Another copy: its same-site canonical link names the
        stored article, or the stored article's canonical link named ``doc``'s URL
        (the copy came first). A canonical link between two pages with another title and
        another first paragraph is a site's template bug, not the same article: ignored.
        An article whose file is being written meanwhile counts as stored."""
        service = self.job.service
        if service.files.known_path(doc.id) is not None:
            return False  # an article of its own already: it stays one
        target = await self._canonical_target(doc)
        if target is not None:
            if not await asyncio.to_thread(_same_article, target[1], doc):
                log.info("canonical link of %s names another article: ignored", page.url)
                return False
            stored_id = target[0]
        else:
            claim = service.canonical_claims.get(doc.url)
            if claim is None or claim.article_id == doc.id:
                return False
            if claim.marks is not None and not claim.same_article(doc):
                return False  # told from memory, before asking where its file is
            path = await service.stored_path(claim.article_id)
            if path is None:
                return False
            # A claim of an earlier run has no marks in memory: its file holds them.
            if claim.marks is None and not await asyncio.to_thread(_same_article, path, doc):
                return False
            stored_id = claim.article_id
        self.summary.skip(ALIAS_REASON)
        now = datetime.now().astimezone()
        for url in dict.fromkeys((doc.url, page.discovery.url)):
            if article_id(url) != stored_id:
                service.redirects[url] = stored_id
                self.job.sink.alias(AliasRecord(url=url, article_id=stored_id, created_at=now))
        log.info("%s: alias of the stored article %s (canonical link)", page.url, stored_id)
        return True

    def _claim_canonical(self, doc: Document) -> CanonicalClaim | None:
        """Before ``doc`` is stored: when its canonical link names a URL no article has
        claimed yet, claim it, so that the page at that URL, fetched later or extracted
        meanwhile, becomes an alias of ``doc`` (first stored, first named)."""
        claims = self.job.service.canonical_claims
        if doc.canonical_url is None or self.job.options.dry_run or doc.canonical_url in claims:
            return None
        claim = CanonicalClaim(doc.canonical_url, doc.id, _copy_marks(doc))
        claims[doc.canonical_url] = claim
        return claim

    async def _canonical_target(self, doc: Document) -> tuple[str, Path] | None:
        """The id and record file of the stored article ``doc``'s same-site canonical
        link names, when it is another article than ``doc``'s own."""
        if doc.canonical_url is None:
            return None
        service = self.job.service
        target = service.redirects.get(doc.canonical_url) or article_id(doc.canonical_url)
        if target == doc.id:
            return None
        path = await service.stored_path(target)
        return (target, path) if path is not None else None

    def stored_id(self, discovery: Discovery) -> str:
        """The id the listed article is stored under (a redirect may have named it)."""
        return self.job.service.redirects.get(discovery.url) or article_id(discovery.url)

    def _already_stored(self, discovery: Discovery) -> bool:
        """True when the article is stored and needs no fetch now: its channel gives no
        modification since the last fetch and the source's refresh policy wants none
        (scraper.refresh)."""
        if self.job.options.refresh:
            return False
        stored_id = self.stored_id(discovery)
        # The index was brought up to date off the event loop when the job started;
        # this lookup takes no lock (a writer may hold the file lock while it fsyncs).
        path = self.job.service.files.known_path(stored_id)
        if path is None:
            return False
        # The check log (loaded off the loop at the job's start) knows the last fetch;
        # without it, the file's time (its last change, so a fetch at least as late).
        check = self.job.service.checks.get(stored_id)
        last_fetched = check.fetched_at if check is not None else _file_time(path)
        zone, source_zone = self.settings.zone, self.source_zone
        if last_fetched is None or changed_since(
            discovery.modified, last_fetched, zone, source_zone
        ):
            return False
        published = publication_time(check, discovery.published, path, zone, source_zone)
        if published is None:
            return True
        now = datetime.now(UTC)
        return not refresh_due(self.source.refresh, published, last_fetched, now)


@dataclass
class _Job:
    service: CrawlService
    options: CrawlOptions
    sink: ArticleSink
    seen: set[str] = field(default_factory=set)
    # Ids of the articles this job fetches (claimed) and has stored: one article listed
    # under two URLs (one redirecting to the other) is fetched and written once.
    claimed_ids: set[str] = field(default_factory=set)
    stored_ids: set[str] = field(default_factory=set)
    # (url, source id, channel) of every sighting recorded in this job.
    sightings: set[tuple[str, str, str]] = field(default_factory=set)
    output_error: str | None = None  # the first file that could not be written, and why


class CrawlService:
    """Process-wide crawl machinery; call ``crawl()`` from inside the asyncio reactor."""

    def __init__(
        self, settings: Settings, database: Database | None, database_error: str | None = None
    ) -> None:
        self.settings = settings
        self.database = database
        # Why the database is missing (unreachable at start); None when it is in use or
        # deliberately absent (dry run).
        self.database_error = database_error
        self.files = FileStore(settings.output_dir)
        self.pool = ExtractionPool(settings.workers, memory_limit=settings.worker_memory_limit)
        self.base_settings = scrapy_settings(settings)
        self.runner = AsyncCrawlerRunner(ScrapySettings(self.base_settings))
        # Every cache a daemon keeps for weeks is bounded (least recently used entries
        # go first): what falls out is only asked or fetched once more.
        self._gnews: BoundedCache[str, str] = BoundedCache(CACHE_SIZE)
        self._gnews_new: dict[str, str] = {}
        self._validators: BoundedCache[str, FeedValidators | None] = BoundedCache(CACHE_SIZE)
        self._validators_new: dict[str, FeedValidators] = {}
        # Listed URL -> id of the article it redirected to, so a daemon does not fetch a
        # redirecting link again on every run (memory only: a process's lifetime).
        self.redirects: BoundedCache[str, str] = BoundedCache(CACHE_SIZE)
        # Canonical link -> the article stored (at its own URL) that named it while that
        # URL was not stored: when the page at that URL comes later and shows the same
        # title or first paragraph, it is that article again. Kept in the database too
        # (canonical_claims) and loaded at each job's start, like the aliases.
        self.canonical_claims: BoundedCache[str, CanonicalClaim] = BoundedCache(CACHE_SIZE)
        # Article id -> done when the record file being written for it is (see writing).
        self._writes: dict[str, asyncio.Future[None]] = {}
        # Stored article id -> its last fetch and validators, kept beside the files: a
        # page the site touched without changing its article is fetched once for that
        # touch, and a recent article again once its last fetch is ``refresh.every`` old.
        self.checks = CheckLog(settings.output_dir)
        # Restores lost record files from their rows and lost rows from their files.
        self.leveler = Leveler(self.files, settings.zone)
        self.active: dict[str, SourceCrawl] = {}
        # Sources crawling at once, across every job of this process (the daemon runs
        # many jobs concurrently); per-host limits come from each source's crawl policy.
        self.gate = asyncio.Semaphore(settings.max_concurrent_sources)
        # Set by stop(): sources waiting at the gate and channels not started yet are
        # dropped, not started after the stop.
        self.stopping = False
        self.stop_reason = STOPPED_AT_SHUTDOWN

    # Google News ids resolved before are never asked again: memory first, then database.
    async def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]:
        """The ids known from memory, then from the database (read in a thread: the
        event loop never waits for the database)."""
        ids = list(article_ids)
        wanted = [i for i in ids if i not in self._gnews]
        if wanted and self.database is not None:
            try:
                found = await asyncio.to_thread(self.database.resolved_gnews, wanted)
            except DatabaseError as exc:
                log.warning("cannot read resolved Google News links: %s", exc)
            else:
                self._gnews.update(found)
        return {i: self._gnews[i] for i in ids if i in self._gnews}

    def remember_gnews(self, article_id: str, url: str) -> None:
        self._gnews[article_id] = url
        self._gnews_new[article_id] = url

    def feed_validators(self, url: str) -> FeedValidators | None:
        """The validators of ``url`` from memory; ``load_feed_validators`` (off the event
        loop) fetched them from the database before the channel started."""
        return self._validators.get(url)

    def load_feed_validators(self, url: str) -> None:
        """Read ``url``'s validators from the database into memory (call in a thread).
        When the database fails the feed is fetched unconditionally: no harm done."""
        if url in self._validators or self.database is None:
            return
        try:
            self._validators[url] = self.database.feed_validators(url)
        except DatabaseError as exc:
            log.warning("cannot read feed validators: %s", exc)

    def load_aliases(self) -> dict[str, str]:
        """Every alias URL in the database with its stored article's id (call in a
        thread). When the database fails, aliases are fetched again: no harm done."""
        return self._read_links("article aliases", lambda db: db.aliases())

    def load_claims(self) -> dict[str, str]:
        """Every canonical claim in the database: the claimed URL and its article's id
        (call in a thread). When the database fails, a page a claim names may be stored
        a second time, as before claims were kept."""
        return self._read_links("canonical claims", lambda db: db.claims())

    def _read_links(self, what: str, read: Callable[[Database], dict[str, str]]) -> dict[str, str]:
        """``read(database)``; nothing (logged) without a database or when it fails."""
        if self.database is None:
            return {}
        try:
            return read(self.database)
        except DatabaseError as exc:
            log.warning("cannot read %s: %s", what, exc)
            return {}

    def _remember_claims(self, claims: dict[str, str]) -> None:
        """Claims of earlier runs and other processes, beside this process's own (the
        same or earlier: a claim in memory stands)."""
        for url, claimer in claims.items():
            if url not in self.canonical_claims:
                self.canonical_claims[url] = CanonicalClaim(url, claimer, None)

    def remember_feed_validators(self, validators: FeedValidators) -> None:
        self._validators[validators.url] = validators
        self._validators_new[validators.url] = validators

    def _save_feed_validators(self) -> None:
        pending, self._validators_new = self._validators_new, {}
        if pending and self.database is not None:
            try:
                for validators in pending.values():
                    self.database.save_feed_validators(validators)
            except DatabaseError as exc:
                log.warning("cannot save feed validators: %s", exc)

    def _save_gnews(self) -> None:
        pending, self._gnews_new = self._gnews_new, {}
        if pending and self.database is not None:
            try:
                self.database.save_gnews(pending)
            except DatabaseError as exc:
                log.warning("cannot save resolved Google News links: %s", exc)

    async def crawl(self, sources: list[Source], options: CrawlOptions) -> CrawlReport:
        started = time.monotonic()
        # The workers import the extraction code while discovery runs, not after.
        self.pool.start()
        sink = ArticleSink(
            self.files, self.database, dry_run=options.dry_run, database_error=self.database_error
        )
        job = _Job(self, options, sink)
        contexts = [SourceCrawl(job, source) for source in sources]
        report = CrawlReport(summaries={c.source.id: c.summary for c in contexts})
        try:
            # Off the event loop: creating the folder, a probe file, the first scan of
            # the file index (later jobs only read the journal's new lines).
            await asyncio.to_thread(self.files.prepare, not options.dry_run)
        except OSError as exc:
            report.output_error = f"{exc.strerror or type(exc).__name__} ({exc.filename})"
            log.error("cannot write to the output folder %s: %s", self.files.root, exc)
            report.seconds = time.monotonic() - started
            return report
        if not options.dry_run:
            # Off the event loop, and cheap unless files or rows went missing.
            report.level = await self.leveler.before_crawl(
                self.database, sources, busy=bool(self.active)
            )
        await asyncio.to_thread(self.checks.load)  # what other processes fetched since
        # Off the event loop too: URLs known as aliases count as their stored articles.
        self.redirects.update(await asyncio.to_thread(self.load_aliases))
        self._remember_claims(await asyncio.to_thread(self.load_claims))
        for context in contexts:
            self.active[context.source.id] = context

        async def one(context: SourceCrawl) -> None:
            async with self.gate:
                if self.stopping:
                    return
                if not await self._crawl_source(context):
                    report.unreachable.append(context.source.id)

        flusher = asyncio.ensure_future(self._flush_periodically(sink))
        try:
            await asyncio.gather(*(one(c) for c in contexts))
        finally:
            flusher.cancel()
            await sink.flush()
            await asyncio.to_thread(self._save_gnews)
            await asyncio.to_thread(self._save_feed_validators)
            if not options.dry_run:
                await asyncio.to_thread(self.checks.save)
            for context in contexts:
                self.active.pop(context.source.id, None)
                if context.broken_channels:
                    report.broken_channels[context.source.id] = context.broken_channels
        report.output_error = job.output_error
        report.database_error = sink.database_error
        report.stopped = self.stop_reason if self.stopping else None
        report.seconds = time.monotonic() - started
        return report

    async def _flush_periodically(self, sink: ArticleSink, every: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every)
            await sink.flush()
            # The pages handed to workers leave holes in the heap (scraper.memory).
            await asyncio.to_thread(trim_heap, every / 2)

    async def _crawl_source(self, context: SourceCrawl) -> bool:
        """Run the source's channels one after another (so the source's per-host delay
        holds across them); True when any server answered."""
        from spiders import SPIDERS

        settings = source_settings(self.base_settings, context.source)
        answered = False
        for channel in context.source.discovery:
            if self.stopping:
                break
            if channel.kind == "feed" and not context.job.options.refresh:
                await asyncio.to_thread(self.load_feed_validators, channel.url)
            crawler = Crawler(SPIDERS[channel.kind], settings)
            errors = ChannelErrors(context, channel.kind)
            crawler.signals.connect(errors.on_error, signal=signals.spider_error, weak=False)
            crawler.signals.connect(errors.on_error, signal=signals.item_error, weak=False)
            try:
                await self.runner.crawl(crawler, context=context, channel=channel)
            except Exception as exc:  # a broken spider must not take the job down
                errors.count(exc, traceback.format_exc())
            if errors.count_seen or getattr(crawler.spider, "document_failures", 0):
                context.broken_channels.append(channel.kind)
            answered = answered or _got_answers(crawler)
        return answered

    async def stop(self, reason: str = STOPPED_AT_SHUTDOWN) -> None:
        """Stop every running crawl gracefully (requests in flight are finished) and
        start no new one; ``reason`` is what the reports of the jobs cut short say."""
        self.stopping = True
        self.stop_reason = reason
        await self.runner.stop()

    @asynccontextmanager
    async def writing(self, article: str) -> AsyncIterator[None]:
        """Around the write of ``article``'s record file: meanwhile stored_path waits
        for it (a copy of the article extracted at the same time must find it)."""
        done = asyncio.get_running_loop().create_future()
        self._writes[article] = done
        try:
            yield
        finally:
            done.set_result(None)
            if self._writes.get(article) is done:
                del self._writes[article]

    async def stored_path(self, article: str) -> Path | None:
        """The record file of ``article``, once a write of it in flight is done."""
        pending = self._writes.get(article)
        if pending is not None:
            await asyncio.shield(pending)
        return self.files.known_path(article)

    def cache_sizes(self) -> dict[str, tuple[int, int]]:
        """(entries, evictions) of each bounded cache, for /metrics."""
        caches: dict[str, BoundedCache[str, Any]] = {
            "redirects": self.redirects,
            "canonical_claims": self.canonical_claims,
            "gnews_ids": self._gnews,
            "feed_validators": self._validators,
        }
        sizes = {name: (len(cache), cache.evictions) for name, cache in caches.items()}
        sizes["article_checks"] = (len(self.checks), 0)  # bounded by its retention
        from scraper.guard import current_guard

        guard = current_guard()
        if guard is not None:
            sizes["refused_hosts"] = (guard.refused_count, 0)
        return sizes

    def close(self) -> None:
        self.pool.close()
        if self.database is not None:
            self.database.close()


class ChannelErrors:
    """Counts every exception raised inside a channel's crawl (a spider callback, the
    item pipeline, the crawler itself) as a failure of the channel, in one line; the
    traceback is logged from -v on. Scrapy would only log them, and we silence Scrapy's
    own log below -v."""

    def __init__(self, context: SourceCrawl, kind: str) -> None:
        self.context = context
        self.kind = kind
        self.count_seen = 0

    def on_error(self, failure: Failure, **_: Any) -> None:
        self.count(failure.value or Exception("unknown error"), failure.getTraceback())

    def count(self, exc: BaseException, traceback_text: str) -> None:
        self.count_seen += 1
        reason = f"{self.kind}: error ({type(exc).__name__})"
        self.context.summary.fail(reason)
        log.error("%s: %s: %s", self.context.source.id, reason, one_line(exc))
        log.info("traceback of the %s error above:\n%s", self.kind, traceback_text)


def _same_article(path: Path, doc: Document) -> bool:
    """Whether the record file at ``path`` holds the article ``doc`` is another copy of
    (see _copy_marks)."""
    try:
        stored = read_document(path)
    except (OSError, ValueError):
        return False
    return _same_marks(_copy_marks(stored), _copy_marks(doc))


def _copy_marks(doc: Document) -> tuple[str, str]:
    """What two copies of an article share: its title or its first paragraph (either
    may be edited), compared without case and spacing."""
    return _comparable(doc.title), _comparable(doc.paragraphs[0])


def _same_marks(first: tuple[str, str], second: tuple[str, str]) -> bool:
    return first[0] == second[0] or first[1] == second[1]


@dataclass(frozen=True)
class CanonicalClaim:
    """An article stored (or being stored) at its own URL whose canonical link named
    another URL: what tells whether the page at that URL is another copy of it. Claims
    are kept in the database too (``canonical_claims``) and loaded at each job's start,
    so that the page at that URL becomes an alias whichever run or process fetches it
    first; a loaded claim has no marks (its article's record file holds them)."""

    canonical_url: str
    article_id: str
    marks: tuple[str, str] | None  # _copy_marks; None: read the stored record

    def same_article(self, doc: Document) -> bool:
        return self.marks is not None and _same_marks(self.marks, _copy_marks(doc))


def _comparable(text: str) -> str:
    return " ".join(text.casefold().split())


def _got_answers(crawler: Crawler) -> bool:
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
    prefix = "downloader/response_status_count/"
    return any(
        key.startswith(prefix) and int(key[len(prefix) :]) < 400 and count
        for key, count in stats.items()
    )
