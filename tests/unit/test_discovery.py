"""Parsing of feeds, sitemaps and listing pages (scraper.discovery), without Scrapy."""

from __future__ import annotations

import codecs
import gzip
import re
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from scraper import discovery
from scraper.discovery import (
    DiscoveryError,
    Entry,
    charset_from_content_type,
    gunzip_bounded,
    parse_date,
    parse_feed,
    parse_feed_document,
    parse_gnews_document,
    parse_gnews_feed,
    parse_listing,
    parse_sitemap,
)
from tests.support.http_server import LocalHTTPServer, Route

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = "https://ministry.example"


OTHER = "https://partner.example.org"


def fixture(kind: str, name: str, base: str = BASE) -> bytes:
    body = (FIXTURES / kind / name).read_bytes()
    return body.replace(b"{base}", base.encode()).replace(b"{other}", OTHER.encode())


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 14 Nov 2023 08:00:00 GMT", datetime(2023, 11, 14, 8, tzinfo=UTC)),
        (
            "Mon, 13 Nov 2023 17:30:00 +0200",
            datetime(2023, 11, 13, 17, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("Wed, 29 Jun 2011 00:01:37 GMT+00:00", datetime(2011, 6, 29, 0, 1, 37, tzinfo=UTC)),
        ("2024-03-01T09:15:00+01:00", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
        ("2024-03-01T09:15:00.250Z", datetime(2024, 3, 1, 9, 15, 0, 250000, tzinfo=UTC)),
        # An explicit offset makes midnight an instant like any other time.
        ("Tue, 28 Jul 2026 00:00:00 +0000", datetime(2026, 7, 28, tzinfo=UTC)),
        ("2024-03-16T00:00:00+02:00", datetime(2024, 3, 15, 22, tzinfo=UTC)),
    ],
)
def test_times_with_an_offset_become_aware_datetimes(text: str, expected: datetime) -> None:
    value = parse_date(text)
    assert isinstance(value, datetime) and value.tzinfo is not None
    assert value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sat, Dec 16 2023 02:02:33 PM", datetime(2023, 12, 16, 14, 2, 33)),
        ("Sat, Dec 16 2023 12:10:00 AM", datetime(2023, 12, 16, 0, 10)),
        ("2024-03-01 09:15:00", datetime(2024, 3, 1, 9, 15)),
        ("2020/1/10 14:33:00", datetime(2020, 1, 10, 14, 33)),
    ],
)
def test_times_without_zone_stay_zone_less(text: str, expected: datetime) -> None:
    """Read later in the source's configured zone, else the output zone (scraper.dates)."""
    value = parse_date(text)
    assert isinstance(value, datetime) and value.tzinfo is None
    assert value == expected


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-05-06", date(2024, 5, 6)),
        ("2020/1/10", date(2020, 1, 10)),
        # Generators write a bare day as a zone-less midnight: it stays on that day.
        ("2024-03-16T00:00:00", date(2024, 3, 16)),
        ("Tue, 28 Jul 2026 00:00:00", date(2026, 7, 28)),
    ],
)
def test_a_bare_day_stays_a_date(text: str, day: date) -> None:
    value = parse_date(text)
    assert type(value) is date and value == day


@pytest.mark.parametrize("text", [None, "", "  ", "not a date at all", "2024-13-45", "32/13/2020"])
def test_unknown_dates_are_none(text: str | None) -> None:
    assert parse_date(text) is None


def test_charset_from_content_type() -> None:
    assert charset_from_content_type("text/html; charset=UTF-8") == "utf-8"
    assert charset_from_content_type('text/html; charset="windows-1251"') == "windows-1251"
    assert charset_from_content_type("text/html") is None
    assert charset_from_content_type(None) is None


# --- feeds ---------------------------------------------------------------------------


def test_rss2_entries_with_titles_dates_and_absolute_links() -> None:
    entries = parse_feed(fixture("feeds", "rss2.xml"), f"{BASE}/rss.xml")
    assert [e.url for e in entries] == [
        f"{BASE}/news/harbour-bridge?utm_source=rss#top",  # normalized later, by the spider
        f"{BASE}/news/budget-2024",  # relative link resolved against the feed URL
        f"{BASE}/news/statement",  # guid used when there is no <link>
        "https://partner.example.org/reports/42",  # other hosts are kept
    ]
    first, second, third, fourth = entries
    assert first.title == "Minister opens the new harbour bridge"
    assert first.published == datetime(2023, 11, 14, 8, tzinfo=UTC)
    assert second.title == "Budget & tax calendar for 2024"
    assert second.published == datetime(2023, 11, 13, 15, 30, tzinfo=UTC)
    assert second.modified == datetime(2023, 11, 13, 15, 31, tzinfo=UTC)  # dc:date
    # <pubDate>Sun, 12 Nov 2023 00:00:00 +0000</pubDate>: an instant (explicit offset).
    assert third.published == datetime(2023, 11, 12, tzinfo=UTC)
    assert fourth.published is None


def test_atom_published_and_updated() -> None:
    first, second = parse_feed(fixture("feeds", "atom.xml"), "https://agency.example/atom")
    assert first.url == "https://agency.example/releases/q1-statistics"  # xml:base
    assert first.published == datetime(2024, 3, 1, 8, 15, tzinfo=UTC)
    assert first.modified == datetime(2024, 3, 2, 10, tzinfo=UTC)
    # Atom's <updated> is a modification time, not a publication date.
    assert second.published is None
    assert second.modified == datetime(2024, 2, 28, 12, tzinfo=UTC)


