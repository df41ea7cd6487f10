"""Run one discovery spider for real (Scrapy, Twisted's asyncio reactor, real sockets)
against a local server, and get back what it yielded and counted as plain data.

The reactor can't be restarted inside a process, so spiders run in a child process
(multiprocessing "spawn", so no reactor state leaks from the test process). The child
stays up between runs, so a test module pays Scrapy's import cost once:

    with SpiderHarness() as harness, LocalHTTPServer() as server:
        server.route("/feed.xml", Route(body=feed, content_type="application/rss+xml"))
        run = harness.run({"kind": "feed", "url": server.url("/feed.xml")})
        assert [p.url for p in run.pages] == [...]
        assert run.summary["failed"] == {"article: HTTP 404": 1}

or, for a single run, ``run_spider(channel, ...)`` (a script using either needs the
``if __name__ == "__main__":`` guard that "spawn" requires). The fake crawl context
claims every URL once (minus ``known_urls``, normalized URLs reported as known), honours
``limit``, answers ``resolved_gnews`` from ``known_gnews`` and records
``remember_gnews``. Scrapy settings mirror the runner's but are fast: DOWNLOAD_DELAY 0,
a 5 s timeout, no retries, DOWNLOAD_MAXSIZE = settings.max_download_size, ROBOTSTXT_OBEY
on (serve "/robots.txt" to test it; a 404 allows everything).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import resource
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

from scraper.models import Discovery, FetchedPage
from tests.support.processes import peak_resident_kib

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

BASE_SCRAPY_SETTINGS: dict[str, Any] = {
    "TWISTED_REACTOR": ASYNCIO_REACTOR,
    "ROBOTSTXT_OBEY": True,
    "DOWNLOAD_DELAY": 0,
    "DOWNLOAD_TIMEOUT": 5,  # tests of timeouts lower it
    "RETRY_ENABLED": False,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "USER_AGENT": "news-scraper-tests",
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "INFO",
    "LOG_ENABLED": False,
    "COOKIES_ENABLED": False,
}


@dataclass(frozen=True)
class SpiderRun:
    """What one spider run produced."""

    pages: list[FetchedPage]  # items yielded, in the order downloads completed
    summary: dict[str, Any]  # CrawlSummary.as_dict()
    claimed: list[Discovery]  # every discovery passed to claim(), in order
    remembered: dict[str, str]  # remember_gnews(id, url) calls
    gnews_lookups: list[list[str]]  # the ids of each resolved_gnews() call
    log: list[str] = field(default_factory=list)  # "LEVEL logger: message" of the spider
    # Peak resident memory of the process the spider ran in, in KiB (see _peak_rss_kib).
    peak_rss_kib: int = 0

    @property
    def urls(self) -> list[str]:
        return [page.url for page in self.pages]

    @property
    def failed(self) -> dict[str, int]:
        return dict(self.summary["failed"])

    @property
    def skipped(self) -> dict[str, int]:
        return dict(self.summary["skipped"])


@dataclass(frozen=True)
class _Job:
    channel: dict[str, Any]
    settings: dict[str, Any]
    scrapy_settings: dict[str, Any]
    limit: int | None
    known_urls: frozenset[str]
    known_gnews: dict[str, str]


class SpiderHarness:
    """A child process that runs spiders on request, one at a time."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self) -> Self:
        if self._process is None:
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(target=_worker_main, args=(child,), daemon=True)
            self._process.start()
            child.close()
            self._conn = parent
            if not parent.poll(self.timeout) or parent.recv() != "ready":
                self.stop()
                raise RuntimeError("the spider harness process did not start")
        return self

    def stop(self) -> None:
        if self._process is None or self._conn is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
        self._process = self._conn = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def run(
        self,
        channel: Mapping[str, Any],
        *,
        settings: Mapping[str, Any] | None = None,
        scrapy_settings: Mapping[str, Any] | None = None,
        limit: int | None = None,
        known_urls: Iterable[str] = (),
        known_gnews: Mapping[str, str] | None = None,
    ) -> SpiderRun:
        """Run the spider of ``channel["kind"]`` (a channel as in a source file) to the end.

        ``settings`` are scraper.config.Settings fields (e.g. max_download_size);
        ``scrapy_settings`` override the harness's Scrapy settings."""
        self.start()
        assert self._conn is not None and self._process is not None
        job = _Job(
            channel=dict(channel),
            settings=dict(settings or {}),
            scrapy_settings={**BASE_SCRAPY_SETTINGS, **(scrapy_settings or {})},
            limit=limit,
            known_urls=frozenset(known_urls),
            known_gnews=dict(known_gnews or {}),
        )
        self._conn.send(job)
        if not self._conn.poll(self.timeout):
            self._process.kill()
            self._process = None
            raise TimeoutError(f"spider did not finish within {self.timeout} s")
        try:
            outcome = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._process = None
            raise RuntimeError("the spider harness process died") from exc
        if isinstance(outcome, str):
            raise RuntimeError(f"spider run failed in the child process:\n{outcome}")
        assert isinstance(outcome, SpiderRun)
        return outcome


