"""Every article its own identity (issue 8): articles told apart only by their query or
path parameters stay apart, each page is fetched at its URL as listed, and a page whose
canonical link names a stored article becomes an alias of it, not a second record."""

from __future__ import annotations

import re
import sqlite3

import pytest

from scraper.urls import article_id
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

# Fourteen articles, each named only by parameters the rule before issue 8 dropped or
# mangled (it stored them as 10 URLs): path and query as the server is asked for them.
ARTICLES = [
    "/spip.php?article101",
    "/spip.php?article102",
    "/?article103",
    "/news.php?1001",
    "/news.php?1002",
    "/mnews.asp?pk_no=2001",
    "/mnews.asp?pk_no=2002",
    "/ref.php?ref=3001",
    "/show?source=4001",
    "/show?source=4002",
    "/a;id=5",
    "/a;id=6",
    "/item.jsp?oc=9",
    "/lire.php?n=12&lang=pt",
]
# How the feed lists each one: the last escaped twice over ("&amp;" in the link itself).
LISTED = {path: path for path in ARTICLES} | {
    "/lire.php?n=12&lang=pt": "/lire.php?n=12&amp;lang=pt"
}
# The same articles again, with tracking parameters and fragments: no new identity.
REPEATS = [
    "/spip.php?article101&utm_source=newsletter",
    "/spip.php?article102#comments",
    "/news.php?1001&fbclid=abc",
    "/mnews.asp?pk_no=2001&utm_medium=email&utm_campaign=x#top",
    "/a;id=5?gclid=1",
]
PUBDATE = "Thu, 02 May 2024 09:30:00 GMT"


def headline(n: int) -> str:
    return f"Council decision number {n}"


def source(server: LocalHTTPServer) -> dict[str, object]:
    return {
        "id": "portal",
        "name": "City Portal",
        "homepage": server.base_url,
        "schedule": {"every": "1h"},
        "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
    }


def crawl(project: Project) -> tuple[int, str, str]:
    result = run_scraper("crawl", "portal", "--config", project.config, cwd=project.root)
    return result.returncode, result.stdout, result.stderr


def stored_count(project: Project, table: str = "articles") -> int:
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def article_requests(server: LocalHTTPServer) -> list[str]:
    return [r.path for r in server.requests if r.path not in ("/feed.xml", "/robots.txt")]


def test_articles_told_apart_by_parameters_keep_their_own_records(
    server: LocalHTTPServer, project: Project
) -> None:
    pages = {
        path: article_page(headline(n), article_paragraphs(100 + n))
        for n, path in enumerate(ARTICLES)
    }

    def site(request: RecordedRequest) -> Route:
        page = pages.get(request.path)
        return Route(body=page) if page else Route(status=404, body="not found")

    server.fallback = site
    items = [(headline(n), server.url(LISTED[p]), PUBDATE) for n, p in enumerate(ARTICLES)]
    items += [("Again", server.url(path), PUBDATE) for path in REPEATS]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(source(server))

    code, out, err = crawl(project)

    assert code == 0, err
    assert "discovered 14" in out and "new 14" in out, out
    # Each page was asked for once, at its URL as listed (entities decoded).
    assert sorted(article_requests(server)) == sorted(ARTICLES)
    documents = {doc.url: doc for doc in project.documents()}
    assert set(documents) == {server.url(path) for path in ARTICLES}
    for n, path in enumerate(ARTICLES):
        document = documents[server.url(path)]
        assert document.title == headline(n)
        assert document.content.split("\n\n")[0] == article_paragraphs(100 + n)[0]
        (file,) = [p for p in project.files() if p.stem.endswith(document.id)]
        assert f">URL: {server.url(path)}\n" in file.read_text(encoding="utf-8")
    assert stored_count(project) == 14
    before = project.snapshot()

    code, out, err = crawl(project)

    assert code == 0, err
    assert "known 14" in out and "fetched 0" in out and "new 0" in out, out
    assert sorted(article_requests(server)) == sorted(ARTICLES)  # nothing fetched again
    assert project.snapshot() == before
    assert stored_count(project) == 14


