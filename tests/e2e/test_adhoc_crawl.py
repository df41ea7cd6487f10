"""``scraper crawl --feed/--sitemap/--urls``: a crawl without writing a source file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e


def serve_stories(server: LocalHTTPServer, count: int) -> list[str]:
    paths = []
    for n in range(count):
        path = f"/news/story-{n}"
        server.route(path, Route(body=article_page(f"Story number {n}", article_paragraphs(n))))
        paths.append(path)
    return paths


def crawl(project: Project, *args: str | Path) -> tuple[int, str, str]:
    result = run_scraper("crawl", *args, "--config", project.config, cwd=project.root)
    return result.returncode, result.stdout, result.stderr


def test_an_adhoc_feed_crawl_stores_like_a_configured_source(
    server: LocalHTTPServer, project: Project
) -> None:
    paths = serve_stories(server, 2)
    items = [(f"S{n}", server.url(p), "Thu, 02 May 2024 09:30:00 GMT") for n, p in enumerate(paths)]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))

    code, out, err = crawl(project, "--feed", server.url("/feed.xml"), "--name", "City News")

    assert code == 0, err
    assert out.splitlines()[0].startswith("127-0-0-1: discovered 2,")
    documents = sorted(project.documents(), key=lambda d: d.title)
    assert [d.title for d in documents] == ["S0", "S1"]
    assert {(d.source_name, d.source_url, d.aggregator) for d in documents} == {
        ("City News", server.base_url, "RSS")
    }


def test_adhoc_sitemap_and_url_list(server: LocalHTTPServer, project: Project) -> None:
    paths = serve_stories(server, 3)
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{server.url(paths[0])}</loc><lastmod>2024-05-02</lastmod></url></urlset>"
    )
    server.route("/sitemap.xml", Route(body=sitemap, content_type="application/xml"))
    url_list = project.root / "urls.txt"
    url_list.write_text(
        f"# two articles\n{server.url(paths[1])}\n\n{server.url(paths[2])}\n", encoding="utf-8"
    )
    project.write_settings()  # settings only: no sources folder at all

    code, out, err = crawl(
        project,
        "--sitemap",
        server.url("/sitemap.xml"),
        "--urls",
        url_list,
        "--homepage",
        "https://city.example",
        "--language",
        "en",
    )

    assert code == 0, err
    assert out.splitlines()[0].startswith("city-example: discovered 3,")
    documents = project.documents()
    assert sorted(d.title for d in documents) == [f"Story number {n}" for n in range(3)]
    by_title = {d.title: d for d in documents}
    assert by_title["Story number 0"].aggregator == "Sitemap"
    assert by_title["Story number 1"].aggregator == "Web"
    assert {d.source_url for d in documents} == {"https://city.example"}
    assert {d.language for d in documents} == {"en"}


def test_adhoc_flags_are_checked_with_one_line_each(
    server: LocalHTTPServer, project: Project
) -> None:
    code, _, err = crawl(project, "--feed", "ftp://city.example/rss")
    assert code == 2
    assert err == "error: --feed: not an http(s) URL: 'ftp://city.example/rss'\n"

    code, _, err = crawl(project, "city", "--feed", server.url("/feed.xml"))
    assert code == 2
    assert err == "error: give SOURCE_IDs, --all or ad-hoc channels, not several\n"

    code, _, err = crawl(project, "--urls", project.root / "missing.txt")
    assert code == 2
    assert err.startswith("error: --urls: cannot read ")
