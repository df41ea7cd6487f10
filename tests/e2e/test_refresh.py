"""Changes seen, by ``scraper crawl`` (a new process every run): a recent article is fetched
again once its last fetch is ``refresh.every`` old, with a conditional GET when its page
gave validators; an older one is left alone. (The daemon: tests/e2e/test_daemon.py.)"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from scraper.urls import article_id
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

ETAG = '"v1"'
LAST_MODIFIED = "Fri, 10 May 2024 10:00:00 GMT"
EVERY = 3  # refresh.every of the second test, in seconds


def source(server: LocalHTTPServer, every: str) -> dict[str, object]:
    return {
        "id": "city",
        "name": "City News",
        "homepage": server.base_url,
        "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
        "refresh": {"window": "2d", "every": every},
    }


def crawl(project: Project) -> tuple[int, str, str]:
    result = run_scraper("crawl", "city", "--config", project.config, cwd=project.root)
    return result.returncode, result.stdout, result.stderr


def serve_feed(server: LocalHTTPServer, items: list[tuple[str, str, datetime]]) -> None:
    entries = [(title, server.url(path), format_datetime(when)) for title, path, when in items]
    server.route("/feed.xml", Route(body=rss_feed(entries), content_type="application/rss+xml"))


def headers_of(request: RecordedRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def test_a_page_with_validators_is_asked_conditionally_and_a_304_is_unchanged(
    server: LocalHTTPServer, project: Project
) -> None:
    now = datetime.now(UTC)
    page = article_page("Cached story", article_paragraphs(3), published=None)

    def cached(request: RecordedRequest) -> Route:
        validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
        if headers_of(request).get("if-none-match") == ETAG:
            return Route(status=304, body=b"", content_type=None, headers=validators)
        return Route(body=page, headers=validators)

    server.route("/news/cached", cached)
    serve_feed(server, [("Cached story", "/news/cached", now - timedelta(hours=1))])
    project.write_source(source(server, every="1s"))

    code, out, err = crawl(project)
    assert code == 0 and "new 1" in out, out + err
    before = project.snapshot()
    time.sleep(1.2)  # the last fetch is older than refresh.every

    code, out, err = crawl(project)  # a new process: the validators were kept on disk
    assert code == 0, out + err
    assert "unchanged 1" in out and "failed 0" in out, out
    second = headers_of(server.requests_to("/news/cached")[-1])
    assert second.get("if-none-match") == ETAG
    assert second.get("if-modified-since") == LAST_MODIFIED
    assert project.snapshot() == before  # not even the file's time changed


def test_a_recent_article_is_fetched_again_and_an_old_one_is_not(
    server: LocalHTTPServer, project: Project
) -> None:
    now = datetime.now(UTC)
    recent, old = "/news/recent", "/news/old"
    server.routes(
        {
            recent: Route(body=article_page("Recent", article_paragraphs(1), published=None)),
            old: Route(body=article_page("Old", article_paragraphs(2), published=None)),
        }
    )
    serve_feed(
        server,
        [("Recent", recent, now - timedelta(hours=1)), ("Old", old, now - timedelta(days=10))],
    )
    project.write_source(source(server, every=f"{EVERY}s"))
    code, out, err = crawl(project)
    assert code == 0 and "new 2" in out, out + err
    before = project.snapshot()

    correction = "A correction was added to this story after it was first published."
    for path, seed in ((recent, 1), (old, 2)):
        changed = [*article_paragraphs(seed), correction]
        server.route(path, Route(body=article_page("Changed", changed, published=None)))
    time.sleep(EVERY + 0.2)
    code, out, err = crawl(project)
    assert code == 0, out + err
    assert "updated 1" in out and "known 1" in out, out
    after = project.snapshot()
    assert after.keys() == before.keys()  # the same file, rewritten in place
    rewritten = [name for name in after if after[name][0] != before[name][0]]
    assert len(rewritten) == 1 and article_id(server.url(recent)) in rewritten[0]
    assert correction in (project.output / rewritten[0]).read_text(encoding="utf-8")
    assert len(server.requests_to(old)) == 1  # outside the window: never again
    with sqlite3.connect(project.root / "data" / "scraper.db") as db:
        versions = db.execute(
            "SELECT content FROM article_versions WHERE article_id = ?",
            (article_id(server.url(recent)),),
        ).fetchall()
    assert len(versions) == 1 and correction not in versions[0][0]

    # A fetch that finds the same text leaves the file's time alone; the next process
    # still knows when that fetch was: by the file's time alone it would be due again.
    time.sleep(EVERY + 0.2)
    code, out, err = crawl(project)
    assert code == 0 and "unchanged 1" in out and "known 1" in out, out + err
    fetches = len(server.requests_to(recent))
    project.write_source(source(server, every="1h"))
    two_hours_ago = time.time() - 7200
    os.utime(project.output / rewritten[0], (two_hours_ago, two_hours_ago))
    code, out, err = crawl(project)
    assert code == 0 and "known 2" in out, out + err
    assert len(server.requests_to(recent)) == fetches
