"""The pure parts of ``scraper add`` and ``scraper check``: what a home page advertises,
the id a host suggests, the Google News edition, the source file's text."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from scraper.add import (
    Candidate,
    FeedLink,
    SiteReport,
    flag_problems,
    gnews_edition,
    home_of,
    homepage_url,
    is_news_sitemap,
    read_homepage,
    site_name,
    source_data,
    source_id_for,
    source_yaml,
    validate_source,
)
from scraper.discovery import Entry
from scraper.probe import parse_robots, short_reason


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.city.example", "city-example"),
        ("city.example", "city-example"),
        ("WWW.President.GOV.ua", "president-gov-ua"),
        ("www2.city.example", "city-example"),
        ("news.city.example.", "news-city-example"),
        ("127.0.0.1", "127-0-0-1"),
        ("xn--80ak6aa92e.com", "xn-80ak6aa92e-com"),
        ("", "source"),
    ],
)
def test_source_id_for_a_host(host: str, expected: str) -> None:
    assert source_id_for(host) == expected


def test_homepage_urls_as_typed_and_as_written() -> None:
    assert homepage_url("city.example") == "https://city.example"
    assert homepage_url(" http://city.example/en/ ") == "http://city.example/en/"
    assert home_of("https://www.city.example/") == "https://www.city.example"
    assert home_of("https://www.city.example") == "https://www.city.example"
    assert home_of("https://www.city.example/en/#top") == "https://www.city.example/en/"


HOME = b"""<!DOCTYPE html><html lang="pt-BR"><head>
<base href="https://www.city.example/portal/">
<title> Pagina | Cidade </title>
<meta property="og:site_name" content="Prefeitura  da Cidade">
<link rel="alternate" type="application/rss+xml" title="Noticias" href="rss.xml">
<link rel="alternate" type="application/atom+xml" href="/atom.xml#x">
<link rel="Alternate Feed" type="application/feed+json" href="https://cdn.city.example/f.json">
<link rel="alternate" type="application/rss+xml" title="Comentarios" href="/comments/feed">
<link rel="alternate" type="application/rss+xml" title="Noticias" href="rss.xml">
<link rel="alternate" hreflang="en" href="/en/">
<link rel="stylesheet" type="application/rss+xml" href="/not-a-feed.xml">
<link rel="alternate" type="application/rss+xml" href="javascript:void(0)">
</head><body><a href="/feed">a link is no advertisement</a></body></html>"""


def test_read_homepage_finds_advertised_feeds_name_and_language() -> None:
    facts = read_homepage(HOME, "https://www.city.example/", "text/html; charset=utf-8")
    assert facts.name == "Prefeitura da Cidade"
    assert facts.language_tag == "pt-BR"
    assert facts.language == "pt"
    assert [(f.url, f.type) for f in facts.feeds] == [
        ("https://www.city.example/portal/rss.xml", "application/rss+xml"),
        ("https://www.city.example/atom.xml", "application/atom+xml"),
        ("https://cdn.city.example/f.json", "application/feed+json"),
        ("https://www.city.example/comments/feed", "application/rss+xml"),
    ]
    assert [f.is_comments for f in facts.feeds] == [False, False, False, True]


def test_read_homepage_without_metadata() -> None:
    facts = read_homepage(b"<html><body>hi</body></html>", "https://city.example/")
    assert (facts.name, facts.language_tag, facts.language, facts.feeds) == (None, None, None, [])
    odd = read_homepage(b'<html lang="es-419"><title>x</title></html>', "https://city.example/")
    assert odd.language == "es"
    assert read_homepage(b'<html lang="fil">', "https://city.example/").language is None
    locale = b'<html><head><meta property="og:locale" content="uk_UA"></head></html>'
    assert read_homepage(locale, "https://city.example/").language == "uk"


@pytest.mark.parametrize(
    ("og", "title", "expected"),
    [
        ("City News", "Whatever", "City News"),
        (None, "Home | City News", "City News"),
        (None, "City News - Homepage", "City News"),
        (None, "Головна — Президент України", "Президент України"),
        (None, "City News: the daily paper", "City News: the daily paper"),
        (None, "  City\n  News ", "City News"),
        (" ", "", None),
        # Control characters (an escape code in the page) would make the source invalid.
        ("City\x1bNews\x00", "Whatever", "CityNews"),
        ("\x7f", "Home | City\x9b News", "City News"),
    ],
)
def test_site_name(og: str | None, title: str, expected: str | None) -> None:
    assert site_name(og, title) == expected


@pytest.mark.parametrize(
    ("tag", "host", "expected"),
    [
        ("en-GB", "www.city.example", ("en-GB", "GB", "GB:en")),
        ("uk", "www.president.gov.ua", ("uk", "UA", "UA:uk")),
        ("en", "www.gov.uk", ("en", "GB", "GB:en")),
        ("pt_BR", "www.city.example", ("pt-BR", "BR", "BR:pt")),
        ("en", "city.io", ("en-US", "US", "US:en")),
        (None, "www.president.gov.ua", ("en-US", "US", "US:en")),
        ("de", "city.example", ("en-US", "US", "US:en")),
    ],
)
def test_gnews_edition(tag: str | None, host: str, expected: tuple[str, str, str]) -> None:
    assert gnews_edition(tag, host) == expected


def test_news_sitemaps_give_titles_or_publication_dates() -> None:
    plain = [Entry("https://a.example/1", modified=datetime(2024, 5, 2, tzinfo=UTC))]
    assert not is_news_sitemap(plain)
    assert is_news_sitemap([*plain, Entry("https://a.example/2", published=date(2024, 5, 2))])
    assert is_news_sitemap([Entry("https://a.example/3", title="Story")])


def test_flag_problems_name_the_flag() -> None:
    assert flag_problems("city", None, "en", "https://city.example", "https://g.example") == []
    assert flag_problems("City!", "", "eng", "ftp://city.example", "news") == [
        "--id: 'City!' is not a slug (lower-case letters, digits, - and _)",
        "--name: String should have at least 1 character",
        "HOMEPAGE_URL: not an http(s) URL: 'ftp://city.example'",
        "--language: 'eng' is not a two-letter ISO 639-1 code",
        "--gnews-base-url: not an http(s) URL: 'news'",
    ]


def answered(kind: str, url: str, channel: dict[str, str], detail: str) -> Candidate:
    return Candidate(kind, url, "test", "ok", detail, url, channel=channel)


def test_the_source_file_lists_what_answered_feeds_first_and_validates() -> None:
    report = SiteReport("https://www.city.example/")
    report.facts = read_homepage(
        '<html lang="uk"><title>Home | Місто</title></html>'.encode(), report.homepage
    )
    gnews = {"kind": "gnews", "query": "site:city.example"}
    sitemap = {"kind": "sitemap", "url": "https://www.city.example/news.xml"}
    feed = {"kind": "feed", "url": "https://www.city.example/rss"}
    report.candidates = [
        answered("gnews", "site:city.example", gnews, "3 items"),
        answered("sitemap", sitemap["url"], sitemap, "news sitemap, 2 entries"),
        Candidate("feed", "https://www.city.example/feed", "common path", "failed", "HTTP 404"),
        answered("feed", feed["url"], feed, "5 entries"),
    ]

    text = source_yaml(
        source_data(report, "city-example", None, None), report, "scraper add city.example"
    )

    source = validate_source(text)
    assert source.name == "Місто"
    assert source.homepage == "https://www.city.example"
    assert source.language == "uk"
    assert [c.kind for c in source.discovery] == ["feed", "sitemap", "gnews"]
    assert "name: Місто\n" in text  # readable, not escaped
    assert "  # 5 entries (test)\n  - kind: feed\n    url: https://www.city.example/rss\n" in text
    assert text.startswith("# Written by 'scraper add city.example' on ")
    given = source_data(report, "town", "Town", "en")
    assert (given["id"], given["name"], given["language"]) == ("town", "Town", "en")


def test_robots_sitemaps_and_rules() -> None:
    robots = parse_robots(
        "User-agent: *\nDisallow: /private/\nSitemap: https://a.example/s.xml\n"
        "sitemap: https://a.example/news.xml\nSitemap: https://a.example/s.xml\n",
        "https://a.example/robots.txt",
    )
    assert robots.sitemaps == ["https://a.example/s.xml", "https://a.example/news.xml"]
    assert robots.allows("https://a.example/feed", "news-scraper/0.1")
    assert not robots.allows("https://a.example/private/feed", "news-scraper/0.1")
    assert parse_robots("", "https://a.example/robots.txt").allows("https://a.example/x", "b")


def test_fetch_error_reasons_lose_their_url() -> None:
    url = "https://a.example/feed"
    assert short_reason(f"{url}: HTTP 404", url) == "HTTP 404"
    assert short_reason("private address: http://127.0.0.1:9/", url) == "private address"
    assert short_reason(f"{url}: timed out", url) == "timed out"


def test_a_feed_link_named_comments_is_a_comments_feed() -> None:
    assert FeedLink("https://a.example/comments/feed", None, "application/rss+xml").is_comments
    assert FeedLink("https://a.example/f", "Comments Feed", "application/rss+xml").is_comments
    assert not FeedLink("https://a.example/feed", "News", "application/rss+xml").is_comments