def run_spider(channel: Mapping[str, Any], **kwargs: Any) -> SpiderRun:
    """One run in a fresh child process (about a second of start-up)."""
    with SpiderHarness() as harness:
        return harness.run(channel, **kwargs)


def fake_context(channel: Mapping[str, Any]) -> _FakeContext:
    """The harness's crawl context for ``channel`` with default settings, no limit and
    nothing known, for a spider built in the test's own process."""
    job = _Job(
        channel=dict(channel),
        settings={},
        scrapy_settings=BASE_SCRAPY_SETTINGS,
        limit=None,
        known_urls=frozenset(),
        known_gnews={},
    )
    return _FakeContext.from_job(job)


# --- the child process -------------------------------------------------------------


def _peak_rss_kib() -> int:
    """This process's own peak RSS since it started its program: Linux's VmHWM. Not
    ``ru_maxrss``: Linux carries that over exec(), so a spawned child's starts at the
    RSS its parent (the test run, hundreds of MB late in a session) had when it forked."""
    peak = peak_resident_kib()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _worker_main(conn: Connection) -> None:
    from scrapy.utils.reactor import install_reactor

    install_reactor(ASYNCIO_REACTOR)
    from twisted.internet import reactor

    def read_jobs() -> None:
        while True:
            try:
                job = conn.recv()
            except EOFError:
                job = None
            if job is None:
                reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]
                return
            reactor.callFromThread(_start_job, job, conn)  # type: ignore[attr-defined]

    def ready(_: Any) -> None:
        conn.send("ready")
        threading.Thread(target=read_jobs, daemon=True).start()

    reactor.callWhenRunning(lambda: _warm_up().addBoth(ready))  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]


def _warm_up() -> Any:
    """A first, real crawl (a feed and an article from a server in this process) loads
    and initializes every Scrapy component, the spiders and their parsers: otherwise
    the first test's start-up work stalls the reactor past short download timeouts."""
    from scrapy.crawler import CrawlerRunner

    from spiders import SPIDERS
    from tests.support.http_server import LocalHTTPServer, Route

    server = LocalHTTPServer().start()
    feed = (
        f"<rss version='2.0'><channel><item><link>{server.url('/a')}</link></item></channel></rss>"
    )
    server.routes(
        {
            "/feed": Route(body=feed, content_type="application/rss+xml"),
            "/a": Route(body="<html><body>warm</body></html>"),
        }
    )
    context = fake_context({"kind": "feed", "url": server.url("/feed")})
    deferred = CrawlerRunner(BASE_SCRAPY_SETTINGS).crawl(
        SPIDERS["feed"], context=context, channel=context.channel
    )
    deferred.addBoth(lambda result: (server.stop(), result)[1])
    return deferred


