"""A source's ``crawl.concurrency`` is the most requests in flight to one host, whatever
its ``crawl.delay`` (0 included): measured by a slow local server that counts the
requests it is serving at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

ARTICLES = 10
SERVE_SECONDS = 0.15  # long enough for a second request to overlap if one is sent
PUBLISHED = "Thu, 02 May 2024 09:30:00 GMT"


class InFlight:
    """Wraps routes: counts the requests being served at once, and the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def slow(self, route: Route) -> Callable[[RecordedRequest], Route]:
        def handler(request: RecordedRequest) -> Route:
            with self._lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                time.sleep(SERVE_SECONDS)
                return route
            finally:
                with self._lock:
                    self.now -= 1

        return handler


def serve_slow_articles(server: LocalHTTPServer, counter: InFlight) -> list[str]:
    """Ten slow article pages (and a slow feed route is up to the caller); their URLs."""
    urls = []
    for n in range(ARTICLES):
        path = f"/news/story-{n}"
        page = Route(body=article_page(f"Story number {n}", article_paragraphs(n)))
        server.route(path, counter.slow(page))
        urls.append(server.url(path))
    return urls


def serve_feed(server: LocalHTTPServer, counter: InFlight, links: list[str]) -> None:
    items: list[tuple[str, str, str | None]] = [
        (f"Story number {n}", link, PUBLISHED) for n, link in enumerate(links)
    ]
    feed = Route(body=rss_feed(items), content_type="application/rss+xml")
    server.route("/feed.xml", counter.slow(feed))


def crawl_with(project: Project, server: LocalHTTPServer, delay: float, concurrency: int) -> str:
    project.write_source(
        {
            "id": "city",
            "name": "City News",
            "homepage": server.base_url,
            "schedule": {"every": "1h"},
            "crawl": {"delay": delay, "concurrency": concurrency, "robots": False},
            "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
        }
    )
    result = run_scraper("crawl", "city", "--config", project.config, cwd=project.root)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(("delay", "concurrency"), [(0, 1), (0, 2), (0.01, 1)])
def test_concurrency_is_the_most_requests_in_flight_to_one_host(
    server: LocalHTTPServer, project: Project, delay: float, concurrency: int
) -> None:
    counter = InFlight()
    serve_feed(server, counter, serve_slow_articles(server, counter))

    out = crawl_with(project, server, delay, concurrency)

    assert len(project.files()) == ARTICLES, out
    assert all(len(server.requests_to(f"/news/story-{n}")) == 1 for n in range(ARTICLES))
    assert counter.now == 0
    # Ten slow pages and room for `concurrency`: the limit is reached, never passed.
    assert counter.peak == concurrency, f"{counter.peak} requests in flight at once"


def test_a_redirect_to_another_host_counts_against_that_hosts_limit(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    # Half the feed's links go through "localhost", which redirects to the article on
    # "127.0.0.1"; the other half name 127.0.0.1 directly. 127.0.0.1 serves one at a time.
    project = Project(tmp_path, allowed=[server.authority, f"localhost:{server.port}"])
    project.write_settings()
    counter = InFlight()
    urls = serve_slow_articles(server, counter)
    links = []
    for n, url in enumerate(urls):
        if n % 2:
            server.route(f"/go/{n}", Route.redirect(url, status=301))
            links.append(f"http://localhost:{server.port}/go/{n}")
        else:
            links.append(url)
    serve_feed(server, counter, links)

    out = crawl_with(project, server, 0, 1)

    assert len(project.files()) == ARTICLES, out
    assert len([r for r in server.requests if r.path.startswith("/go/")]) == ARTICLES // 2
    assert counter.peak == 1, f"{counter.peak} requests in flight to 127.0.0.1 at once"
