"""A local site whose channels try every trick at once, while only its own port is allowed:
links and redirects into a second, "internal" server in every spelling, file:// links,
a feed whose body is a local path, a sitemap index whose child is a local file, a 2 GiB
gzip bomb (as a sitemap and as a compressed feed), a billion-laughs feed and an
external-entity feed. The internal server hears nothing, no local file reaches a record,
the good pages are stored and every refusal is listed with its reason."""

from __future__ import annotations

import gzip
import time
import zlib
from pathlib import Path

import pytest

from tests.support.cli import Project, run_scraper_with_peak_memory
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

SECRET = "internal-secret-7f3a"  # what the internal server and the local files hold
BOMB_SIZE = 2 * 1024**3


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """2 GiB of zeros, gzip-compressed (about 2 MB), made at test time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(16 * 1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(BOMB_SIZE // len(chunk))]
    parts.append(compressor.flush())
    return b"".join(parts)


def internal_links(port: int) -> list[str]:
    """The internal server's address, spelled every way a resolver accepts."""
    return [
        f"http://127.0.0.1:{port}/spelled/plain",
        f"http://127.1:{port}/spelled/short",
        f"http://2130706433:{port}/spelled/decimal",
        f"http://0x7f.1:{port}/spelled/hex",
        f"http://0177.0.0.1:{port}/spelled/octal",
        f"http://[::ffff:127.0.0.1]:{port}/spelled/mapped",
        f"http://localhost:{port}/spelled/name",
        f"http://[::1]:{port}/spelled/ipv6-loopback",
    ]


def rss(items: str, doctype: str = "") -> str:
    return (
        f'<?xml version="1.0"?>{doctype}<rss version="2.0"><channel><title>t</title>'
        f"{items}</channel></rss>"
    )


BILLION_LAUGHS = (
    '<!DOCTYPE rss [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    + "]>"
)


def build_site(
    site: LocalHTTPServer, internal: LocalHTTPServer, folder: Path, bomb: bytes
) -> list[str]:
    """Serve the hostile site; returns the URLs of its good articles."""
    good = []
    for n in range(3):
        path = f"/news/good-{n}"
        site.route(path, Route(body=article_page(f"Good story {n}", article_paragraphs(n))))
        good.append(site.url(path))
    internal.route("/", Route(body=article_page(SECRET, [SECRET * 20])))
    internal.fallback = Route(body=article_page(SECRET, [SECRET * 20]))

    local_file = folder / "local-feed.xml"
    local_file.write_text(
        rss_feed([(SECRET, internal.url("/from-local-file"), None)]), encoding="utf-8"
    )
    local_sitemap = folder / "local-sitemap.xml"
    local_sitemap.write_text(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{internal.url('/from-local-sitemap')}</loc></url></urlset>",
        encoding="utf-8",
    )

    # The main feed: one good article, then every spelling of the internal server, file
    # links, and links that redirect there.
    site.route("/to-internal", Route.redirect(internal.url("/redirected")))
    site.route("/to-internal-2", Route.redirect(f"http://0x7f.1:{internal.port}/redirected"))
    site.route("/to-file", Route.redirect(local_file.as_uri()))
    hostile = [
        *internal_links(internal.port),
        local_file.as_uri(),
        "file:///etc/passwd",
        site.url("/to-internal"),
        site.url("/to-internal-2"),
        site.url("/to-file"),
    ]
    feed_items = [("Good 0", good[0], None)] + [
        (f"Bad {i}", u, None) for i, u in enumerate(hostile)
    ]
    site.route("/feed.xml", Route(body=rss_feed(feed_items), content_type="application/rss+xml"))
    # A "feed" whose body is the path of a local feed file.
    site.route("/path-feed.xml", Route(body=str(local_file), content_type="application/rss+xml"))
    # A sitemap index: a good child, a local file child, a child on the internal server.
    site.route(
        "/sitemap-index.xml",
        Route(
            body='<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.url('/sitemap-good.xml')}</loc></sitemap>"
            f"<sitemap><loc>{local_sitemap.as_uri()}</loc></sitemap>"
            f"<sitemap><loc>{internal.url('/sitemap.xml')}</loc></sitemap>"
            "</sitemapindex>",
            content_type="application/xml",
        ),
    )
    site.route(
        "/sitemap-good.xml",
        Route(
            body='<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{good[1]}</loc></url></urlset>",
            content_type="application/xml",
        ),
    )
    # The gzip bomb, as a gzip sitemap file and as a feed sent with Content-Encoding.
    site.route("/bomb.xml.gz", Route(body=bomb, content_type="application/x-gzip"))
    site.route(
        "/bomb-feed.xml",
        Route(body=bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}),
    )
    # Billion laughs, and external entities (a local file, the internal server).
    site.route(
        "/laughs.xml",
        Route(
            body=rss(f"<item><title>&lol9;</title><link>{good[2]}</link></item>", BILLION_LAUGHS),
            content_type="application/rss+xml",
        ),
    )
    xxe = (
        f'<!DOCTYPE rss [<!ENTITY file SYSTEM "{local_file.as_uri()}">'
        f'<!ENTITY net SYSTEM "{internal.url("/xxe")}">]>'
    )
    site.route(
        "/xxe.xml",
        Route(
            body=rss(f"<item><title>&file;&net;</title><link>{good[2]}</link></item>", xxe),
            content_type="application/rss+xml",
        ),
    )
    return good


