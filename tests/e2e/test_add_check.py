"""``scraper add HOMEPAGE_URL`` writes a source from what the site offers, and
``scraper check SOURCE_ID`` shows what each channel finds without storing anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.gnews_service import GNewsItem, serve_gnews
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

SITE = "https://www.city.example"
PUBLISHED = "Thu, 02 May 2024 09:30:00 GMT"


def home_page(feeds: str = "") -> str:
    return f"""<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">
<title>Home | City News</title>{feeds}</head>
<body><h1>City News</h1><a href="/news/story-0">Story 0</a></body></html>"""


ADVERTISED = (
    '<link rel="alternate" type="application/rss+xml" title="City News" href="/feed.xml">'
    '<link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed">'
)


def serve_stories(server: LocalHTTPServer, numbers: range) -> None:
    for n in numbers:
        page = article_page(f"Story number {n}", article_paragraphs(n))
        server.route(f"/news/story-{n}", Route(body=page))


def news_sitemap(urls: list[str]) -> str:
    entries = "".join(
        f"<url><loc>{url}</loc><news:news><news:title>Sitemap story {n}</news:title>"
        "<news:publication_date>2024-05-02T09:30:00+00:00</news:publication_date>"
        "</news:news></url>"
        for n, url in enumerate(urls)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{entries}</urlset>"
    )


def plain_sitemap(urls: list[str]) -> str:
    entries = "".join(f"<url><loc>{url}</loc><lastmod>2024-05-01</lastmod></url>" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    )


def serve_city_site(server: LocalHTTPServer) -> None:
    """The site behind https://www.city.example (host_map): a home page advertising a
    feed (and a comments feed), robots.txt listing a general and a news sitemap, and a
    Google News search on the same server."""
    serve_stories(server, range(3))
    server.route("/", Route(body=home_page(ADVERTISED)))
    feed = rss_feed([(f"Feed story {n}", f"{SITE}/news/story-{n}", PUBLISHED) for n in (0, 1)])
    server.route("/feed.xml", Route(body=feed, content_type="application/rss+xml"))
    server.route(
        "/robots.txt",
        Route(
            body=f"User-agent: *\nDisallow: /private/\n"
            f"Sitemap: {SITE}/sitemap.xml\nSitemap: {SITE}/news-sitemap.xml\n",
            content_type="text/plain",
        ),
    )
    everything = [f"{SITE}/news/story-{n}" for n in range(3)] + [f"{SITE}/about"]
    server.route("/sitemap.xml", Route(body=plain_sitemap(everything), content_type="text/xml"))
    server.route(
        "/news-sitemap.xml",
        Route(body=news_sitemap([f"{SITE}/news/story-2"]), content_type="application/xml"),
    )
    serve_gnews(
        server,
        [
            GNewsItem(
                title="Feed story 1 - City News",
                publisher_url=f"{SITE}/news/story-1",
                published=PUBLISHED,
                source_name="City News",
                source_url=SITE,
                token="city1",
            )
        ],
    )


def city_project(tmp_path: Path, server: LocalHTTPServer) -> Project:
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings(host_map={SITE: server.base_url})
    return project


def scraper(project: Project, *args: str | Path) -> tuple[int, str, str]:
    result = run_scraper(*args, "--config", project.config, cwd=project.root)
    return result.returncode, result.stdout, result.stderr


def line_of(output: str, start: str) -> str:
    found = [line for line in output.splitlines() if line.startswith(start)]
    assert found, f"no line starts with {start!r} in:\n{output}"
    return found[0]


# --- add -----------------------------------------------------------------------------


def test_add_writes_a_source_that_validates_and_crawls(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    serve_city_site(server)
    project = city_project(tmp_path, server)

    code, out, err = scraper(project, "add", SITE, "--gnews-base-url", server.base_url)

    assert code == 0, out + err
    assert line_of(out, "ok      page").endswith("City News, language en, advertises 2 feeds")
    assert line_of(out, "ok      robots").endswith("robots.txt: lists 2 sitemaps")
    assert line_of(out, f"ok      feed     {SITE}/feed.xml: 2 entries")
    assert "a comments feed" in line_of(out, f"unused  feed     {SITE}/comments/feed")
    news = line_of(out, f"ok      sitemap  {SITE}/news-sitemap.xml")
    assert "news sitemap, 1 entry" in news and "(robots.txt)" in news
    assert "not the whole archive" in line_of(out, f"unused  sitemap  {SITE}/sitemap.xml")
    assert line_of(out, "ok      gnews    site:city.example: 1 item")
    path = project.config / "sources" / "city-example.yaml"
    assert line_of(out, "wrote ") == (
        f"wrote {path} (feed, sitemap, gnews); try it with 'scraper check city-example'"
    )

    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert written["id"] == "city-example"
    assert written["name"] == "City News"  # the <title> without its "Home" part
    assert written["homepage"] == SITE
    assert written["language"] == "en"
    assert written["discovery"] == [
        {"kind": "feed", "url": f"{SITE}/feed.xml"},
        {"kind": "sitemap", "url": f"{SITE}/news-sitemap.xml"},
        {
            "kind": "gnews",
            "query": "site:city.example",
            "hl": "en-GB",
            "gl": "GB",
            "ceid": "GB:en",
            "base_url": server.base_url,
        },
    ]

    code, out, err = scraper(project, "sources")
    assert code == 0, err
    first = " ".join(out.splitlines()[0].split())  # rich expands the tabs
    assert first == "city-example City News every 1h feed, sitemap, gnews"

    code, out, err = scraper(project, "crawl", "city-example")
    assert code == 0, out + err
    documents = {d.url: d for d in project.documents()}
    assert sorted(documents) == [f"{SITE}/news/story-{n}" for n in range(3)]
    assert {d.url: d.aggregator for d in documents.values()} == {
        f"{SITE}/news/story-0": "RSS",
        f"{SITE}/news/story-1": "RSS",  # the feed lists it before Google News does
        f"{SITE}/news/story-2": "Sitemap",
    }
    assert {(d.source_name, d.source_url) for d in documents.values()} == {("City News", SITE)}


def test_add_refuses_an_existing_file_unless_forced(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    serve_city_site(server)
    project = city_project(tmp_path, server)
    project.write_source(
        {
            "id": "city-example",
            "name": "Mine",
            "homepage": SITE,
            "discovery": [{"kind": "feed", "url": f"{SITE}/feed.xml"}],
        }
    )
    path = project.config / "sources" / "city-example.yaml"
    before = path.read_bytes()

    code, out, err = scraper(project, "add", f"{SITE}/", "--no-gnews")

    assert code == 2
    assert out == ""
    assert err == f"error: {path} exists: give another --id, or --force to replace it\n"
    assert path.read_bytes() == before
    assert server.requests == []  # refused before anything was fetched

    code, out, err = scraper(project, "add", SITE, "--no-gnews", "--dry-run")
    assert code == 0, err
    assert path.read_bytes() == before
    assert f"(--dry-run: {path} not written)" in out
    assert "\nid: city-example\nname: City News\n" in out

    code, out, err = scraper(project, "add", SITE, "--no-gnews", "--id", "city-news")
    assert code == 0, err
    assert (project.config / "sources" / "city-news.yaml").exists()

    code, out, err = scraper(project, "add", SITE, "--no-gnews", "--force", "--name", "Town")
    assert code == 0, err
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["name"] == "Town"
    listed = scraper(project, "sources")[1].splitlines()
    assert [line.split()[0] for line in listed[:2]] == ["city-example", "city-news"]


def test_add_tries_common_paths_and_reports_what_failed(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    serve_stories(server, range(1))
    server.route("/", Route(body=home_page()))  # advertises nothing
    feed = rss_feed([("Story", server.url("/news/story-0"), PUBLISHED)])
    server.route("/rss", Route(body="<html><body>not a feed</body></html>"))
    server.route("/rss.xml", Route(body=feed, content_type="application/rss+xml"))

    code, out, err = scraper(project, "add", server.url("/"), "--no-gnews", "--id", "town")

    assert code == 0, out + err
    assert "failed  feed     " + server.url("/feed") + ": HTTP 404 (common path)" in out
    assert "failed  feed     " + server.url("/rss") + ": not a feed (common path)" in out
    assert "ok      feed     " + server.url("/rss.xml") + ": 1 entry" in out
    assert "failed  sitemap  " + server.url("/sitemap.xml") + ": HTTP 404" in out
    written = yaml.safe_load((project.config / "sources" / "town.yaml").read_text("utf-8"))
    assert written["discovery"] == [{"kind": "feed", "url": server.url("/rss.xml")}]
    assert written["homepage"] == server.base_url

    # A site with nothing to offer: nothing written, exit 5; no answer at all: exit 3.
    server.route("/rss.xml", Route(status=404))
    code, out, err = scraper(project, "add", server.url("/"), "--no-gnews", "--id", "none")
    assert code == 5
    assert err.startswith("error: no feed, sitemap or Google News search answered")
    assert not (project.config / "sources" / "none.yaml").exists()

    code, out, err = scraper(project, "add", "http://127.0.0.1:9/", "--no-gnews", "--id", "off")
    assert code == 3
    assert out == "failed  page     http://127.0.0.1:9/: private address\n"
    assert err == "error: http://127.0.0.1:9/: private address; nothing written\n"


def test_add_reports_malformed_links_as_failed_candidates_and_checks_the_rest(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    # Each of these raised ValueError through the command: a ~50-line traceback, exit 1,
    # nothing written.
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    serve_stories(server, range(1))
    links = (
        '<base href="http://[zz">'
        '<link rel="alternate" type="application/rss+xml" href="http://[::1">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
    )
    server.route("/", Route(body=home_page(links)))
    feed = rss_feed([("Story", server.url("/news/story-0"), PUBLISHED)])
    server.route("/feed.xml", Route(body=feed, content_type="application/rss+xml"))
    robots = (
        f"Sitemap: http://[::1\nSitemap: javascript:alert(1)\nSitemap: {server.url('/sm.xml')}\n"
    )
    server.route("/robots.txt", Route(body=robots, content_type="text/plain"))
    index = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>http://[news/x.xml</loc></sitemap></sitemapindex>"
    )
    server.route("/sm.xml", Route(body=index, content_type="application/xml"))

    code, out, err = scraper(project, "add", server.url("/"), "--no-gnews", "--id", "town")

    assert code == 0, out + err
    assert "ok      feed     " + server.url("/feed.xml") + ": 1 entry" in out
    assert "\nfailed  sitemap  http://[::1: invalid URL (robots.txt)\n" in out
    assert (
        "\nfailed  sitemap  javascript:alert(1): unsupported scheme (javascript) (robots.txt)\n"
        in out
    )
    # An index whose only child is malformed: listed, its child not looked into.
    assert "\nok      sitemap  " + server.url("/sm.xml") + ": index of 1 sitemap (robots" in out
    written = yaml.safe_load((project.config / "sources" / "town.yaml").read_text("utf-8"))
    assert {"kind": "feed", "url": server.url("/feed.xml")} in written["discovery"]


def test_add_checks_its_flags_before_fetching(tmp_path: Path, server: LocalHTTPServer) -> None:
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    flags = ["--id", "Bad Id", "--language", "english"]
    code, _, err = scraper(project, "add", server.url("/"), *flags)
    assert code == 2
    assert err.splitlines() == [
        "error: --id: 'Bad Id' is not a slug (lower-case letters, digits, - and _)",
        "error: --language: 'english' is not a two-letter ISO 639-1 code",
    ]
    assert server.requests == []


# --- check ---------------------------------------------------------------------------


def listing_page(links: list[str], next_href: str | None) -> str:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    pager = f'<a rel="next" href="{next_href}">Next</a>' if next_href else ""
    return (
        "<!DOCTYPE html><html><body><nav><a href='/'>Home</a><a href='/contact'>Contact</a>"
        f"</nav><ul>{anchors}</ul>{pager}</body></html>"
    )


def test_check_shows_each_channel_and_the_first_article_and_stores_nothing(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    serve_city_site(server)
    serve_stories(server, range(3, 5))
    server.route("/news", Route(body=listing_page(["/news/story-3", "/about"], "/news?page=2")))
    server.route("/news?page=2", Route(body=listing_page(["/news/story-4"], None)))
    project = city_project(tmp_path, server)
    project.write_source(
        {
            "id": "city",
            "name": "City News",
            "homepage": SITE,
            "discovery": [
                {"kind": "feed", "url": f"{SITE}/feed.xml"},
                {"kind": "sitemap", "url": f"{SITE}/news-sitemap.xml"},
                {
                    "kind": "listing",
                    "url": f"{SITE}/news",
                    "follow": r"/news/story-\d+$",
                    "next": "a[rel=next]",
                    "max_pages": 3,
                },
                {"kind": "gnews", "query": "site:city.example", "base_url": server.base_url},
            ],
        }
    )
    config_before = {p: p.read_bytes() for p in project.config.rglob("*") if p.is_file()}

    code, out, err = scraper(project, "check", "city", "--limit", "1")

    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == f"city: City News ({SITE})"
    assert f"channel 1: feed {SITE}/feed.xml  [ok]" in lines
    assert f"  feed {SITE}/feed.xml: 2 entries" in lines
    assert f"  2024-05-02 06:30  Feed story 0  {SITE}/news/story-0" in lines
    assert "  ... 1 more" in lines
    assert f"  2024-05-02 06:30  Sitemap story 0  {SITE}/news/story-2" in lines
    follow = r"1 match follow '/news/story-\d+$'"
    assert f"  page 1 {SITE}/news: 5 links, {follow}" in lines
    assert f"    next: {SITE}/news?page=2" in lines
    assert f"  page 2 {SITE}/news?page=2: 3 links, {follow}" in lines
    assert "    next: nothing matches 'a[rel=next]'" in lines
    assert f"  {SITE}/news/story-3" in lines
    assert f"  2024-05-02 06:30  Feed story 1 - City News  {SITE}/news/story-1" in lines
    assert f"article: {SITE}/news/story-0 (first of channel 1, feed)" in lines
    assert "  title:      Feed story 0" in lines
    assert "  date:       2024-05-02 06:30:00-03:00 (from feed: 2024-05-02T09:30:00+00:00)" in lines
    assert "  language:   en" in lines
    assert "  aggregator: RSS" in lines
    assert line_of(out, "  text:       4 paragraphs, ").count("The regional council") == 1

    # Nothing stored: no record file, no database, no check log; the config untouched.
    assert not (project.root / "data").exists()
    assert {p: p.read_bytes() for p in project.config.rglob("*") if p.is_file()} == config_before
    # Only channel documents and one article were fetched: no crawl of every article.
    assert server.requests_to("/news/story-1") == []


def test_check_on_a_broken_channel_exits_5_with_the_reason(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    serve_stories(server, range(1))
    server.route("/feed.xml", Route(body="<html><body>Moved!</body></html>"))
    server.route("/news", Route(body=listing_page(["/story-zero", "/about"], None)))
    urls = [server.url("/news/story-0")]
    server.route("/sitemap.xml", Route(body=plain_sitemap(urls), content_type="text/xml"))
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    project.write_source(
        {
            "id": "broken",
            "name": "Broken",
            "homepage": server.base_url,
            "discovery": [
                {"kind": "feed", "url": server.url("/feed.xml")},
                {"kind": "listing", "url": server.url("/news"), "follow": r"/news/\d+"},
                {"kind": "sitemap", "url": server.url("/sitemap.xml")},
                {"kind": "sitemap", "url": server.url("/gone.xml")},
            ],
        }
    )

    code, out, err = scraper(project, "check", "broken")

    assert code == 5, out + err
    assert f"channel 1: feed {server.url('/feed.xml')}  [FAILED]" in out
    assert "  error: not a feed" in out
    assert "1 match follow" not in out
    assert "    links on the page look like:\n      " + server.url("/story-zero") in out
    assert f"channel 3: sitemap {server.url('/sitemap.xml')}  [ok]" in out
    assert "  2024-05-01 lastmod  (no title)  " + server.url("/news/story-0") in out
    assert "  error: HTTP 404" in out
    # The first article is the first one any channel listed.
    assert f"article: {server.url('/news/story-0')} (first of channel 3, sitemap)" in out
    assert err.splitlines()[-1] == (
        "error: not every channel answered: channel 1 (feed): not a feed; "
        "channel 2 (listing): no articles listed; channel 4 (sitemap): HTTP 404"
    )
    assert not (project.root / "data").exists()


@pytest.mark.parametrize(
    ("robots", "reason"),
    [
        (Route(body="<h1>Internal Server Error</h1>", status=500), "HTTP 500"),
        (Route(reset=True), "[Errno 104] Connection reset by peer"),
        # urllib's BadStatusLine went through the probe: "the check crashed", exit 1.
        (Route(raw=b"GARBAGE NOT HTTP\r\n\r\n"), "not an HTTP answer (BadStatusLine)"),
    ],
    ids=["server-error", "no-answer", "not-http"],
)
def test_check_reads_a_robots_txt_that_cannot_be_read_as_the_crawl_does(
    tmp_path: Path, server: LocalHTTPServer, robots: Route, reason: str
) -> None:
    # As the crawl (RFC 9309): nothing of the site is fetched while its robots.txt fails.
    serve_stories(server, range(1))
    server.route("/feed.xml", Route(body=rss_feed([("S", server.url("/news/story-0"), None)])))
    server.route("/robots.txt", robots)
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    feed = {"kind": "feed", "url": server.url("/feed.xml")}
    project.write_source(
        {"id": "city", "name": "City", "homepage": server.base_url, "discovery": [feed]}
    )

    code, out, err = scraper(project, "check", "city")

    assert code == 5, out + err
    assert f"channel 1: feed {server.url('/feed.xml')}  [FAILED]" in out
    assert f"\n  error: robots.txt unreachable ({reason})\n" in out
    assert not server.requests_to("/feed.xml")


def test_check_tries_the_first_link_the_crawl_would_fetch(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    # A mailto: first entry took the one article probe ("skipped by the crawl: invalid
    # URL"), and the check said nothing of the articles.
    serve_stories(server, range(1))
    items = [("Mail us", "mailto:desk@city.example", None)]
    items.append(("Story", server.url("/news/story-0"), PUBLISHED))
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    feed = {"kind": "feed", "url": server.url("/feed.xml")}
    project.write_source(
        {"id": "city", "name": "City", "homepage": server.base_url, "discovery": [feed]}
    )

    code, out, err = scraper(project, "check", "city")

    assert code == 0, out + err
    line = f"article: {server.url('/news/story-0')} (first http(s) link of channel 1, feed)"
    assert f"\n{line}\n" in out
    assert "\n  title:      Story\n" in out  # the feed's title for it


def test_check_of_an_unknown_source_is_a_config_error(
    tmp_path: Path, server: LocalHTTPServer
) -> None:
    project = Project(tmp_path, allowed=[server.authority])
    project.write_settings()
    project.write_source(
        {
            "id": "city",
            "name": "City",
            "homepage": SITE,
            "discovery": [{"kind": "feed", "url": f"{SITE}/feed.xml"}],
        }
    )
    code, _, err = scraper(project, "check", "town")
    assert code == 2
    assert err == "error: unknown or invalid source 'town' (known: city)\n"
