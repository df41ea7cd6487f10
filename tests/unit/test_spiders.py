"""The discovery spiders, run for real by Scrapy against local servers that misbehave.

One harness process serves the whole module (Scrapy's start-up is paid once); each test
sets its own routes on two local servers ("server" lists, "other" is a second host).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import pytest
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from twisted.internet import error as tx_error
from twisted.python.failure import Failure

from scraper.discovery import Entry
from scraper.robots import RobotsUnreachable
from spiders import SPIDERS
from spiders.base import describe_failure
from spiders.gnews import GNewsSpider, publisher_home
from spiders.sitemap import newest_first
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.spider_harness import SpiderHarness, fake_context, run_spider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RSS = "application/rss+xml; charset=utf-8"
XML = "application/xml"
LISTED = "https://site.example/news/1"  # an article a document lists
HTML = "text/html; charset=utf-8"
ARTICLE = "<html><head><title>An article</title></head><body><p>Text.</p></body></html>"


@pytest.fixture(scope="module")
def harness() -> Iterator[SpiderHarness]:
    with SpiderHarness() as running:
        yield running


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[LocalHTTPServer, LocalHTTPServer]]:
    with LocalHTTPServer() as first, LocalHTTPServer() as second:
        yield first, second


@pytest.fixture
def server(_servers: tuple[LocalHTTPServer, LocalHTTPServer]) -> LocalHTTPServer:
    _servers[0].clear()
    return _servers[0]


@pytest.fixture
def other(_servers: tuple[LocalHTTPServer, LocalHTTPServer]) -> LocalHTTPServer:
    _servers[1].clear()
    return _servers[1]


def fixture(kind: str, name: str, **values: str) -> bytes:
    """A fixture file with its {placeholders} filled in (server URLs, ids)."""
    body = (FIXTURES / kind / name).read_bytes()
    for key, value in values.items():
        body = body.replace(("{" + key + "}").encode(), value.encode())
    return body


def rss(*links: str) -> str:
    items = "".join(
        f"<item><title>Item {n}</title><link>{escape(link)}</link></item>"
        for n, link in enumerate(links)
    )
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>"


def free_port() -> int:
    """A port nobody listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- without a crawl ---------------------------------------------------------------------


def test_every_channel_kind_has_a_spider() -> None:
    assert set(SPIDERS) == {"feed", "sitemap", "listing", "gnews", "urls"}
    assert all(cls.name == kind for kind, cls in SPIDERS.items())


def _decoder_error(body: bytes, encoding: str) -> Exception:
    """The exception Scrapy's decoder of ``encoding`` raises on ``body``."""
    from scrapy.utils._compression import _unbrotli, _unzstd

    try:
        (_unbrotli if encoding == "br" else _unzstd)(body)
    except Exception as exc:  # whatever the decoder raises is the point
        return exc
    raise AssertionError(f"{body!r} decoded as {encoding}")


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (tx_error.TimeoutError(), ("timeout", False)),
        (tx_error.TCPTimedOutError(), ("timeout", False)),
        (tx_error.ConnectionRefusedError(), ("connection refused", False)),
        (tx_error.DNSLookupError("no.such.host"), ("DNS lookup failed", False)),
        (tx_error.ConnectionLost(), ("connection reset", False)),
        (tx_error.SSLError(), ("TLS error", False)),
        (IgnoreRequest("Forbidden by robots.txt"), ("forbidden by robots.txt", True)),
        (
            RobotsUnreachable(503, "https://x.gov/a"),
            ("robots.txt unreachable (HTTP 503)", False),
        ),
        (
            RobotsUnreachable(tx_error.TimeoutError(), "https://x.gov/a"),
            ("robots.txt unreachable (timeout)", False),
        ),
        (IgnoreRequest("max redirections reached"), ("too many redirects", False)),
        (
            IgnoreRequest("Ignored response because it exceeded DOWNLOAD_MAXSIZE (10 B)"),
            ("response too large", False),
        ),
        (IgnoreRequest("Filtered offsite request"), ("request ignored", True)),
        (ValueError("surprise"), ("error (ValueError)", False)),
        # A body its Content-Encoding does not decode: the decoder's own error before.
        (gzip.BadGzipFile("Not a gzipped file"), ("broken content encoding", False)),
        (zlib.error("invalid stored block lengths"), ("broken content encoding", False)),
        (_decoder_error(b"not brotli", "br"), ("broken content encoding", False)),
        (_decoder_error(b"not zstd at all", "zstd"), ("broken content encoding", False)),
    ],
)
def test_failure_reasons(exception: Exception, expected: tuple[str, bool]) -> None:
    assert describe_failure(Failure(exception)) == expected


def test_sitemap_entries_newest_first() -> None:
    undated, old, new, news = (
        Entry(url="https://s.example/undated"),
        Entry(url="https://s.example/old", modified=datetime(2020, 1, 1, tzinfo=UTC)),
        Entry(url="https://s.example/new", modified=datetime(2024, 1, 1, tzinfo=UTC)),
        Entry(url="https://s.example/news", published=date(2024, 6, 1)),
    )
    assert newest_first([undated, old, new, news]) == [news, new, old, undated]