def test_a_page_whose_canonical_link_names_a_stored_article_becomes_its_alias(
    server: LocalHTTPServer, project: Project
) -> None:
    text = article_paragraphs(7)
    original = "/news/harbour-bridge"
    printable = "/print.php?story=harbour-bridge"
    canonical = f'<head><link rel="canonical" href="{server.url(original)}">'
    server.routes(
        {
            original: Route(body=article_page("Harbour bridge opens", text)),
            # The same article at another URL, naming the first as canonical.
            printable: Route(
                body=article_page("Harbour bridge opens", text).replace("<head>", canonical)
            ),
            # A template bug: another article whose canonical link names the first.
            "/news/ferry": Route(
                body=article_page("Ferry returns", article_paragraphs(8)).replace(
                    "<head>", canonical
                )
            ),
        }
    )

    def feed(*paths: str) -> None:
        items = [(f"Item {n}", server.url(p), PUBDATE) for n, p in enumerate(paths)]
        server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))

    project.write_source(source(server))
    feed(original)
    code, out, err = crawl(project)
    assert code == 0 and "new 1" in out, (out, err)

    feed(original, printable, "/news/ferry")
    code, out, err = crawl(project)

    assert code == 0, err
    assert "known 1" in out and "fetched 2" in out and "new 1" in out, out
    assert "skipped: alias of a stored article (canonical link) (1)" in out, out
    assert sorted(d.url for d in project.documents()) == [
        server.url("/news/ferry"),
        server.url(original),
    ]
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        aliases = conn.execute("SELECT alias_id, url, article_id FROM article_aliases").fetchall()
    alias_url = server.url(printable)
    assert aliases == [(article_id(alias_url), alias_url, article_id(server.url(original)))]
    assert stored_count(project) == 2
    fetched = len(server.requests_to(printable))

    # A new process learns the alias from the database: the URL is known, not fetched.
    code, out, err = crawl(project)
    assert code == 0, err
    assert "known 3" in out and "fetched 0" in out, out
    assert len(server.requests_to(printable)) == fetched
    assert stored_count(project) == 2 and len(project.files()) == 2


@pytest.mark.parametrize("original_delay", [0.0, 1.5])
def test_a_copy_listed_with_its_canonical_page_in_one_crawl_is_stored_once(
    server: LocalHTTPServer, project: Project, original_delay: float
) -> None:
    """The copy and the page its canonical link names, both new in one crawl: whichever
    is stored first (the copy, when the page it names answers late), the other becomes
    its alias."""
    text = article_paragraphs(9)
    original = "/news/tram-line"
    printable = "/print.php?story=tram-line"
    canonical = f'<head><link rel="canonical" href="{server.url(original)}">'
    server.routes(
        {
            original: Route(body=article_page("Tram line extended", text), delay=original_delay),
            printable: Route(
                body=article_page("Tram line extended", text).replace("<head>", canonical)
            ),
        }
    )
    items = [("Copy", server.url(printable), PUBDATE), ("Original", server.url(original), PUBDATE)]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(source(server))

    code, out, err = crawl(project)

    assert code == 0, err
    assert "fetched 2" in out and "new 1," in out, (out, err)
    assert "skipped: alias of a stored article (canonical link) (1)" in out, out
    documents = project.documents()
    assert len(documents) == 1 and len(project.files()) == 1
    stored_url = documents[0].url
    assert stored_url in (server.url(original), server.url(printable))
    if original_delay:
        assert stored_url == server.url(printable)  # stored before the original came
    other = server.url(printable if stored_url == server.url(original) else original)
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        aliases = conn.execute("SELECT url, article_id FROM article_aliases").fetchall()
    assert aliases == [(other, article_id(stored_url))]

    # The next crawl knows both URLs: nothing is fetched, nothing stored twice.
    code, out, err = crawl(project)
    assert code == 0, err
    assert "known 2" in out and "fetched 0" in out, out
    assert len(project.files()) == 1


