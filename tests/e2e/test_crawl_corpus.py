"""A feed listing every real article page of the shared corpus (dozens of sites, about 25
languages), served locally: each page yields one well-formed document, or a skip with its
reason; none is lost silently. Skips when the corpus is absent."""

from __future__ import annotations

import re

import pytest

from tests.support.cli import Project, run_scraper
from tests.support.corpus import CORPUS_DIR
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import rss_feed

pytestmark = [pytest.mark.e2e, pytest.mark.corpus]


def test_every_corpus_article_yields_a_document(server: LocalHTTPServer, project: Project) -> None:
    pages = sorted((CORPUS_DIR / "html" / "articles").glob("*.html"))
    if not pages:
        pytest.skip(f"{CORPUS_DIR} is absent")
    items = []
    for number, page in enumerate(pages):
        path = f"/articles/{number}"
        # No Content-Type charset: the page's own declaration (or detection) decides.
        server.route(path, Route(body=page.read_bytes(), content_type="text/html"))
        items.append((f"Article {number}", server.url(path), None))
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_settings(download_timeout=20)
    project.write_source(
        {
            "id": "corpus",
            "name": "Corpus",
            "homepage": server.base_url,
            "schedule": {"every": "1h"},
            # Some pages carry no date at all; the crawl time stands in for them here.
            "allow_crawl_time": True,
            "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
        }
    )

    result = run_scraper(
        "crawl", "corpus", "--config", project.config, cwd=project.root, timeout=600
    )

    assert result.returncode == 0, result.stderr
    documents = project.documents()  # every file parses back into a Document
    summary = re.search(r"new (\d+).*skipped (\d+), failed (\d+)", result.stdout)
    assert summary, result.stdout
    new, skipped, failed = map(int, summary.groups())
    assert failed == 0, result.stdout
    assert new == len(documents) and new + skipped == len(pages), result.stdout
    # Only pages that are not news articles may be skipped (an agenda, a volunteer page).
    assert len(documents) >= len(pages) - 3, result.stdout
    assert all(len(d.content) > 200 for d in documents)
    assert len({d.language for d in documents}) >= 20