def test_publisher_home() -> None:
    assert publisher_home("https://www.example.com/a/b?c=1") == "https://www.example.com"
    assert publisher_home("not a url") is None


DOCUMENT_URL = "https://site.example/document"


@pytest.mark.parametrize(
    ("channel", "parser", "callback", "arguments", "document", "kind_of_body"),
    [
        (
            {"kind": "feed", "url": DOCUMENT_URL},
            "parse_feed_document",
            "parse_feed",
            {},
            lambda: rss(LISTED),
            RSS,
        ),
        (
            {"kind": "gnews", "query": "site:site.example"},
            "parse_gnews_document",
            "parse_search",
            {},
            lambda: rss(LISTED),  # an item linking to the publisher needs no resolution
            RSS,
        ),
        (
            {"kind": "sitemap", "url": DOCUMENT_URL},
            "parse_sitemap",
            "parse_sitemap",
            {"depth": 0},
            lambda: urlset(LISTED),
            XML,
        ),
        (
            {"kind": "listing", "url": DOCUMENT_URL, "follow": "/news/"},
            "parse_listing",
            "parse_listing",
            {"page": 1},
            lambda: f'<html><body><a href="{LISTED}">One</a></body></html>',
            "text/html",
        ),
    ],
)
def test_discovery_documents_are_parsed_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
    channel: dict[str, str],
    parser: str,
    callback: str,
    arguments: dict[str, Any],
    document: Callable[[], str],
    kind_of_body: str,
) -> None:
    # A stranger's document can take seconds to parse (scraper.discovery): on the event
    # loop it would hold every download of the process still.
    module = sys.modules[f"spiders.{channel['kind']}"]
    real: Callable[..., Any] = getattr(module, parser)
    parsed_on: list[int] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        parsed_on.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, parser, recording)
    context = fake_context(channel)
    spider = SPIDERS[channel["kind"]](context=context, channel=context.channel)
    body = document().encode()
    response = TextResponse(DOCUMENT_URL, body=body, headers={"Content-Type": kind_of_body})

    async def requests() -> tuple[int, list[str]]:
        parse = getattr(spider, callback)
        urls = [request.url async for request in parse(response, **arguments)]
        return threading.get_ident(), urls

    loop_thread, urls = asyncio.run(requests())

    assert urls == [LISTED]
    assert len(parsed_on) == 1 and parsed_on[0] != loop_thread


# --- feed ------------------------------------------------------------------------------


def test_feed_articles_on_any_host_become_fetched_pages(
    harness: SpiderHarness, server: LocalHTTPServer, other: LocalHTTPServer
) -> None:
    feed = fixture("feeds", "rss2.xml", base=server.base_url, other=other.base_url)
    server.routes(
        {
            "/rss.xml": Route(body=feed, content_type=RSS),
            "/news/harbour-bridge": Route.redirect("/news/2023/harbour-bridge", 301),
            "/news/2023/harbour-bridge": Route(
                body=ARTICLE.encode("cp1251"), content_type="text/html; charset=windows-1251"
            ),
            "/news/budget-2024": Route(body=ARTICLE, content_type=None),
            "/news/statement": Route(body=ARTICLE, content_type="application/xhtml+xml"),
        }
    )
    other.route("/reports/42", Route(body=ARTICLE))

    run = harness.run({"kind": "feed", "url": server.url("/rss.xml")})

    assert run.failed == {} and run.skipped == {"feed: entry without a link": 1}
    assert run.summary["fetched"] == 4 and run.summary["discovered"] == 4
    pages = {page.discovery.url: page for page in run.pages}
    assert set(pages) == {
        server.url("/news/harbour-bridge"),  # tracking parameter and fragment dropped
        server.url("/news/budget-2024"),
        server.url("/news/statement"),
        other.url("/reports/42"),
    }
    bridge = pages[server.url("/news/harbour-bridge")]
    assert bridge.url == server.url("/news/2023/harbour-bridge")  # after the redirect
    assert bridge.body == ARTICLE.encode("cp1251") and bridge.encoding == "windows-1251"
    assert bridge.timezone == "America/Sao_Paulo"
    assert bridge.source.source_id == "test-source" and bridge.source.name == "Test Source"
    discovery = bridge.discovery
    assert (discovery.channel, discovery.aggregator, discovery.source_id) == (
        "feed",
        "RSS",
        "test-source",
    )
    assert discovery.title == "Minister opens the new harbour bridge"
    assert discovery.published == datetime(2023, 11, 14, 8, tzinfo=UTC)
    assert pages[server.url("/news/budget-2024")].encoding is None
    # "Sun, 12 Nov 2023 00:00:00 +0000": an explicit offset makes midnight an instant.
    assert pages[server.url("/news/statement")].discovery.published == datetime(
        2023, 11, 12, tzinfo=UTC
    )


