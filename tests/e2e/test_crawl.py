"""``scraper crawl`` as an operator runs it: a subprocess against a local web server."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from itertools import pairwise
from pathlib import Path

import pytest

from scraper.document import parse
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

RECORD_NAME = re.compile(r"^\d{3,}_[0-9a-f]{16}\.txt$")


def feed_source(server: LocalHTTPServer, **extra: object) -> dict[str, object]:
    return {
        "id": "city",
        "name": "City News",
        "homepage": server.base_url,
        "schedule": {"every": "1h"},
        "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
        **extra,
    }


def crawl(project: Project, *args: str) -> tuple[int, str, str]:
    result = run_scraper("crawl", *args, "--config", project.config, cwd=project.root)
    return result.returncode, result.stdout, result.stderr


def serve_feed_of(server: LocalHTTPServer, links: list[str]) -> None:
    """An RSS feed at /feed.xml listing ``links``, untitled and undated."""
    server.route(
        "/feed.xml",
        Route(
            body=rss_feed([(f"T{i}", url, None) for i, url in enumerate(links)]),
            content_type="application/rss+xml",
        ),
    )


def serve_articles(server: LocalHTTPServer, count: int) -> list[str]:
    paths = []
    for n in range(count):
        path = f"/news/story-{n}"
        server.route(path, Route(body=article_page(f"Story number {n}", article_paragraphs(n))))
        paths.append(path)
    return paths


def test_feed_crawl_skips_bad_pages_with_reasons_and_keeps_the_rest(
    server: LocalHTTPServer, project: Project
) -> None:
    project.write_settings(download_timeout=2, max_download_size=200_000, retries=1)
    good = serve_articles(server, 3)
    cp1251_text = article_page("Новини міста", ["Міська рада затвердила бюджет на транспорт. " * 5])
    server.routes(
        {
            "/news/missing": Route(status=404, body="gone"),
            "/news/broken": Route(status=500, body="oops"),
            "/news/reset": Route(reset=True),
            "/news/slow": Route(body=article_page("Slow", article_paragraphs(9)), delay=4),
            "/news/huge": Route(body=b"<html>" + b"x" * 400_000, content_length=False),
            "/news/photo": Route(body=b"\x89PNG\r\n\x1a\n" + bytes(500), content_type="image/png"),
            "/news/menu": Route(body="<html><body><nav><a href='/'>Home</a></nav></body></html>"),
            "/news/undated": Route(body=article_page("Undated", article_paragraphs(7), None)),
            # Declared UTF-8, really windows-1251: the text must still come out right.
            "/news/cp1251": Route(
                body=cp1251_text.replace('charset="utf-8"', "").encode("cp1251"),
                content_type="text/html; charset=utf-8",
            ),
        }
    )
    bad = ["missing", "broken", "reset", "slow", "huge", "photo", "menu", "undated"]
    links = [server.url(p) for p in good] + [server.url(f"/news/{b}") for b in bad]
    links.append(server.url("/news/cp1251"))
    serve_feed_of(server, links)
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    # Pages that failed (not merely skipped for what they are) make the exit non-zero.
    assert code == 5, err
    assert err.strip().splitlines()[-1] == "error: not everything was crawled: city: 5 failed"
    documents = project.documents()
    assert len(documents) == 4, out
    assert all(RECORD_NAME.match(p.name) for p in project.files())
    assert {d.aggregator for d in documents} == {"RSS"}
    assert any("Міська рада затвердила бюджет" in d.content for d in documents)
    assert "discovered 12" in out and "new 4" in out
    # Every discovered article is accounted for exactly once: known, stored, skipped or
    # failed, whatever happened to it.
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", out.splitlines()[0])}
    assert counts["discovered"] == sum(
        counts[k] for k in ("known", "new", "updated", "unchanged", "skipped", "failed")
    ), out
    for reason in (
        "HTTP 404",
        "HTTP 500",
        "timeout",
        "too large",
        "not HTML",
        "no article text",
        "no publication date",
    ):
        assert reason in out, f"{reason!r} missing from the summary:\n{out}"
    assert re.search(r"connection (reset|lost|closed)", out), out


def test_an_article_with_a_long_url_is_fetched_and_a_refusal_of_one_is_counted(
    server: LocalHTTPServer, project: Project
) -> None:
    # Past the 2,083 characters of Scrapy's URLLENGTH_LIMIT, whose middleware dropped
    # such a request without a word: "discovered 3", then fetched and failed only 2.
    long_path = "/news/" + "-".join(["a-story-with-a-very-long-address"] * 80)
    refused_path = "/news/refused-" + "x" * 5_000
    server.routes(
        {
            long_path: Route(body=article_page("A long address", article_paragraphs(1))),
            refused_path: Route(status=414, body="URI too long"),
            "/news/short": Route(body=article_page("A short address", article_paragraphs(2))),
        }
    )
    links = [server.url(path) for path in (long_path, refused_path, "/news/short")]
    serve_feed_of(server, links)
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    assert len(links[0]) > 2_083
    assert code == 5, err
    assert sorted(d.url for d in project.documents()) == sorted([links[0], links[2]])
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", out.splitlines()[0])}
    assert (counts["discovered"], counts["new"], counts["failed"]) == (3, 2, 1), out
    assert "article: HTTP 414 (1)" in out, out


def test_recrawl_changes_nothing_and_refresh_rewrites_a_changed_article_in_place(
    server: LocalHTTPServer, project: Project
) -> None:
    paths = serve_articles(server, 3)
    items = [
        (f"Story number {n}", server.url(p), "Thu, 02 May 2024 09:30:00 GMT")
        for n, p in enumerate(paths)
    ]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(feed_source(server))

    assert crawl(project, "city")[0] == 0
    before = project.snapshot()
    assert len(before) == 3
    fetched = len(server.requests_to(paths[0]))

    code, out, _ = crawl(project, "city")
    assert code == 0 and "known 3" in out and "new 0" in out
    assert project.snapshot() == before
    assert len(server.requests_to(paths[0])) == fetched  # not downloaded again

    changed = [*article_paragraphs(0), "A correction was added to this story later that day."]
    server.route(paths[0], Route(body=article_page("Story number 0", changed)))
    code, out, _ = crawl(project, "city", "--refresh")
    assert code == 0 and "updated 1" in out and "unchanged 2" in out
    after = project.snapshot()
    assert after.keys() == before.keys()  # same file names: rewritten in place
    rewritten = [name for name in after if after[name][0] != before[name][0]]
    assert len(rewritten) == 1
    assert "A correction was added" in (project.output / rewritten[0]).read_text()


def test_listing_with_pagination_and_sitemap(server: LocalHTTPServer, project: Project) -> None:
    paths = serve_articles(server, 5)
    page1 = (
        "<html><body><a href='/news/story-0'>0</a><a href='/news/story-1'>1</a>"
        "<a href='/about'>About</a><a rel='next' href='/list?page=2'>Next</a></body></html>"
    )
    page2 = (
        "<html><body><a href='/news/story-2'>2</a>"
        "<a rel='next' href='/list?page=3'>n</a></body></html>"
    )
    page3 = "<html><body><a href='/news/story-3'>3</a></body></html>"
    server.routes(
        {
            "/list": Route(body=page1),
            "/list?page=2": Route(body=page2),
            "/list?page=3": Route(body=page3),
        }
    )
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{server.url(paths[4])}</loc><lastmod>2024-05-03</lastmod></url>"
        f"<url><loc>{server.url(paths[0])}</loc></url></urlset>"
    )
    server.route("/sitemap.xml", Route(body=sitemap, content_type="application/xml"))
    project.write_source(
        {
            "id": "city",
            "name": "City News",
            "homepage": server.base_url,
            "schedule": {"every": "1h"},
            "discovery": [
                {
                    "kind": "listing",
                    "url": server.url("/list"),
                    "follow": r"/news/story-\d+$",
                    "next": "a[rel=next]",
                    "max_pages": 2,
                },
                {"kind": "sitemap", "url": server.url("/sitemap.xml")},
            ],
        }
    )

    code, _out, err = crawl(project, "city")

    assert code == 0, err
    by_url = {d.url: d for d in project.documents()}
    # max_pages 2: story-3 on the third page is not reached; /about never matches.
    assert set(by_url) == {server.url(p) for p in (paths[0], paths[1], paths[2], paths[4])}
    assert by_url[server.url(paths[0])].aggregator == "Web"  # the listing found it first
    assert by_url[server.url(paths[4])].aggregator == "Sitemap"
    assert not server.requests_to("/list?page=3") and not server.requests_to("/about")


def test_robots_txt_is_obeyed(server: LocalHTTPServer, project: Project) -> None:
    paths = serve_articles(server, 2)
    server.route(
        "/robots.txt",
        Route(body="User-agent: *\nDisallow: /news/story-1\n", content_type="text/plain"),
    )
    items = [(f"S{n}", server.url(p), None) for n, p in enumerate(paths)]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(feed_source(server))

    code, out, _ = crawl(project, "city")

    assert code == 0
    assert len(project.files()) == 1
    assert "robots.txt" in out
    assert not server.requests_to(paths[1])


def test_a_robots_txt_failing_with_a_server_error_disallows_its_site(
    server: LocalHTTPServer, project: Project
) -> None:
    # RFC 9309: a robots.txt unreachable for a server error means complete disallow.
    # Scrapy read the 503's error page as rules, found none, and crawled everything.
    paths = serve_articles(server, 2)
    server.route("/robots.txt", Route(body="<h1>Service Unavailable</h1>", status=503))
    serve_feed_of(server, [server.url(p) for p in paths])
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    assert code == 3, out + err  # no channel got an answer: its request was never sent
    assert "\n  failed: feed: robots.txt unreachable (HTTP 503) (1)\n" in out
    assert project.files() == []
    assert not server.requests_to("/feed.xml") and not server.requests_to(paths[0])
    assert "robots.txt of 127.0.0.1:" in err and "answered HTTP 503" in err


@pytest.mark.parametrize(
    ("robots", "cause"),
    [(Route(reset=True), "connection reset"), (Route(status=429), "HTTP 429")],
    ids=["no-answer", "too-many-requests"],
)
def test_a_robots_txt_that_cannot_be_read_disallows_its_site(
    server: LocalHTTPServer, project: Project, robots: Route, cause: str
) -> None:
    # RFC 9309: unreachable "due to server or network errors" means complete disallow;
    # a 429 says the server cannot answer now, not that there are no rules. Scrapy
    # crawled everything after a robots.txt that brought nothing back.
    paths = serve_articles(server, 2)
    server.route("/robots.txt", robots)
    serve_feed_of(server, [server.url(p) for p in paths])
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    assert code == 3, out + err
    assert f"\n  failed: feed: robots.txt unreachable ({cause}) (1)\n" in out
    assert project.files() == []
    assert not server.requests_to("/feed.xml") and not server.requests_to(paths[0])
    assert len(server.requests_to("/robots.txt")) == 2  # tried again once (retries: 1)
    assert "robots.txt of 127.0.0.1:" in err


def test_robots_txt_is_read_up_to_its_parsing_limit(
    server: LocalHTTPServer, project: Project
) -> None:
    # RFC 9309: a crawler may stop reading robots.txt after 500 KiB; every request is
    # checked against its rules, so a huge one would hold the event loop still.
    paths = serve_articles(server, 2)
    comments = "# comments, repeated past the limit\n"
    body = (
        f"User-agent: *\nDisallow: {paths[0]}\n"
        + comments * (600 * 1024 // len(comments))
        + f"Disallow: {paths[1]}\n"
    )
    server.route("/robots.txt", Route(body=body, content_type="text/plain"))
    serve_feed_of(server, [server.url(p) for p in paths])
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    assert code == 0, out + err
    assert [d.url for d in project.documents()] == [server.url(paths[1])]
    assert not server.requests_to(paths[0])


def test_limit_since_and_dry_run(server: LocalHTTPServer, project: Project) -> None:
    paths = serve_articles(server, 4)
    dates = [
        "Thu, 02 May 2024 09:30:00 GMT",
        "Wed, 01 May 2024 09:30:00 GMT",
        "Mon, 01 Jan 2024 09:30:00 GMT",
        "Tue, 02 Jan 2024 09:30:00 GMT",
    ]
    items = [(f"S{n}", server.url(p), d) for n, (p, d) in enumerate(zip(paths, dates, strict=True))]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(feed_source(server))

    code, out, _ = crawl(project, "city", "--dry-run")
    assert code == 0 and "new 4" in out
    assert project.files() == []

    code, out, _ = crawl(project, "city", "--limit", "1")
    assert code == 0 and "new 1" in out
    assert len(project.files()) == 1

    code, out, _ = crawl(project, "city", "--since", "2024-04-01")
    assert code == 0
    assert "known 1" in out and "new 1" in out and "older than --since (2)" in out
    assert len(project.files()) == 2
    assert all(d.published.month == 5 for d in project.documents())


def test_user_errors_exit_non_zero_with_one_line(server: LocalHTTPServer, project: Project) -> None:
    project.write_source(feed_source(server))

    result = run_scraper("crawl", "nope", "--config", project.config, cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown source 'nope' (known: city)"

    result = run_scraper("crawl", "city", "--all", "--config", project.config, cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: give SOURCE_IDs or --all, not both"

    result = run_scraper(
        "crawl", "city", "--since", "yesterday", "--config", project.config, cwd=project.root
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --since: 'yesterday' is not a date")

    (project.config / "sources" / "city.yaml").write_text("id: city\nname: x\nhomepage: nope\n")
    result = run_scraper("crawl", "city", "--config", project.config, cwd=project.root)
    assert result.returncode == 2
    path = project.config / "sources" / "city.yaml"
    assert result.stderr.strip().splitlines() == [  # every problem, one line each
        f"error: {path}: homepage: not an http(s) URL: 'nope'",
        f"error: {path}: discovery: Field required",
        f"error: nothing to crawl: invalid {path}",
    ]

    # A URL that cannot be parsed ended the command as a crash: "ValueError: Invalid
    # IPv6 URL", exit 1.
    for target, message in (
        ("http://[::1", "error: not a valid URL: 'http://[::1'"),
        ("", "error: give an article URL or an HTML file"),
    ):
        result = run_scraper("extract", target, "--config", project.config, cwd=project.root)
        assert (result.returncode, result.stderr.strip()) == (2, message)


def test_nothing_reachable(project: Project, server: LocalHTTPServer) -> None:
    dead = LocalHTTPServer().start()
    dead_url = dead.url("/feed.xml")
    dead.stop()  # a port where nothing listens any more
    project.allowed.append(dead.authority)  # allowed, so the refusal is the server's
    project.write_settings()
    project.write_source({**feed_source(server), "discovery": [{"kind": "feed", "url": dead_url}]})

    code, out, err = crawl(project, "city")

    assert code == 3
    assert err.strip().splitlines()[-1] == "error: nothing reachable: no discovery channel answered"
    assert "Traceback" not in err  # one line per failure, no library tracebacks
    assert "connection refused" in out


def test_extract_and_sources_commands(
    tmp_path: Path, project: Project, server: LocalHTTPServer
) -> None:
    page = tmp_path / "page.html"
    page.write_text(article_page("Buses for the city", article_paragraphs(1)), encoding="utf-8")
    result = run_scraper(
        "extract",
        page,
        "--url",
        "https://city.example/news/1",
        "--config",
        project.config,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    doc = parse(result.stdout)
    assert doc.title == "Buses for the city"
    assert doc.url == "https://city.example/news/1"
    assert doc.paragraphs == article_paragraphs(1)

    project.write_source(feed_source(server))
    listed = run_scraper("sources", "--config", project.config, cwd=tmp_path)
    assert listed.returncode == 0 and "city" in listed.stdout and "feed" in listed.stdout


def test_feed_conditional_get_skips_an_unchanged_feed_but_retries_failures(
    server: LocalHTTPServer, project: Project
) -> None:
    paths = serve_articles(server, 2)
    items = [(f"S{n}", server.url(p), None) for n, p in enumerate(paths)]
    feed = rss_feed(items)

    def feed_answer(request: RecordedRequest) -> Route:
        if request.headers.get("If-None-Match") == '"v1"':
            return Route(status=304, content_type=None)
        return Route(body=feed, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    server.route("/feed.xml", feed_answer)
    server.route(paths[1], Route(status=503, body="busy"))
    project.write_source(feed_source(server))

    code, out, _ = crawl(project, "city")
    assert code == 5 and "new 1" in out and "HTTP 503" in out
    # An article failed: the validators are not kept, the next run reads the feed again.
    server.route(paths[1], Route(body=article_page("Story number 1", article_paragraphs(1))))
    code, out, _ = crawl(project, "city")
    assert code == 0 and "new 1" in out and "known 1" in out
    assert not any("If-None-Match" in r.headers for r in server.requests_to("/feed.xml"))

    code, out, _ = crawl(project, "city")
    assert code == 0 and "discovered 0" in out
    assert "\n  feed: not modified since the last run (304)\n" in out
    last = server.requests_to("/feed.xml")[-1]
    assert last.headers.get("If-None-Match") == '"v1"'
    assert len(project.files()) == 2


def test_a_304_to_a_feed_asked_without_validators_is_a_failure(
    server: LocalHTTPServer, project: Project
) -> None:
    # It read "not modified since the last run" on a first run, and exited 0.
    server.route("/feed.xml", Route(status=304, content_type=None))
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    assert code == 5, out + err
    assert "\n  failed: feed: HTTP 304 (1)\n" in out
    assert "not modified" not in out


def test_a_redirect_to_no_http_url_is_skipped_like_a_link_to_it(
    server: LocalHTTPServer, project: Project
) -> None:
    # Scrapy's redirect middleware failed on all but ftp: "article: error (ValueError)".
    targets = ["javascript:alert(1)", "mailto:a@b.example", "http://[::1", "http://exa mple/"]
    paths = [f"/r/{n}" for n in range(len(targets))]
    server.routes({p: Route.redirect(t) for p, t in zip(paths, targets, strict=True)})
    serve_feed_of(server, [server.url(p) for p in paths])
    project.write_source(feed_source(server))

    code, out, err = crawl(project, "city")

    assert code == 0, out + err
    assert "\n  skipped: article: redirect to invalid URL (2)\n" in out
    assert "\n  skipped: article: redirect to unsupported scheme (javascript) (1)\n" in out
    assert "\n  skipped: article: redirect to unsupported scheme (mailto) (1)\n" in out
    assert ", skipped 4, failed 0\n" in out


def test_politeness_user_agent_delay_and_backoff_on_429(
    server: LocalHTTPServer, project: Project
) -> None:
    project.write_settings(user_agent="TestBot/1.0 (+https://example.org/bot)", retries=2)
    paths = serve_articles(server, 3)
    asked: list[float] = []

    def busy_then_ok(_request: RecordedRequest) -> Route:
        asked.append(time.monotonic())
        if len(asked) == 1:
            return Route(status=429, body="slow down", headers={"Retry-After": "2"})
        return Route(body=article_page("Story number 0", article_paragraphs(0)))

    server.route(paths[0], busy_then_ok)
    items = [(f"S{n}", server.url(p), None) for n, p in enumerate(paths)]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source({**feed_source(server), "crawl": {"delay": 0.5, "concurrency": 1}})

    code, out, _ = crawl(project, "city")

    assert code == 0 and "new 3" in out, out
    assert len(asked) == 2 and asked[1] - asked[0] >= 1.9  # Retry-After was honoured
    agents = {r.headers.get("User-Agent") for r in server.requests}
    assert agents == {"TestBot/1.0 (+https://example.org/bot)"}
    article_times = sorted(r.received_at for r in server.requests if r.path.startswith("/news/"))
    gaps = [b - a for a, b in pairwise(article_times)]
    assert min(gaps) >= 0.2  # delay 0.5 s per host, with Scrapy's ±50% jitter


def test_a_since_run_keeps_no_feed_validator_that_would_hide_what_it_skipped(
    server: LocalHTTPServer, project: Project
) -> None:
    paths = serve_articles(server, 2)
    dates = ["Thu, 02 May 2024 09:30:00 GMT", "Mon, 01 Jan 2024 09:30:00 GMT"]
    items = [(f"S{n}", server.url(p), d) for n, (p, d) in enumerate(zip(paths, dates, strict=True))]
    feed = rss_feed(items)

    def feed_answer(request: RecordedRequest) -> Route:
        if request.headers.get("If-None-Match") == '"v1"':
            return Route(status=304, content_type=None)
        return Route(body=feed, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    server.route("/feed.xml", feed_answer)
    project.write_source(feed_source(server))

    code, out, _ = crawl(project, "city", "--since", "2024-04-01")
    assert code == 0 and "new 1" in out and "older than --since (1)" in out

    # The full run reads the whole feed again and gets the article the first one skipped.
    code, out, _ = crawl(project, "city")
    assert code == 0 and "new 1" in out and "known 1" in out
    assert "If-None-Match" not in server.requests_to("/feed.xml")[-1].headers
    assert len(project.files()) == 2


def test_every_channel_sighting_of_an_article_is_recorded(
    server: LocalHTTPServer, project: Project
) -> None:
    paths = serve_articles(server, 1)
    server.route("/feed.xml", Route(body=rss_feed([("S0", server.url(paths[0]), None)])))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{server.url(paths[0])}</loc><lastmod>2024-05-02</lastmod></url></urlset>"
    )
    server.route("/sitemap.xml", Route(body=sitemap, content_type="application/xml"))
    channels = [
        {"kind": "feed", "url": server.url("/feed.xml")},
        {"kind": "sitemap", "url": server.url("/sitemap.xml")},
    ]
    project.write_source(feed_source(server, discovery=channels))

    code, out, _ = crawl(project, "city")

    assert code == 0 and "new 1" in out
    assert len(server.requests_to(paths[0])) == 1  # fetched once
    with sqlite3.connect(project.root / "data" / "scraper.db") as db:
        rows = db.execute("SELECT channel FROM discoveries ORDER BY channel").fetchall()
    assert rows == [("feed",), ("sitemap",)]


def test_version_and_short_help(project: Project) -> None:
    from scraper import __version__

    version = run_scraper("--version", cwd=project.root)
    assert version.returncode == 0
    assert version.stdout == f"scraper {__version__}\n"

    helped = run_scraper("crawl", "-h", cwd=project.root)
    assert helped.returncode == 0
    # A flag shows no value type; an option shows what it takes.
    assert re.search(r"\n  --dry-run +Write nothing\.\n", helped.stdout)
    assert "<bool>" not in helped.stdout
    assert "--limit N" in helped.stdout


def test_extract_fetches_through_host_map_and_the_address_guard(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    server.route("/news/1", Route(body=article_page("Buses for the city", article_paragraphs(1))))
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings(host_map={"https://city.example": server.base_url})

    result = run_scraper(
        "extract",
        "https://city.example/news/1",
        "--format",
        "json",
        "--config",
        project.config,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    fields = json.loads(result.stdout)
    assert fields["url"] == "https://city.example/news/1"  # named by its public URL
    assert fields["title"] == "Buses for the city"
    assert fields["content"] == "\n\n".join(article_paragraphs(1))
    assert len(server.requests_to("/news/1")) == 1

    # The same server, not allowed: refused before any connection.
    project = Project(tmp_path, allowed=[])
    project.write_settings()
    refused = run_scraper(
        "extract", server.url("/news/1"), "--config", project.config, cwd=tmp_path
    )
    assert refused.returncode == 1
    assert refused.stderr == f"error: private address: {server.url('/news/1')}\n"
    assert len(server.requests_to("/news/1")) == 1


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(raw=b"GARBAGE NOT HTTP\r\n\r\n"), "not an HTTP answer (BadStatusLine)"),
        # Content-Length promises the whole page; the connection closes after 200 bytes.
        (
            Route(
                body=article_page("Buses", article_paragraphs(1))[:200],
                content_length=False,
                headers={"Content-Length": "5000"},
            ),
            "connection closed before the end of the answer",
        ),
    ],
    ids=["not-http", "cut-short"],
)
def test_extract_of_a_broken_answer_fails_with_one_line(
    tmp_path: Path, server: LocalHTTPServer, route: Route, reason: str
) -> None:
    # urllib raised BadStatusLine through the command (a traceback) and returned a body
    # cut short as if it were the whole page.
    server.route("/news/1", route)
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()

    result = run_scraper("extract", server.url("/news/1"), "--config", project.config, cwd=tmp_path)

    assert result.returncode == 1, result.stdout
    assert result.stderr == f"error: {server.url('/news/1')}: {reason}\n"
    assert result.stdout == ""


def test_extract_reads_a_url_by_its_scheme_in_any_case_and_refuses_other_schemes(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    server.route("/news/1", Route(body=article_page("Buses for the city", article_paragraphs(1))))
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    upper = server.url("/news/1").replace("http://", "HTTP://")

    fetched = run_scraper("extract", upper, "--config", project.config, cwd=tmp_path)
    other = run_scraper("extract", "ftp://x.example/a", "--config", project.config, cwd=tmp_path)

    # Read as a file's path before: "HTTP://...: No such file or directory".
    assert fetched.returncode == 0, fetched.stderr
    assert "Buses for the city" in fetched.stdout
    assert len(server.requests_to("/news/1")) == 1
    assert other.returncode == 2
    assert other.stderr == "error: ftp://x.example/a: only http and https URLs are fetched\n"


def test_extract_of_a_saved_page_is_named_by_its_canonical_url(
    tmp_path: Path, project: Project
) -> None:
    page = article_page("Buses for the city", article_paragraphs(1)).replace(
        "</head>", '<link rel="canonical" href="https://City.example/news/1?id=7#top"></head>'
    )
    saved = tmp_path / "page.html"
    saved.write_text(page, encoding="utf-8")

    named = run_scraper("extract", saved, "--format", "json", cwd=tmp_path)
    given = run_scraper(
        "extract", saved, "--url", "https://city.example/other", "--format", "json", cwd=tmp_path
    )

    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["url"] == "https://city.example/news/1?id=7"
    assert json.loads(given.stdout)["url"] == "https://city.example/other"  # --url wins