class _LogCollector(logging.Handler):
    def __init__(self, names: set[str]) -> None:
        super().__init__(logging.INFO)
        self.names = names
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in self.names:
            self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def _start_job(job: _Job, conn: Connection) -> None:
    try:
        from scrapy import signals
        from scrapy.crawler import CrawlerRunner

        from spiders import SPIDERS

        context = _FakeContext.from_job(job)
        spider_class = SPIDERS[context.channel.kind]
        # As the runner does: the download size limit comes from the service settings.
        scrapy_settings = {"DOWNLOAD_MAXSIZE": context.settings.max_download_size}
        runner = CrawlerRunner({**scrapy_settings, **job.scrapy_settings})
        crawler = runner.create_crawler(spider_class)
        pages: list[FetchedPage] = []

        def collect(item: Any, **_: Any) -> None:
            if isinstance(item, FetchedPage):
                pages.append(item)

        # weak=False: the dispatcher would otherwise drop this local function.
        crawler.signals.connect(collect, signal=signals.item_scraped, weak=False)
        collector = _LogCollector({spider_class.name})
        logging.getLogger().addHandler(collector)
        logging.getLogger().setLevel(logging.INFO)
        deferred = runner.crawl(crawler, context=context, channel=context.channel)
    except Exception:
        conn.send(traceback.format_exc())
        return

    def finished(result: Any) -> None:
        logging.getLogger().removeHandler(collector)
        if getattr(result, "getTraceback", None) is not None:
            conn.send(result.getTraceback())
            return
        conn.send(
            SpiderRun(
                pages=pages,
                summary=context.summary.as_dict(),
                claimed=context.claimed,
                remembered=context.remembered,
                gnews_lookups=context.gnews_lookups,
                log=collector.lines,
                peak_rss_kib=_peak_rss_kib(),
            )
        )

    deferred.addBoth(finished)


class _FakeContext:
    """A CrawlContext that wants every article once."""

    def __init__(self, job: _Job) -> None:
        from scraper.config import Settings, Source
        from scraper.models import SourceDefaults
        from scraper.summary import CrawlSummary

        source = Source.model_validate(
            {
                "id": "test-source",
                "name": "Test Source",
                "homepage": "https://source.example",
                "discovery": [job.channel],
            }
        )
        self.settings = Settings.model_validate(job.settings)
        self.source = source
        self.channel = source.discovery[0]
        self.summary = CrawlSummary(source_id=source.id)
        self._defaults = SourceDefaults.of(source)
        self._limit = job.limit
        self._known_urls = job.known_urls
        self._known_gnews = job.known_gnews
        self._claimed_urls: set[str] = set()
        self.claimed: list[Discovery] = []
        self.remembered: dict[str, str] = {}
        self.gnews_lookups: list[list[str]] = []

    @classmethod
    def from_job(cls, job: _Job) -> _FakeContext:
        return cls(job)

    @property
    def defaults(self) -> Any:
        return self._defaults

    def claim(self, discovery: Discovery) -> bool:
        self.claimed.append(discovery)
        if discovery.url in self._claimed_urls or self.limit_reached():
            return False
        self.summary.add("discovered")
        if discovery.url in self._known_urls:
            self.summary.add("known")
            return False
        self._claimed_urls.add(discovery.url)
        return True

    def limit_reached(self) -> bool:
        return self._limit is not None and len(self._claimed_urls) >= self._limit

    async def resolved_gnews(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(article_ids)
        self.gnews_lookups.append(ids)
        return {i: self._known_gnews[i] for i in ids if i in self._known_gnews}

    def remember_gnews(self, article_id: str, url: str) -> None:
        self.remembered[article_id] = url

    def feed_validators(self, url: str) -> Any:
        return None  # every run fetches unconditionally (conditional GET: tests/e2e)

    def remember_feed_validators(self, validators: Any) -> None:
        pass

    def stored_validators(self, discovery: Discovery) -> Any:
        return None  # nothing is stored: no conditional GET (tests/e2e test those)

    def not_modified(self, discovery: Discovery, etag: Any, last_modified: Any) -> None:
        self.summary.add("unchanged")