def test_channel_aggregator_label(harness: SpiderHarness, server: LocalHTTPServer) -> None:
    server.routes(
        {"/f": Route(body=rss(server.url("/a")), content_type=RSS), "/a": Route(body=ARTICLE)}
    )
    run = harness.run({"kind": "feed", "url": server.url("/f"), "aggregator": "Gov RSS"})
    assert [p.discovery.aggregator for p in run.pages] == ["Gov RSS"]


def test_article_failures_are_counted_by_reason_and_logged(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/gone"
    paths = ["/ok", "/404", "/500", "/slow", "/reset", "/big", "/big-stream", "/pdf", "/private/x"]
    server.routes(
        {
            "/feed": Route(body=rss(*map(server.url, paths), refused), content_type=RSS),
            "/robots.txt": Route(
                body="User-agent: *\nDisallow: /private/\n", content_type="text/plain"
            ),
            "/ok": Route(body=ARTICLE),
            "/500": Route(status=500, body="oops"),
            "/slow": Route(body=ARTICLE, delay=2.5),
            "/reset": Route(reset=True),
            "/big": Route(body=b"x" * 200_000),
            "/big-stream": Route(body=b"x" * 200_000, content_length=False),
            "/pdf": Route(body=b"%PDF-1.7 binary", content_type="application/pdf"),
            "/private/x": Route(body=ARTICLE),
        }
    )

    run = harness.run(
        {"kind": "feed", "url": server.url("/feed")},
        settings={"max_download_size": 100_000},
        scrapy_settings={"DOWNLOAD_TIMEOUT": 1},
    )

    assert run.urls == [server.url("/ok")] and run.summary["fetched"] == 1
    assert run.failed == {
        "article: HTTP 404": 1,
        "article: HTTP 500": 1,
        "article: timeout": 1,
        "article: connection reset": 1,
        "article: response too large": 2,  # announced by Content-Length, and streamed
        "article: connection refused": 1,
    }
    assert run.skipped == {"forbidden by robots.txt": 1, "article: not HTML": 1}
    assert server.requests_to("/private/x") == []  # robots.txt is obeyed before fetching
    log = "\n".join(run.log)
    assert f"article: HTTP 404: {server.url('/404')}" in log
    assert f"article: connection refused: {refused}" in log


def test_an_article_request_scrapy_drops_without_a_word_is_counted_as_failed(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    # Scrapy's URL length middleware (left out of the crawl's settings, still in the
    # harness's) drops a request without calling it back or erring back.
    long_path = "/" + "long-address-" * 10
    server.routes(
        {
            "/feed": Route(body=rss(server.url("/ok"), server.url(long_path)), content_type=RSS),
            "/ok": Route(body=ARTICLE),
            long_path: Route(body=ARTICLE),
        }
    )

    run = harness.run(
        {"kind": "feed", "url": server.url("/feed")}, scrapy_settings={"URLLENGTH_LIMIT": 100}
    )

    assert run.urls == [server.url("/ok")] and server.requests_to(long_path) == []
    assert run.failed == {"article: dropped without an answer": 1}
    assert f"article: dropped without an answer: {server.url(long_path)}" in "\n".join(run.log)


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(body=(FIXTURES / "feeds/not_a_feed.html").read_bytes()), "feed: not a feed"),
        (Route(status=404, body="missing"), "feed: HTTP 404"),
        (Route(status=503, body="busy"), "feed: HTTP 503"),
        (Route(reset=True), "feed: connection reset"),
        (Route(body=b"", content_type=RSS), "feed: not a feed"),
    ],
)
def test_feed_document_failures(
    harness: SpiderHarness, server: LocalHTTPServer, route: Route, reason: str
) -> None:
    server.route("/feed", route)
    run = harness.run({"kind": "feed", "url": server.url("/feed")})
    assert run.pages == [] and run.failed == {reason: 1} and run.summary["discovered"] == 0
    assert any(server.url("/feed") in line for line in run.log)