def test_a_link_that_redirects_to_another_listed_link_is_fetched_and_written_once(
    server: LocalHTTPServer, project: Project
) -> None:
    # Both links were stored: "new 1, updated 1", the record's title that of whichever
    # came last, and every --refresh run wrote the article twice again (two versions).
    text = article_paragraphs(4)
    server.route("/news/bridge", Route(body=article_page("Bridge reopens", text)))
    server.route("/old/bridge", Route.redirect("/news/bridge", 301))
    items = [("Via redirect", server.url("/old/bridge"), PUBDATE)]
    items.append(("Direct", server.url("/news/bridge"), PUBDATE))
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(source(server))

    code, out, err = crawl(project)

    assert code == 0, err
    assert "fetched 2, new 1, updated 0," in out, out
    assert "\n  skipped: same article as another listed link (redirect) (1)\n" in out
    assert len(project.files()) == 1
    stored = article_id(server.url("/news/bridge"))
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        aliases = conn.execute("SELECT url, article_id FROM article_aliases").fetchall()
    assert aliases == [(server.url("/old/bridge"), stored)]

    # The next processes know the redirect: the article is fetched once per run, and
    # once its title settles on the first listed link's, it stays.
    runs = []
    for _ in range(3):
        again = run_scraper(
            "crawl", "portal", "--refresh", "--config", project.config, cwd=project.root
        )
        assert again.returncode == 0, again.stderr
        runs.append(again.stdout)
    assert all("fetched 1," in out for out in runs), runs
    assert "updated 0, unchanged 1," in runs[-1], runs
    versions = stored_count(project, "article_versions")
    assert versions <= 1  # at most the one change of title
    assert project.documents()[0].title == "Via redirect"


def test_a_copy_stored_by_an_earlier_run_claims_the_page_its_canonical_link_names(
    server: LocalHTTPServer, project: Project
) -> None:
    """The copy is listed and stored first; the page its canonical link names comes in
    a later `scraper crawl` (another process): it becomes the copy's alias, not a second
    record. Another article at that URL (the copy's canonical link was a template bug)
    is still stored."""
    text = article_paragraphs(10)
    original = "/news/library-reopens"
    printable = "/print.php?story=library-reopens"
    unrelated = "/news/market-day"
    copy = article_page("Library reopens", text).replace(
        "<head>", f'<head><link rel="canonical" href="{server.url(original)}">'
    )
    wrong_copy = article_page("Library reopens", text).replace(
        "<head>", f'<head><link rel="canonical" href="{server.url(unrelated)}">'
    )
    server.routes(
        {
            original: Route(body=article_page("Library reopens", text)),
            printable: Route(body=copy),
            "/print.php?story=wrong": Route(body=wrong_copy),
            unrelated: Route(body=article_page("Market day moves", article_paragraphs(11))),
        }
    )

    def feed(*paths: str) -> None:
        items = [(f"Item {n}", server.url(p), PUBDATE) for n, p in enumerate(paths)]
        server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))

    project.write_source(source(server))
    feed(printable, "/print.php?story=wrong")
    code, out, err = crawl(project)
    assert code == 0, err
    assert out.splitlines() == [
        "portal: discovered 2, known 0, fetched 2, new 2, updated 0, unchanged 0, skipped 0,"
        " failed 0"
    ]
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        claims = conn.execute(
            "SELECT claim_id, url, article_id FROM canonical_claims ORDER BY url"
        ).fetchall()
    assert claims == [
        (article_id(server.url(original)), server.url(original), article_id(server.url(printable))),
        (
            article_id(server.url(unrelated)),
            server.url(unrelated),
            article_id(server.url("/print.php?story=wrong")),
        ),
    ]

    feed(printable, "/print.php?story=wrong", original, unrelated)
    code, out, err = crawl(project)

    assert code == 0, err
    assert out.splitlines() == [
        "portal: discovered 4, known 2, fetched 2, new 1, updated 0, unchanged 0, skipped 1,"
        " failed 0",
        "  skipped: alias of a stored article (canonical link) (1)",
    ]
    assert sorted(d.url for d in project.documents()) == sorted(
        server.url(p) for p in (printable, "/print.php?story=wrong", unrelated)
    )
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        aliases = conn.execute("SELECT url, article_id FROM article_aliases").fetchall()
    assert aliases == [(server.url(original), article_id(server.url(printable)))]