def test_titles_given_as_markup_become_text() -> None:
    # Stored as given before: "Tom &amp; Jerry <em>return</em>" in the record's title.
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom">
<entry><title type="html">Tom &amp;amp; Jerry &lt;em&gt;return&lt;/em&gt;</title>
<link href="https://example.gov/1"/></entry>
<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Bold <b>move</b></div>
</title><link href="https://example.gov/2"/></entry>
<entry><title>Plain &amp; simple &lt;3</title><link href="https://example.gov/3"/></entry>
</feed>"""
    rss = b"""<rss version="2.0"><channel>
<item><title><![CDATA[<p>Grain &amp; oil</p>]]></title><link>https://example.gov/4</link></item>
<item><title>Rates &lt; 5%</title><link>https://example.gov/5</link></item>
</channel></rss>"""

    titles = [e.title for e in parse_feed_document(atom, f"{BASE}/atom").entries]
    titles += [e.title for e in parse_feed_document(rss, f"{BASE}/rss").entries]

    assert titles == [
        "Tom & Jerry return",
        "Bold move",
        "Plain & simple <3",  # text: its characters as they are
        "Grain & oil",
        "Rates < 5%",
    ]


def test_rss1_dublin_core_date_is_the_publication_day() -> None:
    (entry,) = parse_feed(fixture("feeds", "rss1.rdf"), "https://council.example/rss")
    assert entry == Entry(
        url="https://council.example/news/7",
        title="Council adopts the parks plan",
        published=date(2024, 5, 6),
        modified=datetime(2024, 5, 6),  # the day's start, zone-less (like the day)
    )


def test_json_feed() -> None:
    document = parse_feed_document(
        fixture("feeds", "jsonfeed.json"), "https://observatory.example/feed.json"
    )
    entries = document.entries
    assert document.unlinked == 1  # its third item has neither url nor external_url
    assert [e.url for e in entries] == [
        "https://observatory.example/bulletins/comet",
        "https://observatory.example/bulletins/eclipse",
    ]
    assert entries[0].title == "A comet is visible this week"
    assert entries[0].published == datetime(2024, 6, 2, 0, 0, tzinfo=UTC)
    assert entries[0].modified == datetime(2024, 6, 2, 8, tzinfo=UTC)
    assert entries[1].published == date(2024, 6, 3)


def test_gb2312_feed_is_decoded_by_its_declaration() -> None:
    entries = parse_feed(fixture("feeds", "gb2312.xml"), "http://news.example.cn/rss")
    assert [e.title for e in entries] == ["城市公园今天开放", "天气预报：明天有雨"]
    assert entries[0].published == datetime(2024, 1, 10, 14, 33)  # written without zone


def test_http_charset_wins_over_a_missing_declaration() -> None:
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>Новини дня</title>"
        "<link>https://gov.example/n/1</link></item></channel></rss>"
    ).encode("koi8-u")
    (entry,) = parse_feed(body, "https://gov.example/rss", "application/rss+xml; charset=koi8-u")
    assert entry.title == "Новини дня"


@pytest.mark.parametrize(
    "body",
    [
        fixture("feeds", "not_a_feed.html"),
        b"",
        b"\x89PNG\r\n\x1a\n\x00\x00binary",
        b'{"version": "something else", "items": []}',
        b"{not json",
    ],
)
def test_anything_else_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(DiscoveryError) as error:
        parse_feed(body, f"{BASE}/feed")
    assert error.value.reason == "not a feed"


def test_unusable_links_reach_the_spider_to_be_counted() -> None:
    body = (
        b"<rss version='2.0'><channel><title>t</title>"
        b"<item><link>http://:80/no-host</link></item>"
        b"<item><guid>item-7</guid></item>"  # a guid that is not a URL is no link
        b"<item><guid>https://ministry.example/p/8</guid></item>"  # a permalink guid is
        b"</channel></rss>"
    )
    document = parse_feed_document(body, f"{BASE}/rss")
    assert [e.url for e in document.entries] == [
        "http://:80/no-host",
        "https://ministry.example/p/8",
    ]
    assert document.unlinked == 1  # counted by the spider, as entries without a link


def test_a_feed_without_items_is_empty_not_an_error() -> None:
    body = b"<rss version='2.0'><channel><title>quiet</title></channel></rss>"
    assert parse_feed(body, f"{BASE}/rss") == []


def _rss_titled(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{BASE}/n/{n}</link></item>"
        for n, title in enumerate(titles)
    )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0">'
    return f"{head}<channel>{items}</channel></rss>".encode()


def test_character_references_no_character_stands_for_keep_the_feed() -> None:
    # feedparser raised on each of them (UnicodeEncodeError, ValueError): the feed's every
    # entry was lost, on every run. An emoji written as its two UTF-16 halves is common.
    feed = _rss_titled(
        "Smile &#55357;&#56832;",
        "Hex &#xD83D;&#xDE00; too",
        "A lone &#xDC00; half",
        "Past the last &#1114112; code point",
        "Zero &#0; and &#99999999999999999999;",
        "Plain &#233;&#20013;",
    )
    assert [e.title for e in parse_feed(feed, f"{BASE}/rss")] == [
        "Smile \U0001f600",
        "Hex \U0001f600 too",
        "A lone \ufffd half",
        "Past the last \ufffd code point",
        "Zero \ufffd and \ufffd",
        "Plain \u00e9\u4e2d",
    ]


def test_a_feed_that_makes_feedparser_raise_is_a_broken_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Some broken documents still make feedparser raise (its issues #591, #599): counted
    # as the channel's document failure with a reason, not an error inside the spider.
    def raises(*_args: object, **_kwargs: object) -> None:
        raise KeyError("href")

    monkeypatch.setattr(discovery.feedparser, "parse", raises)
    with pytest.raises(DiscoveryError) as info:
        parse_feed(_rss_titled("One"), f"{BASE}/rss")
    assert info.value.reason == "unreadable feed (KeyError)"


# --- feeds from the corpus -----------------------------------------------------------

_CORPUS_FEEDS = [
    "feedrs__bbc_rss2.xml",
    "feedrs__debian_rss1.rdf",
    "feedrs__reddit_atom.xml",
    "guardian_uk_2016-06.rss",
    "rsparser__DaringFireball.json",
    "rsparser__kc0011.rss",
    "rsparser__bio.rdf",
    "rsparser__russcox.atom",
    "tut.by_main_ru_2019-11.xml",
    "whitehouse_briefings_generated.xml",
    "yahoo_news_2019-11.xml",
]


@pytest.mark.corpus
@pytest.mark.parametrize("name", _CORPUS_FEEDS)
def test_corpus_feeds_list_http_articles(corpus: Path, name: str) -> None:
    entries = parse_feed((corpus / "feeds" / name).read_bytes(), "https://feed.example/feed")
    assert entries
    assert all(urlsplit(e.url).scheme in ("http", "https") for e in entries)
    assert all(e.published is None or isinstance(e.published, date) for e in entries)


@pytest.mark.corpus
def test_corpus_legacy_encodings_and_dates(corpus: Path) -> None:
    tut = parse_feed((corpus / "feeds/tut.by_main_ru_2019-11.xml").read_bytes(), "https://t.by/")
    assert len(tut) == 100
    assert re.search("[а-яА-Я]", tut[0].title or "")  # UTF-8 without a declaration
    kc = parse_feed((corpus / "feeds/rsparser__kc0011.rss").read_bytes(), "http://kc.example/")
    assert re.search("[\u4e00-\u9fff]", kc[0].title or "")  # declared gb2312
    debian = parse_feed((corpus / "feeds/feedrs__debian_rss1.rdf").read_bytes(), "https://d/")
    assert type(debian[0].published) is date
    json_feed = (corpus / "feeds/rsparser__DaringFireball.json").read_bytes()
    assert len(parse_feed(json_feed, "https://daringfireball.net/feeds/json")) > 10


@pytest.mark.corpus
def test_corpus_html_served_at_a_feed_url_is_not_a_feed(corpus: Path) -> None:
    page = corpus / "html/articles/mcmeta__peoplesdailyng.com_feed-url-served-html.html"
    with pytest.raises(DiscoveryError, match="not a feed"):
        parse_feed(page.read_bytes(), "https://www.peoplesdailyng.com/feed", "text/html")


# --- Google News feeds -----------------------------------------------------------------


def test_gnews_items_keep_the_publisher_suffix_and_source() -> None:
    body = fixture("gnews", "search.xml", "https://news.example")
    items = parse_gnews_feed(body, "https://news.example/rss/search?q=x")
    assert len(items) == 7
    first = items[0]
    assert first.title == "Harbour bridge opens to traffic - Example Herald"
    assert first.published == datetime(2023, 11, 14, 8, tzinfo=UTC)
    assert (first.publisher_name, first.publisher_url) == (
        "Example Herald",
        "https://herald.example",
    )
    # No <source>: the name comes from the title's suffix.
    legacy = items[3]
    assert (legacy.publisher_name, legacy.publisher_url) == ("Legacy Times", None)


def test_gnews_pubdate_at_midnight_stays_an_instant() -> None:
    body = (
        b"<rss version='2.0'><channel><item><title>T - P</title>"
        b"<link>https://news.example/rss/articles/CBMiX</link>"
        b"<pubDate>Tue, 14 Nov 2023 00:00:00 GMT</pubDate></item></channel></rss>"
    )
    (item,) = parse_gnews_feed(body, "https://news.example/rss/search")
    # 21:00 the day before in Sao Paulo, not a bare 14 November.
    assert item.published == datetime(2023, 11, 14, tzinfo=UTC)
    assert isinstance(item.published, datetime)


def test_gnews_items_without_a_link_are_counted_not_lost_in_silence() -> None:
    # Feeds counted "entry without a link"; Google News items vanished from the counts.
    body = (
        b"<rss version='2.0'><channel><item><title>No link - P</title></item>"
        b"<item><title>T - P</title><link>https://news.example/rss/articles/CBMiX</link>"
        b"</item></channel></rss>"
    )
    feed = parse_gnews_document(body, "https://news.example/rss/search")
    assert ([item.title for item in feed.items], feed.unlinked) == (["T - P"], 1)


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("googlenews__legacy_congress_2011.xml", 50),
        ("googlenews__topstories_en-US_2019-11.xml", 38),
        ("googlenews__search_bears-ears_2026-07.xml", 92),
    ],
)
def test_corpus_gnews_feeds(corpus: Path, name: str, count: int) -> None:
    items = parse_gnews_feed((corpus / "feeds" / name).read_bytes(), "https://news.google.com/")
    assert len(items) == count
    assert all(" - " in (i.title or "") and i.publisher_name for i in items)
    assert all(
        isinstance(i.published, datetime) and i.published.utcoffset() == timedelta(0) for i in items
    )


# --- sitemaps ------------------------------------------------------------------------


def test_urlset_entries_and_lastmod() -> None:
    document = parse_sitemap(fixture("sitemaps", "urlset.xml"), f"{BASE}/sitemap.xml")
    assert document.kind == "urlset" and not document.damaged
    assert document.entries == [
        Entry(url=f"{BASE}/press/older-release", modified=datetime(2024, 1, 5)),  # a day
        Entry(url=f"{BASE}/press/newer-release", modified=datetime(2024, 2, 10, 8, 30, tzinfo=UTC)),
        Entry(url=f"{BASE}/press/undated-release"),  # CDATA; image:loc is not an article
    ]


def test_sitemap_entries_without_a_loc_are_counted() -> None:
    body = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><lastmod>2024-01-05</lastmod></url><url><loc> </loc></url>"
        b"<url><loc>https://ministry.example/a</loc></url></urlset>"
    )
    document = parse_sitemap(body, f"{BASE}/sitemap.xml")
    assert [e.url for e in document.entries] == ["https://ministry.example/a"]
    assert document.unlinked == 2 and not document.damaged


def test_news_sitemap_titles_and_publication_dates() -> None:
    document = parse_sitemap(fixture("sitemaps", "news.xml"), f"{BASE}/news-sitemap.xml")
    first, second = document.entries
    assert first.title == "Grain exports rise for a third month"
    assert first.published == datetime(2024, 3, 18, 5, 45, tzinfo=UTC)
    assert second.title == "School year calendar announced"
    assert second.published == date(2024, 3, 16)
    assert second.modified == datetime(2024, 3, 17, 12, tzinfo=UTC)


def test_sitemap_index_lists_child_sitemaps() -> None:
    document = parse_sitemap(fixture("sitemaps", "index.xml"), f"{BASE}/sitemap-index.xml")
    assert document.kind == "sitemapindex"
    assert [e.url for e in document.entries] == [
        f"{BASE}/sitemaps/2023.xml.gz",
        f"{BASE}/sitemaps/news.xml",
        f"{BASE}/sitemap-index.xml",
    ]


def test_gzip_is_recognized_by_magic_bytes_whatever_the_url() -> None:
    packed = gzip.compress(fixture("sitemaps", "news.xml"))
    for url in (f"{BASE}/news.xml", f"{BASE}/news.xml.gz", f"{BASE}/sitemap"):
        assert len(parse_sitemap(packed, url).entries) == 2


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 5_000_000)
    with pytest.raises(DiscoveryError, match="too large after decompression"):
        parse_sitemap(bomb, f"{BASE}/s.xml.gz", max_size=1_000_000)
    with pytest.raises(DiscoveryError, match="invalid gzip"):
        gunzip_bounded(b"\x1f\x8b\x08garbage")


def test_sitemap_character_references_to_no_character_cost_one_entry_at_most() -> None:
    # libxml2 kept a reference to a surrogate as bytes that are no UTF-8, and reading
    # the <loc> back raised UnicodeDecodeError: the whole sitemap was lost.
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://ministry.example/a&#xD800;</loc></url>"
        b"<url><loc>https://ministry.example/b-&#55357;&#56832;</loc></url>"
        b"<url><loc>https://ministry.example/c</loc></url></urlset>"
    )
    document = parse_sitemap(body, f"{BASE}/sitemap.xml")
    assert [e.url for e in document.entries] == [
        "https://ministry.example/a\ufffd",
        "https://ministry.example/b-\U0001f600",
        "https://ministry.example/c",
    ]
    assert not document.damaged


def test_text_sitemap() -> None:
    document = parse_sitemap(fixture("sitemaps", "text_sitemap.txt"), f"{BASE}/sitemap.txt")
    assert [e.url for e in document.entries] == [
        "https://plain.example/a",
        "https://plain.example/b",
    ]


def test_a_text_sitemap_line_that_is_no_url_is_skipped_and_counted() -> None:
    body = (
        b"https://plain.example/a\n# written by hand\nhttps://plain.exa\nhttps://plain.example/b\n"
    )

    document = parse_sitemap(body, f"{BASE}/sitemap.txt")

    assert [e.url for e in document.entries] == [
        "https://plain.example/a",
        "https://plain.exa",  # cut short, yet a URL: its fetch fails on its own
        "https://plain.example/b",
    ]
    assert document.not_urls == 1


@pytest.mark.parametrize(
    "broken",
    [
        "https://plain.example/news/a\u2028b",  # str.splitlines breaks here: /news/a was kept
        "https://plain.example/news/a\x0cb",
        "https://plain.example/news/a\x00b",
        "https://plain.example/news/\ufffd",  # bytes the encoding could not read
    ],
)
def test_a_text_sitemap_line_is_a_url_whole_or_not_at_all(broken: str) -> None:
    body = f"{broken}\nhttps://plain.example/b\r\nHTTPS://plain.example/c\r".encode()

    document = parse_sitemap(body, f"{BASE}/sitemap.txt")

    assert [e.url for e in document.entries] == [
        "https://plain.example/b",
        "https://plain.example/c",
    ]
    assert document.not_urls == 1


def test_a_text_sitemap_of_millions_of_short_lines_is_read_in_bounded_memory() -> None:
    # Held as lists of lines, 4.5 MB of short lines took ~100 MB while being read (a
    # stranger's file, in the crawl process).
    body = b"https://plain.example/a\n" + b"ab\n" * 1_500_000
    tracemalloc.start()
    try:
        with pytest.raises(DiscoveryError):
            parse_sitemap(body, f"{BASE}/sitemap.txt", max_items=10_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_plain_text_with_more_other_lines_than_urls_is_no_sitemap() -> None:
    body = b"Service unavailable\nPlease try again later\nhttps://status.example/\n"
    with pytest.raises(DiscoveryError) as error:
        parse_sitemap(body, f"{BASE}/sitemap.txt")
    assert error.value.reason == "not a sitemap"


URLSET_WITH_DECLARATION = (
    '<?xml version="1.0" encoding="{encoding}"?>'
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>https://plain.example/\u00e9t\u00e9</loc></url></urlset>"
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"])
def test_sitemaps_in_utf16_and_utf32_with_a_byte_order_mark_are_read(encoding: str) -> None:
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(
        encoding, codecs.BOM_UTF32_BE if encoding == "utf-32-be" else b""
    )
    xml = URLSET_WITH_DECLARATION.format(encoding=encoding.upper())
    text = "https://plain.example/\u00e9t\u00e9\nhttps://plain.example/b\n"

    from_xml = parse_sitemap(bom + xml.encode(encoding), f"{BASE}/sitemap.xml")
    from_text = parse_sitemap(bom + text.encode(encoding), f"{BASE}/sitemap.txt")

    assert [e.url for e in from_xml.entries] == ["https://plain.example/\u00e9t\u00e9"]
    assert not from_xml.damaged
    assert [e.url for e in from_text.entries] == [
        "https://plain.example/\u00e9t\u00e9",
        "https://plain.example/b",
    ]


def test_broken_xml_keeps_what_could_be_read() -> None:
    document = parse_sitemap(fixture("sitemaps", "broken.xml"), f"{BASE}/sitemap.xml")
    assert document.damaged
    assert [e.url for e in document.entries][:2] == [f"{BASE}/kept/one", f"{BASE}/kept/two"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid XML"),
        (b"<?xml version='1.0'?><urlset><url><loc", "invalid XML"),
        (b"\x00\x01\x02binary", "not a sitemap"),
        (fixture("feeds", "not_a_feed.html"), "not a sitemap"),
        (fixture("feeds", "rss2.xml"), "not a sitemap"),
    ],
)
def test_unusable_sitemaps(body: bytes, reason: str) -> None:
    with pytest.raises(DiscoveryError) as error:
        parse_sitemap(body, f"{BASE}/sitemap.xml")
    assert error.value.reason == reason


def test_entities_are_not_expanded() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>https://a.example/&x;</loc></url></urlset>"
    )
    entries = parse_sitemap(body, "https://a.example/s.xml").entries
    assert all("root:" not in e.url for e in entries)


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "kind", "count"),
    [
        ("sitemaps.org_sitemap.xml", "urlset", 84),
        ("hebdenbridgetimes_articles_sitemap.xml", "urlset", None),
        ("shinpaideshou_wordpress_news_sitemap.xml", "urlset", None),
        ("spec-example_sitemapindex.xml", "sitemapindex", 2),
        ("tripadvisor_sitemap_index.xml", "sitemapindex", 4),
    ],
)
def test_corpus_sitemaps(corpus: Path, name: str, kind: str, count: int | None) -> None:
    document = parse_sitemap((corpus / "sitemaps" / name).read_bytes(), "https://s.example/")
    assert document.kind == kind and not document.damaged
    assert document.entries and all(e.url.startswith("http") for e in document.entries)
    if count is not None:
        assert len(document.entries) == count
    # Extension elements (image:loc, video:player_loc) never pass for article URLs.
    assert not any(re.search(r"\.(jpg|png)$|brightcove", e.url) for e in document.entries)


@pytest.mark.corpus
def test_corpus_news_sitemap_dates(corpus: Path) -> None:
    body = (corpus / "sitemaps/shinpaideshou_wordpress_news_sitemap.xml").read_bytes()
    entries = parse_sitemap(body, "https://shinpaideshou.wordpress.com/").entries
    assert all(e.title and isinstance(e.published, datetime) for e in entries)


# --- listings ------------------------------------------------------------------------

FOLLOW = r"/en/news/[^/]+-\d+"


def test_listing_links_matching_follow_and_next_page() -> None:
    page = parse_listing(
        fixture("listings", "page1.html"), f"{BASE}/en/news/all", FOLLOW, "a[rel=next]"
    )
    assert page.article_urls == [
        f"{BASE}/en/news/minister-visits-port-101",  # its #comments twin is the same page
        f"{BASE}/en/news/minister-speech-102",  # relative to the listing's URL
        f"{BASE}/en/news/road-works-finished-103?ref=home",
    ]
    assert page.next_url == f"{BASE}/en/news/all?page=2"


def test_listing_base_href_and_attribute_selector() -> None:
    page = parse_listing(
        fixture("listings", "page2.html"),
        f"{BASE}/en/news/all?page=2",
        FOLLOW,
        "a.pager-next::attr(href)",
    )
    assert page.article_urls == [
        f"{BASE}/en/news/harvest-report-201",
        f"{BASE}/en/news/minister-visits-port-101",
    ]
    assert page.next_url == f"{BASE}/en/news/all?page=3"


def test_listing_without_next_selector_or_match() -> None:
    page = parse_listing(fixture("listings", "page1.html"), f"{BASE}/en/news/all", r"/nothing/")
    assert page.article_urls == [] and page.next_url is None
    page = parse_listing(fixture("listings", "page1.html"), BASE, FOLLOW, "a.missing")
    assert page.next_url is None


@pytest.mark.parametrize("body", [b"[]", b"null", b'{"items": []}'])
def test_a_listing_page_whose_text_is_json_has_no_links(body: bytes) -> None:
    # parsel read such a text as JSON, and the CSS query raised ValueError.
    page = parse_listing(body, f"{BASE}/en/news/all", FOLLOW, "a.next")
    assert page.article_urls == [] and page.next_url is None


def test_listing_charset_from_meta() -> None:
    page = parse_listing(fixture("listings", "cp1251.html"), "https://gov.example/ru/", r"-\d+$")
    assert page.article_urls[0] == "https://gov.example/ru/news/otkrytie-mosta-11"
    assert "фестиваль" in page.article_urls[1]


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "url", "follow", "at_least"),
    [
        (
            "newspaper4k__cnn_main_site.html",
            "https://edition.cnn.com/",
            r"/\d{4}/\d{2}/\d{2}/[^?]+/index\.html",
            20,
        ),
        ("newspaper4k__wired_main_site.html", "https://www.wired.com/", r"/story/[^/]+/?$", 10),
        ("mcmeta__www.gov.cn.html", "http://www.gov.cn/", r"gov\.cn/.+/content_\d+", 5),
    ],
)
def test_corpus_listings(corpus: Path, name: str, url: str, follow: str, at_least: int) -> None:
    page = parse_listing((corpus / "html/listings" / name).read_bytes(), url, follow)
    assert len(page.article_urls) >= at_least
    assert len(set(page.article_urls)) == len(page.article_urls)
    assert all(u.startswith("http") and "#" not in u for u in page.article_urls)
    assert all(re.search(follow, u) for u in page.article_urls)


# --- hostile documents: local files, entities, gzip bombs, endless lists ---------------

RSS_ITEM = "<item><title>Item {n}</title><link>{base}/news/item-{n}</link></item>"


def rss_feed(count: int, base: str = BASE) -> bytes:
    items = "".join(RSS_ITEM.format(n=n, base=base) for n in range(count))
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


def hostile(kind: str, name: str, **values: str) -> bytes:
    body = fixture(kind, name)
    for key, value in values.items():
        body = body.replace(("{" + key + "}").encode(), value.encode())
    return body


@pytest.fixture
def internal() -> Iterator[LocalHTTPServer]:
    """A server that XML must never make anyone ask for anything."""
    with LocalHTTPServer(fallback=Route(body=b'<!ENTITY leaked "LEAKED">')) as server:
        yield server


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("SECRET-LOCAL-FILE\n")
    return path


@pytest.mark.parametrize("parse", [parse_feed, parse_gnews_feed])
def test_a_feed_body_that_is_a_file_path_is_not_read(
    parse: Callable[[bytes, str], list[Any]], tmp_path: Path
) -> None:
    # feedparser.parse(bytes) opens the file a body names; a byte stream it can't.
    path = tmp_path / "feed.xml"
    path.write_bytes(rss_feed(3))
    for body in (str(path).encode(), f"file://{path}".encode()):
        with pytest.raises(DiscoveryError) as error:
            parse(body, f"{BASE}/rss")
        assert error.value.reason == "not a feed"


def test_a_feed_body_that_is_a_url_is_not_fetched(internal: LocalHTTPServer) -> None:
    internal.route("/feed.xml", Route(body=rss_feed(3), content_type="application/rss+xml"))
    with pytest.raises(DiscoveryError, match="not a feed"):
        parse_feed(internal.url("/feed.xml").encode(), f"{BASE}/rss")
    assert internal.requests == []


@pytest.mark.parametrize("parse", [parse_feed, parse_gnews_feed])
def test_billion_laughs_feed_keeps_its_entries_unexpanded(
    parse: Callable[[bytes, str], list[Any]],
) -> None:
    items = parse(fixture("feeds", "billion_laughs.xml"), f"{BASE}/rss")
    assert [i.title for i in items] == ["&lol9;", "A plain item"]
    assert [getattr(i, "url", None) or i.link for i in items] == [
        f"{BASE}/news/laughs-1",
        f"{BASE}/news/plain-2",
    ]


def test_one_big_entity_used_many_times_is_not_expanded() -> None:
    # feedparser's loose parser would expand it: a 300 MB title from a 1 MB feed.
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "' + b"x" * 1_000_000 + b'">\n]>\n'
        b"<rss version='2.0'><channel><item><title>" + b"&big;" * 300 + b"</title>"
        b"<link>https://ministry.example/a</link></item></channel></rss>"
    )
    (entry,) = parse_feed(body, f"{BASE}/rss")
    assert entry.title is not None and len(entry.title) < 2000


def test_external_entities_and_dtds_are_neither_read_nor_fetched(
    internal: LocalHTTPServer, secret_file: Path
) -> None:
    values = {"base": BASE, "internal": internal.base_url, "file": str(secret_file)}
    feed = hostile("feeds", "external_entities.xml", **values)
    (entry,) = parse_feed(feed, f"{BASE}/rss")
    assert entry.url == f"{BASE}/news/secret-1" and "SECRET" not in (entry.title or "")
    (item,) = parse_gnews_feed(feed, f"{BASE}/rss")
    assert "SECRET" not in (item.title or "")

    sitemap = parse_sitemap(hostile("sitemaps", "external_entities.xml", **values), BASE)
    # An unexpanded reference stays in the URL: never cut down to a plausible "/news/".
    # (urljoin drops the ";", an empty path parameter to it.)
    assert [e.url for e in sitemap.entries] == [
        f"{BASE}/news/&secret",
        f"{BASE}/news/&remote",
        f"{BASE}/news/plain-3",
    ]

    listing = parse_listing(hostile("listings", "hostile.html", **values), BASE, r"/en/news/")
    assert len(listing.article_urls) == 3
    assert not any("SECRET" in u or "lollol" in u for u in listing.article_urls)
    assert internal.requests == []  # no DTD, no entity, no stylesheet, nothing


@pytest.mark.parametrize("encoding", ["utf-16", "utf-7"])
def test_entity_declarations_are_found_in_any_encoding(encoding: str) -> None:
    text = (
        '<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;">]>'
        "<rss version='2.0'><channel><item><title>&lol1;</title>"
        "<link>https://ministry.example/a</link></item></channel></rss>"
    )
    (entry,) = parse_feed(text.encode(encoding), f"{BASE}/rss", f"text/xml; charset={encoding}")
    assert entry.title == "&lol1;"


def test_a_declared_character_entity_still_reads() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>\n'
        b"<rss version='2.0'><channel><item><title>A&nbsp;B</title>"
        b"<link>https://ministry.example/a</link></item></channel></rss>"
    )
    assert [e.title for e in parse_feed(body, f"{BASE}/rss")] == ["A\xa0B"]


@pytest.mark.parametrize(
    "prolog",
    [
        # A quote that never ends: where the DOCTYPE ends can't be known.
        b'<!DOCTYPE rss [<!ENTITY a "x>]>',
        # Declarations outside any DOCTYPE, which feedparser's own regex would read.
        b'junk\n<!ENTITY a "x">\n<!DOCTYPE rss>\n',
        # A second DOCTYPE after the first.
        b'<!DOCTYPE rss [<!ENTITY a "x">]><!DOCTYPE rss [<!ENTITY b "&a;&a;">]>',
    ],
)
def test_entity_declarations_that_cannot_be_removed_are_refused(prolog: bytes) -> None:
    body = prolog + b"<rss version='2.0'><channel><item><title>&a;</title></item></channel></rss>"
    for parse in (parse_feed, parse_gnews_feed):
        with pytest.raises(DiscoveryError) as error:
            parse(body, f"{BASE}/rss")
        assert error.value.reason == "unsafe XML"


def test_billion_laughs_sitemap_is_not_expanded() -> None:
    body = fixture("sitemaps", "billion_laughs.xml")
    try:
        entries = parse_sitemap(body, f"{BASE}/sitemap.xml").entries
    except DiscoveryError as error:  # libxml2 >= 2.11 refuses the document outright
        assert error.reason == "invalid XML"
        entries = []
    assert not any("lollol" in e.url for e in entries)


def test_gzip_feeds_are_decompressed_within_the_bound() -> None:
    feed = fixture("feeds", "rss2.xml")
    assert parse_feed(gzip.compress(feed), f"{BASE}/rss.xml") == parse_feed(feed, f"{BASE}/rss.xml")
    json_feed = fixture("feeds", "jsonfeed.json")
    assert len(parse_feed(gzip.compress(json_feed), f"{BASE}/feed.json")) == 2
    gnews = fixture("gnews", "search.xml")
    assert parse_gnews_feed(gzip.compress(gnews), BASE) == parse_gnews_feed(gnews, BASE)

    bomb = gzip.compress(rss_feed(1) + b" " * 5_000_000)
    for parse in (parse_feed, parse_gnews_feed):
        with pytest.raises(DiscoveryError, match="too large after decompression"):
            parse(bomb, f"{BASE}/rss", max_size=1_000_000)


def test_nested_gzip_is_bounded_at_every_layer() -> None:
    urlset = fixture("sitemaps", "urlset.xml")
    twice = gzip.compress(gzip.compress(urlset))
    assert parse_sitemap(twice, f"{BASE}/s.xml.gz").entries == parse_sitemap(urlset, BASE).entries
    with pytest.raises(DiscoveryError, match="gzip nested too deep"):
        parse_sitemap(gzip.compress(twice), f"{BASE}/s.xml.gz")
    # The outer layer is small; the inner one is the bomb.
    inner_bomb = gzip.compress(gzip.compress(b"<urlset>" + b" " * 5_000_000))
    assert len(inner_bomb) < 100_000
    with pytest.raises(DiscoveryError, match="too large after decompression"):
        parse_sitemap(inner_bomb, f"{BASE}/s.xml.gz", max_size=1_000_000)
    with pytest.raises(DiscoveryError, match="too large after decompression"):
        parse_feed(
            gzip.compress(gzip.compress(rss_feed(1) + b" " * 5_000_000)), BASE, max_size=10**6
        )


@pytest.mark.parametrize("items", [b"5", b"null", b'"items"', b'{"url": "https://a.example/"}'])
def test_json_feed_whose_items_are_not_a_list_is_not_a_feed(items: bytes) -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + items + b"}"
    with pytest.raises(DiscoveryError) as error:
        parse_feed(body, f"{BASE}/feed.json")
    assert error.value.reason == "not a feed"


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 100_000,
        b'{"version": "https://jsonfeed.org/version/1.1", "n": ' + b"9" * 5000 + b"}",
    ],
)
def test_json_that_python_refuses_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(DiscoveryError, match="not a feed"):
        parse_feed(body, f"{BASE}/feed.json")


def test_a_json_feed_without_items_is_empty() -> None:
    assert parse_feed(b'{"version": "https://jsonfeed.org/version/1"}', BASE) == []


def test_feed_entries_past_max_items_are_dropped_unparsed() -> None:
    document = parse_feed_document(rss_feed(25), f"{BASE}/rss", max_items=10)
    assert [e.url for e in document.entries] == [f"{BASE}/news/item-{n}" for n in range(10)]
    assert document.dropped == 15
    assert parse_feed_document(rss_feed(10), f"{BASE}/rss", max_items=10).dropped == 0

    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        + b"".join(
            b'<entry><title>E%d</title><link href="/e/%d"/><id>urn:e:%d</id></entry>' % (n, n, n)
            for n in range(7)
        )
        + b"</feed>"
    )
    document = parse_feed_document(atom, f"{BASE}/atom", max_items=3)
    assert [e.title for e in document.entries] == ["E0", "E1", "E2"] and document.dropped == 4

    # RSS 1.0: the <items> list of the channel is not an entry.
    rdf_items = "".join(
        f'<item rdf:about="{BASE}/r/{n}"><title>R{n}</title><link>{BASE}/r/{n}</link></item>'
        for n in range(3)
    )
    rdf = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>t</title>'
        f'<items><rdf:Seq><rdf:li resource="{BASE}/r/0"/></rdf:Seq></items></channel>'
        f"{rdf_items}</rdf:RDF>"
    )
    document = parse_feed_document(rdf.encode(), f"{BASE}/rss", max_items=1)
    assert [e.title for e in document.entries] == ["R0"] and document.dropped == 2

    items = ",".join(f'{{"url": "{BASE}/j/{n}"}}' for n in range(6))
    body = f'{{"version": "https://jsonfeed.org/version/1.1", "items": [{items}]}}'.encode()
    document = parse_feed_document(body, f"{BASE}/feed.json", max_items=4)
    assert [e.url for e in document.entries] == [f"{BASE}/j/{n}" for n in range(4)]
    assert document.dropped == 2


def test_a_huge_feed_is_cut_before_parsing() -> None:
    # 100,000 entries would take feedparser seconds; the cut leaves it five.
    document = parse_feed_document(rss_feed(100_000), f"{BASE}/rss", max_items=5)
    assert len(document.entries) == 5 and document.dropped == 99_995


def test_gnews_items_past_max_items_are_dropped() -> None:
    every = parse_gnews_feed(fixture("gnews", "search.xml"), BASE)
    feed = parse_gnews_document(fixture("gnews", "search.xml"), BASE, max_items=1)
    assert feed.items == every[:1] and feed.dropped == len(every) - 1


def test_sitemap_keeps_the_newest_entries_past_max_items() -> None:
    days = [5, 1, 9, 3, 7, 2]
    urls = "".join(
        f"<url><loc>/d{day}</loc><lastmod>2024-03-{day:02d}T10:00:00Z</lastmod></url>"
        for day in days
    )
    body = f"<urlset>{urls}<url><loc>/undated</loc></url></urlset>".encode()
    document = parse_sitemap(body, BASE, max_items=3)
    # The three newest, in document order; the undated one counts as the oldest.
    assert [e.url for e in document.entries] == [f"{BASE}/d5", f"{BASE}/d9", f"{BASE}/d7"]
    assert document.dropped == 4

    text = parse_sitemap(
        b"https://a.example/1\nhttps://a.example/2\nhttps://a.example/3\n", BASE, max_items=2
    )
    assert [e.url for e in text.entries] == ["https://a.example/1", "https://a.example/2"]
    assert text.dropped == 1


def test_listing_links_past_max_items_are_dropped() -> None:
    page = parse_listing(
        fixture("listings", "page1.html"), f"{BASE}/en/news/all", FOLLOW, "a[rel=next]", max_items=1
    )
    assert page.article_urls == [f"{BASE}/en/news/minister-visits-port-101"]
    assert page.dropped == 2 and page.next_url == f"{BASE}/en/news/all?page=2"