def test_a_hostile_site_reaches_nothing_internal_and_loses_nothing_good(
    tmp_path: Path, gzip_bomb: bytes
) -> None:
    with LocalHTTPServer() as site, LocalHTTPServer() as internal:
        good = build_site(site, internal, tmp_path, gzip_bomb)
        project = Project(tmp_path / "project", allowed=[site.authority])
        project.write_settings(download_timeout=20)
        channels = [
            {"kind": "feed", "url": site.url("/feed.xml")},
            {"kind": "feed", "url": site.url("/path-feed.xml")},
            {"kind": "sitemap", "url": site.url("/sitemap-index.xml")},
            {"kind": "sitemap", "url": site.url("/bomb.xml.gz")},
            {"kind": "feed", "url": site.url("/bomb-feed.xml")},
            {"kind": "feed", "url": site.url("/laughs.xml")},
            {"kind": "feed", "url": site.url("/xxe.xml")},
        ]
        project.write_source(
            {
                "id": "hostile",
                "name": "Hostile",
                "homepage": site.base_url,
                "discovery": channels,
                "crawl": {"delay": 0, "concurrency": 4, "robots": True},
            }
        )

        started = time.monotonic()
        result, peak_kib = run_scraper_with_peak_memory(
            "crawl", "hostile", "--config", project.config, cwd=project.root, timeout=180
        )
        seconds = time.monotonic() - started

        assert internal.requests == [], result.stdout + result.stderr
        records = [path.read_text(encoding="utf-8") for path in project.files()]
        assert not any(SECRET in text for text in records)
        assert not any("root:" in text for text in records)  # /etc/passwd
        urls = sorted(doc.url for doc in project.documents())
        assert urls == sorted(good), result.stdout + result.stderr

        lines = result.stdout.splitlines()
        # Every spelling of the internal server, and the two redirects into it.
        assert "  skipped: article: private address (10)" in lines, result.stdout
        # file:// links in the feed, and a redirect to one.
        assert "  skipped: feed: unsupported scheme (file) (2)" in lines, result.stdout
        assert "  skipped: article: redirect to unsupported scheme (file) (1)" in lines
        assert "  skipped: sitemap: unsupported scheme (file) (1)" in lines, result.stdout
        assert "  skipped: sitemap: private address (1)" in lines, result.stdout
        # The feed that is a path; both bombs. The entity feeds parse without expansion.
        assert "  failed: feed: not a feed (1)" in lines, result.stdout
        assert "  failed: sitemap: too large after decompression (1)" in lines, result.stdout
        assert "  failed: feed: response too large (1)" in lines, result.stdout
        assert result.stdout.splitlines()[0] == (
            "hostile: discovered 14, known 0, fetched 3, new 3, updated 0, unchanged 0, "
            "skipped 15, failed 3"
        )
        # The broken channels make the run fail, with one line saying so.
        assert result.returncode == 5
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .startswith("error: not everything was crawled: hostile: channel failed (")
        )
        assert "Traceback" not in result.stderr
        assert seconds < 180
        # The bombs expand to 2 GiB: a crawl that held one would be far above this.
        assert 0 < peak_kib < 1024 * 1024, f"peak memory {peak_kib} KiB"


def test_gzip_bomb_fixture_is_what_it_claims(gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 4 * 1024 * 1024
    with gzip.GzipFile(fileobj=__import__("io").BytesIO(gzip_bomb)) as stream:
        assert stream.read(1024) == bytes(1024)