def test_a_claim_made_while_the_database_was_down_still_stands_after_the_catch_up(
    server: LocalHTTPServer, project: Project
) -> None:
    """The copy is stored while the database is unreachable: its claim goes to the
    pending journal with it, and once the next run has caught up, the page the copy's
    canonical link names is its alias, not a second record."""
    text = article_paragraphs(12)
    original, printable = "/news/bridge-opens", "/print.php?story=bridge-opens"
    copy = article_page("Bridge opens", text).replace(
        "<head>", f'<head><link rel="canonical" href="{server.url(original)}">'
    )
    server.routes(
        {original: Route(body=article_page("Bridge opens", text)), printable: Route(body=copy)}
    )

    def feed(*paths: str) -> None:
        items = [(f"Item {n}", server.url(p), PUBDATE) for n, p in enumerate(paths)]
        server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))

    project.write_source(source(server))
    feed(printable)
    unreachable = f"sqlite:///{project.root / 'no-such-folder' / 'x' / 'scraper.db'}"
    (project.root / "no-such-folder").write_text("a file where a folder should be")
    down = run_scraper(
        "crawl", "portal", "--config", project.config, "--database", unreachable, cwd=project.root
    )
    assert down.returncode == 4, down.stderr

    feed(printable, original)
    code, out, err = crawl(project)

    assert code == 0, err
    assert out.splitlines() == [
        "portal: discovered 2, known 1, fetched 1, new 0, updated 0, unchanged 0, skipped 1,"
        " failed 0",
        "  skipped: alias of a stored article (canonical link) (1)",
    ]
    assert [d.url for d in project.documents()] == [server.url(printable)]
    with sqlite3.connect(project.root / "data" / "scraper.db") as conn:
        aliases = conn.execute("SELECT url, article_id FROM article_aliases").fetchall()
    assert aliases == [(server.url(original), article_id(server.url(printable)))]


def test_db_identities_lists_and_repairs_rows_the_old_rule_collapsed(
    server: LocalHTTPServer, project: Project
) -> None:
    # A database as the rule before issue 8 left it: spip.php?article101 and ?article102
    # both stored as "spip.php", the second over the first.
    paths = ["/spip.php?article101", "/spip.php?article102"]
    server.routes(
        {
            paths[0]: Route(body=article_page("First SPIP article", article_paragraphs(1))),
            paths[1]: Route(body=article_page("Second SPIP article", article_paragraphs(2))),
        }
    )
    items = [(f"Item {n}", server.url(p), PUBDATE) for n, p in enumerate(paths)]
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
    project.write_source(source(server))
    collapsed = server.url("/spip.php")
    _store_as_the_old_rule_did(project, collapsed)

    listed = run_scraper("db", "identities", "--config", project.config, cwd=project.root)
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        rf"^collapsed {article_id(collapsed)} {re.escape(collapsed)} \(", listed.stdout, re.M
    )
    assert listed.stdout.splitlines()[-1] == "1 rows to repair; run with --repair to fix them"

    repaired = run_scraper(
        "db", "identities", "--repair", "--config", project.config, cwd=project.root
    )
    assert repaired.returncode == 0, repaired.stderr
    assert "1 deleted" in repaired.stdout
    assert project.files() == [] and stored_count(project) == 0

    code, out, err = crawl(project)
    assert code == 0, err
    assert "new 2" in out, out  # each article again, under its own identity
    assert sorted(d.url for d in project.documents()) == [server.url(p) for p in paths]


def _store_as_the_old_rule_did(project: Project, url: str) -> None:
    """One record file and row at ``url``: "Second SPIP article", which replaced "First
    SPIP article" (kept in article_versions), as the crawls before issue 8 stored them."""
    from datetime import UTC, datetime

    from scraper.document import Document
    from scraper.storage.base import ArticleRecord
    from scraper.storage.files import FileStore
    from scraper.storage.sqlite import SQLiteDatabase

    files = FileStore(project.output)
    database = SQLiteDatabase(project.root / "data" / "scraper.db")
    database.migrate()
    for hour, (title, seed) in enumerate((("First SPIP article", 1), ("Second SPIP article", 2))):
        document = Document(
            title=title,
            published=datetime(2024, 5, 1 + hour, 9, 30, tzinfo=UTC),
            type="Notícias",
            url=url,
            source_name="City Portal",
            source_url="http://example.invalid",
            language="en",
            aggregator="RSS",
            content="\n\n".join(article_paragraphs(seed)),
        )
        written = files.write(document)
        database.save_articles(
            [ArticleRecord(document, "portal", written.relative_path, written.content_hash)]
        )
    database.close()
