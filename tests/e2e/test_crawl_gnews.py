"""The headline acceptance test: the example record's own article, found through a Google
News search feed (served locally), comes out as that record byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scraper.document import parse
from tests.e2e.gnews_service import GNewsItem, rfc822, serve_gnews
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.record_page import build_article_html

pytestmark = pytest.mark.e2e

PUBLISHER = "https://www.president.gov.ua"


def gnews_source(server: LocalHTTPServer, name: str) -> dict[str, object]:
    return {
        "id": "president-gov-ua",
        "name": name,
        "homepage": PUBLISHER,
        "language": "en",
        "schedule": {"every": "30m"},
        "discovery": [
            {"kind": "gnews", "query": "site:president.gov.ua", "base_url": server.base_url}
        ],
    }


def test_gnews_item_becomes_the_example_record_byte_for_byte(
    tmp_path: Path, server: LocalHTTPServer, record_text: str
) -> None:
    record = parse(record_text)
    headline = record.title.removesuffix(" - " + record.source_name)
    page = build_article_html(record, headline=headline, date_line="6 December 2023 - 13:00")
    article_path = record.url.removeprefix(PUBLISHER)
    server.route(article_path, Route(body=page))
    serve_gnews(
        server,
        [
            GNewsItem(
                title=record.title,
                publisher_url=record.url,
                published=rfc822(datetime(2023, 12, 6, 8, 0, tzinfo=UTC)),
                source_name=record.source_name,
                source_url=PUBLISHER,
                token="record1",
            )
        ],
    )
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    project.write_source(gnews_source(server, record.source_name))
    env = {"SCRAPER_HOST_MAP": json.dumps({PUBLISHER: server.base_url})}

    first = run_scraper(
        "crawl", "president-gov-ua", "--config", project.config, cwd=tmp_path, env=env
    )
    assert first.returncode == 0, first.stderr
    files = project.files()
    assert len(files) == 1, first.stdout + first.stderr
    assert files[0].parent.name == "2023-12-06"
    assert files[0].name == f"000_{record.id}.txt"
    assert files[0].read_bytes() == record_text.encode("utf-8")
    assert "new 1" in first.stdout

    # Again: nothing changes, nothing is fetched, no id is resolved a second time.
    before = project.snapshot()
    resolves = len(server.requests_to("/_/DotsSplashUi/data/batchexecute"))
    second = run_scraper(
        "crawl", "president-gov-ua", "--config", project.config, cwd=tmp_path, env=env
    )
    assert second.returncode == 0, second.stderr
    assert project.snapshot() == before
    assert "known 1" in second.stdout and "fetched 0" in second.stdout
    assert len(server.requests_to("/_/DotsSplashUi/data/batchexecute")) == resolves
    assert len(server.requests_to(article_path)) == 1
