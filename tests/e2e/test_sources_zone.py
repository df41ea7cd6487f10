"""`scraper sources` shows its times in the output time zone, as the records do
(issue 11), not in the machine's zone or UTC."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_crawl import feed_source
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Tokyo", "+09:00"), ("UTC", "+00:00")])
def test_sources_shows_run_times_in_the_output_zone(
    server: LocalHTTPServer, project: Project, zone: str, offset: str
) -> None:
    server.route("/news/1", Route(body=article_page("Story 1", article_paragraphs(1))))
    feed = rss_feed([("Story 1", server.url("/news/1"), "Thu, 02 May 2024 09:30:00 GMT")])
    server.route("/feed.xml", Route(body=feed, content_type="application/rss+xml"))
    project.write_settings(timezone=zone)
    project.write_source(feed_source(server))
    crawled = run_scraper("crawl", "city", "--config", project.config, cwd=project.root)
    assert crawled.returncode == 0, crawled.stderr

    # The machine's zone is another one: the output zone wins.
    listed = run_scraper(
        "sources", "--config", project.config, cwd=project.root, env={"TZ": "America/Denver"}
    )

    assert listed.returncode == 0, listed.stderr
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("city: last run")]
    times = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d([+-]\d\d:\d\d)", line)
    assert times == [offset, offset], line  # last run, last success
    record = project.files()[0].read_text(encoding="utf-8")
    assert ">Data: 2024-05-02 " in record and record.split(">Data: ")[1][19:25] == offset