def test_feed_forbidden_by_robots_is_a_skip(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    server.routes(
        {
            "/robots.txt": Route(body="User-agent: *\nDisallow: /\n", content_type="text/plain"),
            "/feed": Route(body=rss(server.url("/a")), content_type=RSS),
        }
    )
    run = harness.run({"kind": "feed", "url": server.url("/feed")})
    assert run.failed == {} and run.skipped == {"forbidden by robots.txt": 1}
    assert server.requests_to("/feed") == []


def test_invalid_known_and_limited_articles(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    links = ["http://:80/no-host", *(server.url(f"/a{n}") for n in range(5))]
    server.route("/feed", Route(body=rss(*links), content_type=RSS))
    for n in range(5):
        server.route(f"/a{n}", Route(body=ARTICLE))

    run = harness.run(
        {"kind": "feed", "url": server.url("/feed")}, limit=2, known_urls=[server.url("/a0")]
    )

    assert run.skipped == {"feed: invalid URL": 1}
    assert sorted(run.urls) == [server.url("/a1"), server.url("/a2")]  # a0 is stored
    assert server.requests_to("/a0") == [] and server.requests_to("/a3") == []
    assert run.summary["known"] == 1


def test_feed_entries_without_a_link_are_counted(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    # A feed of such entries read as an empty one: "discovered 0", no reason given.
    unlinked = "<item><title>Only a title</title></item><item><guid>item-7</guid></item>"
    feed = rss(server.url("/a")).replace("</channel>", unlinked + "</channel>")
    server.routes({"/feed": Route(body=feed, content_type=RSS), "/a": Route(body=ARTICLE)})

    run = harness.run({"kind": "feed", "url": server.url("/feed")})

    assert run.urls == [server.url("/a")]
    assert run.skipped == {"feed: entry without a link": 2} and run.failed == {}


def test_sitemap_entries_without_a_loc_are_counted(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    sitemap = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><lastmod>2024-01-05</lastmod></url><url><loc>{server.url('/a')}</loc></url>"
        "</urlset>"
    )
    server.routes(
        {"/sitemap.xml": Route(body=sitemap, content_type=XML), "/a": Route(body=ARTICLE)}
    )

    run = harness.run({"kind": "sitemap", "url": server.url("/sitemap.xml")})

    assert run.urls == [server.url("/a")]
    assert run.skipped == {"sitemap: entry without a link": 1} and run.failed == {}


def test_articles_are_fetched_as_listed_and_claimed_by_identity(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    listed = [
        "/spip.php?article101&utm_source=rss",  # fetched with its tracking parameter
        "/spip.php?article101#forum",  # the same article again: not fetched twice
        "/spip.php?article102",
        "/news.php?1001",
        "/a;id=5",
        "/lire.php?n=12&amp;lang=pt",  # escaped twice by the feed: "&amp;" in the link
    ]
    server.route("/feed", Route(body=rss(*map(server.url, listed)), content_type=RSS))
    server.route("/robots.txt", Route(status=404))
    server.fallback = Route(body=ARTICLE)
    try:
        run = harness.run({"kind": "feed", "url": server.url("/feed")})
    finally:
        server.fallback = None

    fetched = sorted(r.path for r in server.requests if r.path not in ("/feed", "/robots.txt"))
    assert fetched == sorted(
        [
            "/spip.php?article101&utm_source=rss",
            "/spip.php?article102",
            "/news.php?1001",
            "/a;id=5",
            "/lire.php?n=12&lang=pt",
        ]
    )
    assert run.summary["discovered"] == 5 and run.summary["fetched"] == 5
    by_identity = {p.discovery.url: p.discovery for p in run.pages}
    assert set(by_identity) == {
        server.url(p)
        for p in (
            "/spip.php?article101",
            "/spip.php?article102",
            "/news.php?1001",
            "/a;id=5",
            "/lire.php?n=12&lang=pt",
        )
    }
    first = by_identity[server.url("/spip.php?article101")]
    assert first.listed_url == first.fetch_url == server.url(listed[0])


# --- sitemap ---------------------------------------------------------------------------


def urlset(*urls: str) -> str:
    entries = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'


def sitemap_index(*urls: str) -> str:
    entries = "".join(f"<sitemap><loc>{escape(u)}</loc></sitemap>" for u in urls)
    return f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'


def test_sitemap_index_gzip_and_news_entries(
    harness: SpiderHarness, server: LocalHTTPServer, other: LocalHTTPServer
) -> None:
    base = server.base_url
    news = fixture("sitemaps", "news.xml", base=other.base_url)
    server.routes(
        {
            "/sitemap-index.xml": Route(
                body=fixture("sitemaps", "index.xml", base=base), content_type=XML
            ),
            # A raw .gz file, and a plain sitemap gzip-encoded in transit.
            "/sitemaps/2023.xml.gz": Route(
                body=gzip.compress(urlset(server.url("/2023/a"), server.url("/2023/b")).encode()),
                content_type="application/x-gzip",
            ),
            "/sitemaps/news.xml": Route(
                body=gzip.compress(news), content_type=XML, headers={"Content-Encoding": "gzip"}
            ),
            "/2023/a": Route(body=ARTICLE),
            "/2023/b": Route(body=ARTICLE),
        }
    )
    other.routes(
        {
            "/news/2024/03/grain-exports": Route(body=ARTICLE),
            "/news/2024/03/school-year": Route(body=ARTICLE),
        }
    )

    run = harness.run({"kind": "sitemap", "url": server.url("/sitemap-index.xml")})

    assert run.failed == {} and run.skipped == {}
    assert sorted(run.urls) == sorted(
        [
            server.url("/2023/a"),
            server.url("/2023/b"),
            other.url("/news/2024/03/grain-exports"),
            other.url("/news/2024/03/school-year"),
        ]
    )
    assert len(server.requests_to("/sitemap-index.xml")) == 1  # it lists itself: no loop
    by_url = {p.discovery.url: p.discovery for p in run.pages}
    grain = by_url[other.url("/news/2024/03/grain-exports")]
    assert grain.title == "Grain exports rise for a third month"
    assert grain.published == datetime(2024, 3, 18, 5, 45, tzinfo=UTC)
    assert (grain.channel, grain.aggregator) == ("sitemap", "Sitemap")
    school = by_url[other.url("/news/2024/03/school-year")]
    assert school.published == date(2024, 3, 16)
    assert school.modified == datetime(2024, 3, 17, 12, tzinfo=UTC)
    # Newest first within a sitemap, so that --limit keeps the latest news.
    news_claims = [d.url for d in run.claimed if d.url.startswith(other.base_url)]
    assert news_claims == [grain.url, school.url]


def test_a_child_sitemap_that_is_not_an_http_url_is_skipped_and_its_siblings_followed(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    # One such child ended the walk over the index ("sitemap: error (ValueError)"): the
    # children after it were never fetched, their articles lost.
    server.routes(
        {
            "/index.xml": Route(
                body=sitemap_index(
                    server.url("/c1.xml"),
                    "mailto:x@y.example",
                    "http://[::1/x.xml",
                    server.url("/c2.xml"),
                ),
                content_type=XML,
            ),
            "/c1.xml": Route(body=urlset(server.url("/a/1")), content_type=XML),
            "/c2.xml": Route(body=urlset(server.url("/a/2")), content_type=XML),
            "/a/1": Route(body=ARTICLE),
            "/a/2": Route(body=ARTICLE),
        }
    )

    run = harness.run({"kind": "sitemap", "url": server.url("/index.xml")})

    assert run.failed == {}
    assert run.skipped == {"sitemap: unsupported scheme (mailto)": 1, "sitemap: invalid URL": 1}
    assert sorted(run.urls) == [server.url("/a/1"), server.url("/a/2")]


def test_a_text_sitemap_with_a_stray_line_keeps_its_articles(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    # One line that was no URL made the whole file "not a sitemap": every article in it
    # was lost, on every run.
    lines = [server.url("/a/1"), "# generated 2026-12-01", server.url("/a/2")]
    server.routes(
        {
            "/sitemap.txt": Route(body="\n".join(lines) + "\n", content_type="text/plain"),
            "/a/1": Route(body=ARTICLE),
            "/a/2": Route(body=ARTICLE),
        }
    )

    run = harness.run({"kind": "sitemap", "url": server.url("/sitemap.txt")})

    assert run.failed == {}
    assert run.skipped == {"sitemap: line not a URL": 1}
    assert sorted(run.urls) == [server.url("/a/1"), server.url("/a/2")]


@pytest.mark.parametrize(
    ("body", "failed", "fetched"),
    [
        ("broken", {"sitemap: invalid XML": 1}, 2),
        ((FIXTURES / "feeds/not_a_feed.html").read_text(), {"sitemap: not a sitemap": 1}, 0),
        ("\x00\x01 binary", {"sitemap: not a sitemap": 1}, 0),
    ],
)
def test_unusable_sitemaps(
    harness: SpiderHarness, server: LocalHTTPServer, body: str, failed: dict[str, int], fetched: int
) -> None:
    if body == "broken":
        body = fixture("sitemaps", "broken.xml", base=server.base_url).decode()
    server.routes(
        {
            "/s.xml": Route(body=body, content_type=XML),
            "/kept/one": Route(body=ARTICLE),
            "/kept/two": Route(body=ARTICLE),
        }
    )
    run = harness.run({"kind": "sitemap", "url": server.url("/s.xml")})
    # A cut-off sitemap still yields the entries before the cut (the last one may be
    # truncated: its 404 is counted too).
    assert {k: v for k, v in run.failed.items() if k.startswith("sitemap")} == failed
    assert run.summary["fetched"] == fetched


def test_sitemap_nesting_and_fan_out_are_bounded(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    children = [server.url(f"/child-{n}.xml") for n in range(53)]
    server.routes(
        {
            "/deep-0.xml": Route(body=sitemap_index(server.url("/deep-1.xml")), content_type=XML),
            "/deep-1.xml": Route(body=sitemap_index(server.url("/deep-2.xml")), content_type=XML),
            "/deep-2.xml": Route(body=sitemap_index(server.url("/deep-3.xml")), content_type=XML),
            "/wide.xml": Route(body=sitemap_index(*children), content_type=XML),
        }
    )
    for n in range(53):
        server.route(f"/child-{n}.xml", Route(body=urlset(), content_type=XML))

    deep = harness.run({"kind": "sitemap", "url": server.url("/deep-0.xml")})
    assert deep.skipped == {"sitemap: index nested too deep": 1}
    assert server.requests_to("/deep-3.xml") == []

    wide = harness.run({"kind": "sitemap", "url": server.url("/wide.xml")})
    assert wide.skipped == {"sitemap: too many child sitemaps": 3} and wide.failed == {}
    assert sum(len(server.requests_to(f"/child-{n}.xml")) for n in range(53)) == 50


# --- listing ---------------------------------------------------------------------------

FOLLOW = r"/en/news/[^/]+-\d+"


def listing_routes(server: LocalHTTPServer) -> None:
    base = server.base_url
    server.routes(
        {
            "/en/news/all": Route(body=fixture("listings", "page1.html", base=base)),
            "/en/news/all?page=2": Route(body=fixture("listings", "page2.html", base=base)),
            "/en/news/all?page=3": Route(body=fixture("listings", "page3.html", base=base)),
        }
    )
    for slug in [
        "minister-visits-port-101",
        "minister-speech-102",
        "road-works-finished-103",
        "harvest-report-201",
        "archive-opening-301",
    ]:
        server.route(f"/en/news/{slug}", Route(body=ARTICLE))


@pytest.mark.parametrize(("max_pages", "pages", "articles"), [(1, 1, 3), (2, 2, 4), (5, 3, 5)])
def test_listing_follows_links_and_next_pages(
    harness: SpiderHarness, server: LocalHTTPServer, max_pages: int, pages: int, articles: int
) -> None:
    listing_routes(server)
    channel = {
        "kind": "listing",
        "url": server.url("/en/news/all"),
        "follow": FOLLOW,
        "next": "a[rel=next]",
        "max_pages": max_pages,
    }

    run = harness.run(channel)

    assert run.failed == {} and run.summary["fetched"] == articles
    assert len(server.requests_to("/en/news/all")) == pages  # page 3 links back: no loop
    # ?ref=home may name content somewhere: the page is fetched as listed and keeps it.
    listed = server.url("/en/news/road-works-finished-103?ref=home")
    assert listed in run.urls
    assert listed in {p.discovery.url for p in run.pages}
    assert all(p.discovery.title is None and p.discovery.published is None for p in run.pages)
    assert {p.discovery.aggregator for p in run.pages} == {"Web"}


def test_listing_stops_paginating_at_the_limit(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    listing_routes(server)
    channel = {
        "kind": "listing",
        "url": server.url("/en/news/all"),
        "follow": FOLLOW,
        "next": "a[rel=next]",
        "max_pages": 5,
    }
    run = harness.run(channel, limit=2)
    assert run.summary["fetched"] == 2
    assert len(server.requests_to("/en/news/all")) == 1


def test_listing_that_is_not_html(harness: SpiderHarness, server: LocalHTTPServer) -> None:
    server.route("/list", Route(body=b'{"items": []}', content_type="application/json"))
    run = harness.run({"kind": "listing", "url": server.url("/list"), "follow": "."})
    assert run.failed == {"listing: not HTML": 1}


# --- gnews -----------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def article_id(payload: str) -> str:
    data = payload.encode()
    message = b"\x08\x13\x22" + _varint(len(data)) + data
    return base64.urlsafe_b64encode(message).decode().rstrip("=")


def batchexecute_answer(url: str) -> str:
    envelope = ["wrb.fr", "Fbv4je", json.dumps(["garturlres", url, 1]), None, None, None, "generic"]
    return ")]}'\n\n" + json.dumps([envelope, ["di", 12]])


def test_gnews_items_resolve_to_publisher_articles(
    harness: SpiderHarness, server: LocalHTTPServer, other: LocalHTTPServer
) -> None:
    ids = {
        name: article_id("AU_yqL" + name * 40)
        for name in ("online", "known", "nosig", "junk", "limited")
    }
    ids["offline"] = article_id(other.url("/articles/offline"))
    legacy = f"{server.base_url}/news/url?sa=t&fd=R&url={other.url('/articles/legacy')}"
    feed = fixture(
        "gnews",
        "search.xml",
        base=server.base_url,
        legacy_link=escape(legacy),
        **{f"id_{name}": value for name, value in ids.items()},
    )
    page = (FIXTURES / "gnews/article_page.html").read_text()

    def batchexecute(request: RecordedRequest) -> Route:
        inner = json.loads(json.loads(parse_qs(request.body.decode())["f.req"][0])[0][0][1])
        if inner[2] == ids["online"] and inner[3:] == [1700000001, "sig-online"]:
            return Route(
                body=batchexecute_answer(other.url("/articles/online?oc=5")),
                content_type="application/json; charset=utf-8",
            )
        return Route(
            body=')]}\'\n\n[["er",null,null,null,null,400]]', content_type="application/json"
        )

    server.routes(
        {
            "/rss/search": Route(body=feed, content_type="application/xml; charset=utf-8"),
            f"/rss/articles/{ids['online']}": Route(
                body=page.replace("{id}", ids["online"])
                .replace("{ts}", "1700000001")
                .replace("{sig}", "sig-online")
            ),
            f"/rss/articles/{ids['nosig']}": Route(
                body=(FIXTURES / "gnews/article_page_without_signature.html").read_bytes()
            ),
            f"/rss/articles/{ids['junk']}": Route(
                body=page.replace("{id}", ids["junk"]).replace("{ts}", "5").replace("{sig}", "s")
            ),
            f"/rss/articles/{ids['limited']}": Route(status=429, body="slow down"),
            "/_/DotsSplashUi/data/batchexecute": batchexecute,
        }
    )
    for name in ("online", "known", "offline", "legacy"):
        other.route(f"/articles/{name}", Route(body=ARTICLE))
    channel = {
        "kind": "gnews",
        "query": 'site:ministry.example "bridge"',
        "base_url": server.base_url,
    }

    run = harness.run(channel, known_gnews={ids["known"]: other.url("/articles/known")})

    (search,) = server.requests_to("/rss/search")
    assert search.path == (
        "/rss/search?q=site:ministry.example+%22bridge%22&hl=en-US&gl=US&ceid=US:en"
    )
    # The publisher URL is fetched as Google answered it ("oc" is no tracking key of
    # the identity rule: on a publisher's site it could name content).
    assert sorted(run.urls) == sorted(
        other.url(f"/articles/{n}") for n in ("online?oc=5", "known", "offline", "legacy")
    )
    assert run.failed == {"gnews: unresolved link": 2, "gnews: unresolved link (HTTP 429)": 1}
    # One warning for the three, not one per link.
    warnings = [line for line in run.log if line.startswith("WARNING")]
    assert len(warnings) == 1
    assert "gnews: 3 links could not be resolved to a publisher URL (first: " in warnings[0]
    # Known ids are asked for in one batch and cost no request; new ones are remembered.
    assert run.gnews_lookups == [[ids[n] for n in ("online", "known", "nosig", "junk", "limited")]]
    assert server.requests_to(f"/rss/articles/{ids['known']}") == []
    assert run.remembered == {ids["online"]: other.url("/articles/online?oc=5")}
    (post, *_) = server.requests_to("/_/DotsSplashUi/data/batchexecute")
    assert post.method == "POST"
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded;charset=UTF-8"

    by_url = {p.discovery.url: p.discovery for p in run.pages}
    online = by_url[other.url("/articles/online?oc=5")]
    assert online.title == "Harbour bridge opens to traffic - Example Herald"
    assert online.published == datetime(2023, 11, 14, 8, tzinfo=UTC)
    assert (online.publisher_name, online.publisher_url) == (
        "Example Herald",
        "https://herald.example",
    )
    assert (online.channel, online.aggregator) == ("gnews", "GNews")
    legacy_item = by_url[other.url("/articles/legacy")]
    assert (legacy_item.publisher_name, legacy_item.publisher_url) == (
        "Legacy Times",
        other.base_url,
    )
    assert by_url[other.url("/articles/offline")].publisher_name == "Farm Wire"


def test_gnews_search_failure(harness: SpiderHarness, server: LocalHTTPServer) -> None:
    server.route("/rss/search", Route(status=503, body="unavailable"))
    run = harness.run({"kind": "gnews", "query": "x", "base_url": server.base_url})
    assert run.failed == {"gnews: HTTP 503": 1}


def test_gnews_resolution_stops_at_the_limit(
    harness: SpiderHarness, server: LocalHTTPServer, other: LocalHTTPServer
) -> None:
    ids = [article_id("AU_yqL" + str(n) * 40) for n in range(6)]
    items = "".join(
        f"<item><title>Story {n} - Herald</title><link>{server.url('/rss/articles/' + i)}</link>"
        f"<pubDate>Tue, 14 Nov 2023 0{n}:00:00 GMT</pubDate></item>"
        for n, i in enumerate(ids)
    )
    page = (FIXTURES / "gnews/article_page.html").read_text()

    def batchexecute(request: RecordedRequest) -> Route:
        inner = json.loads(json.loads(parse_qs(request.body.decode())["f.req"][0])[0][0][1])
        return Route(body=batchexecute_answer(other.url(f"/story/{ids.index(inner[2])}")))

    server.routes(
        {
            "/rss/search": Route(
                body=f"<rss version='2.0'><channel>{items}</channel></rss>", content_type=RSS
            ),
            "/_/DotsSplashUi/data/batchexecute": batchexecute,
        }
    )
    for n, i in enumerate(ids):
        signed = page.replace("{id}", i).replace("{ts}", str(n + 1)).replace("{sig}", f"s{n}")
        server.route(f"/rss/articles/{i}", Route(body=signed))
        other.route(f"/story/{n}", Route(body=ARTICLE))

    run = harness.run({"kind": "gnews", "query": "q", "base_url": server.base_url}, limit=1)

    assert run.summary["fetched"] == 1 and run.failed == {}
    asked = [r for r in server.requests if r.path.startswith("/rss/articles/")]
    assert len(asked) <= GNewsSpider.resolution_chains < len(ids)


# --- hostile documents -------------------------------------------------------------------


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes (a multiple of 1 MiB) as one gzip stream, built in
    milliseconds: after a full flush deflate starts afresh, so every MiB of zeros
    compresses to the same block of about 1 KB, and the block is simply repeated.
    2 GiB make about 2 MB. The trailer's CRC is left zero (computing it would take
    seconds): whatever reads the bomb must give up long before the trailer."""
    mib = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    final = deflate.flush(zlib.Z_FINISH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (size >> 20) + final + struct.pack("<II", 0, size & 0xFFFFFFFF)


def test_gzip_bomb_builder() -> None:
    bomb = gzip_bomb(8 << 20)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert len(inflater.decompress(bomb[:-8])) == 8 << 20 and len(bomb) < 10_000
    assert 2_000_000 < len(gzip_bomb(2 << 30)) < 2_300_000


def test_entries_past_max_items_per_channel_are_counted_as_skipped(
    harness: SpiderHarness, server: LocalHTTPServer
) -> None:
    articles = [server.url(f"/a{n}") for n in range(5)]
    dated = "".join(
        f"<url><loc>{url}</loc><lastmod>2024-03-0{n + 1}</lastmod></url>"
        for n, url in enumerate(articles)
    )
    server.routes(
        {
            "/feed": Route(body=rss(*articles), content_type=RSS),
            "/sitemap.xml": Route(body=f"<urlset>{dated}</urlset>", content_type=XML),
            "/list": Route(body="".join(f'<a href="{url}">x</a>' for url in articles)),
            **{f"/a{n}": Route(body=ARTICLE) for n in range(5)},
        }
    )
    settings = {"max_items_per_channel": 2}

    feed = harness.run({"kind": "feed", "url": server.url("/feed")}, settings=settings)
    assert feed.skipped == {"feed: over max_items_per_channel": 3} and feed.failed == {}
    assert sorted(feed.urls) == articles[:2]  # the first two, in document order

    sitemap = harness.run({"kind": "sitemap", "url": server.url("/sitemap.xml")}, settings=settings)
    assert sitemap.skipped == {"sitemap: over max_items_per_channel": 3}
    assert sorted(sitemap.urls) == articles[3:]  # the newest two

    listing = harness.run(
        {"kind": "listing", "url": server.url("/list"), "follow": "/a"}, settings=settings
    )
    assert listing.skipped == {"listing: over max_items_per_channel": 3}
    assert sorted(listing.urls) == articles[:2]


def test_feed_whose_body_is_a_local_path(
    harness: SpiderHarness, server: LocalHTTPServer, tmp_path: Path
) -> None:
    local_feed = tmp_path / "feed.xml"
    local_feed.write_text(rss(server.url("/from-the-local-file")))
    server.route("/feed", Route(body=str(local_feed), content_type=RSS))
    run = harness.run({"kind": "feed", "url": server.url("/feed")})
    assert run.failed == {"feed: not a feed": 1} and run.claimed == []
    assert server.requests_to("/from-the-local-file") == []


def test_hostile_xml_documents(harness: SpiderHarness, server: LocalHTTPServer) -> None:
    base = server.base_url
    server.routes(
        {
            "/laughs.xml": Route(body=fixture("feeds", "billion_laughs.xml", base=base)),
            "/news/laughs-1": Route(body=ARTICLE),
            "/news/plain-2": Route(body=ARTICLE),
            "/bomb.xml.gz": Route(body=gzip_bomb(2 << 30), content_type="application/gzip"),
        }
    )
    laughs = harness.run({"kind": "feed", "url": server.url("/laughs.xml")})
    assert laughs.failed == {} and laughs.summary["fetched"] == 2
    assert [d.title for d in laughs.claimed] == ["&lol9;", "A plain item"]

    bomb = harness.run({"kind": "sitemap", "url": server.url("/bomb.xml.gz")})
    assert bomb.failed == {"sitemap: too large after decompression": 1}


def test_gzip_encoded_bomb_is_refused_quickly_with_little_memory() -> None:
    # Content-Encoding is Scrapy's to decode (HttpCompressionMiddleware), bounded by
    # DOWNLOAD_MAXSIZE. A fresh spider process, so its peak memory is its own.
    bomb = gzip_bomb(2 << 30)
    with LocalHTTPServer() as server:
        server.route(
            "/feed", Route(body=bomb, content_type=RSS, headers={"Content-Encoding": "gzip"})
        )
        started = time.monotonic()
        run = run_spider({"kind": "feed", "url": server.url("/feed")})
        elapsed = time.monotonic() - started
    assert run.failed == {"feed: response too large": 1} and run.claimed == []
    assert elapsed < 30
    # The spider's own process: other children of the test run do not count.
    assert 0 < run.peak_rss_kib < 600 * 1024
