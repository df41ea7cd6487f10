"""process_page: a fetched page becomes a Document in the exact record format, or a Skip."""

from __future__ import annotations

import pickle
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper.document import Document, parse, render
from scraper.models import Discovery, FetchedPage, Skip, SourceDefaults
from scraper.normalize import process_page
from tests.support.record_page import build_article_html

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
ARTICLE_URL = "https://www.gov.example/en/news/ferry-service-resumes-4411"
FETCHED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_page(
    body: bytes | str,
    *,
    url: str = ARTICLE_URL,
    encoding: str | None = "utf-8",
    timezone: str = "America/Sao_Paulo",
    **discovery: Any,
) -> FetchedPage:
    """A page as the crawl hands it over; ``discovery`` sets Discovery fields, and the
    special keys ``language`` and ``allow_crawl_time`` set the source's."""
    language = discovery.pop("language", None)
    allow_crawl_time = discovery.pop("allow_crawl_time", False)
    source = SourceDefaults(
        source_id="gov-example",
        name="Government of Example",
        homepage="https://www.gov.example",
        language=language,
        type="Notícias",
        allow_crawl_time=allow_crawl_time,
    )
    return FetchedPage(
        discovery=Discovery(
            **{
                "url": url,
                "source_id": "gov-example",
                "channel": "feed",
                "aggregator": "RSS",
                **discovery,
            }
        ),
        source=source,
        url=url,
        body=body.encode("utf-8") if isinstance(body, str) else body,
        encoding=encoding,
        timezone=timezone,
        fetched_at=FETCHED_AT,
    )


def fixture(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def document(page: FetchedPage) -> Document:
    result = process_page(page)
    assert isinstance(result, Document), result
    return result


def skip_reason(page: FetchedPage) -> str:
    result = process_page(page)
    assert isinstance(result, Skip), result
    return result.reason


# --------------------------------------------------------------------------- acceptance


def test_google_news_article_renders_exactly_like_the_reference_record(record_text: str) -> None:
    """DESIGN section 2: the real record, rebuilt from a realistic page, byte for byte."""
    original = record_text
    record = parse(original)
    headline = record.title.split(" - Офіційне")[0]
    html = build_article_html(record, headline=headline, date_line="6 December 2023 - 10:46")
    page = make_page(
        html,
        url=record.url,
        channel="gnews",
        aggregator="GNews",
        title=record.title,
        published=datetime(2023, 12, 6, 8, 0, tzinfo=UTC),
        publisher_name=record.source_name,
        publisher_url=record.source_url,
    )

    result = process_page(page)

    assert isinstance(result, Document), result
    assert render(result) == original


def test_reference_article_found_only_through_its_page(record_text: str) -> None:
    """Without a channel title or date, the page itself gives the same record."""
    record = parse(record_text)
    headline = record.title.split(" - Офіційне")[0]
    html = build_article_html(record, headline=headline, date_line="6 December 2023 - 10:46")

    doc = document(make_page(html, url=record.url))

    assert doc.content == record.content
    assert doc.title == headline
    assert doc.published == record.published
    assert doc.language == "en"


# --------------------------------------------------------------------------- content


def test_text_starts_with_the_first_sentence_not_headline_date_or_byline() -> None:
    doc = document(make_page(fixture("furniture_in_body.html"), published=date(2024, 3, 14)))
    assert doc.paragraphs[0].startswith("The ferry connection between the harbour")
    assert len(doc.paragraphs) == 4
    assert "Helen Marsh" not in doc.content
    assert "09:30" not in doc.content
    assert "Ministry of Transport" not in doc.content  # footer


def test_lead_printed_apart_from_the_text_is_kept_as_first_paragraph() -> None:
    doc = document(make_page(fixture("standfirst_lead.html")))
    assert doc.paragraphs[0].startswith("The libraries will offer free internet access")
    assert doc.paragraphs[1].startswith("Twelve new public libraries opened on Thursday")


def test_related_news_cards_are_not_content() -> None:
    doc = document(make_page(fixture("related_cards.html")))
    assert doc.paragraphs[-1] == (
        "The utility company will inspect the remaining pipes of the same age over the "
        "coming months."
    )
    assert "tariffs" not in doc.content


def test_page_without_article_text_is_skipped() -> None:
    assert skip_reason(make_page(fixture("navigation_only.html"))) == "no article text"


# --------------------------------------------------------------------------- title


def test_channel_title_is_kept_as_given() -> None:
    title = "Ferry service to the northern islands resumes after repairs - Ministry of Transport"
    doc = document(make_page(fixture("furniture_in_body.html"), title=title))
    assert doc.title == title


def test_page_title_is_used_without_site_name_when_channel_has_none() -> None:
    doc = document(make_page(fixture("furniture_in_body.html")))
    assert doc.title == "Ferry service to the northern islands resumes after repairs"


def test_a_title_of_invisible_characters_gives_way_to_the_next_one() -> None:
    # Zero-width spaces and joiners, a soft hyphen, a no-break space: a blank title line.
    invisible = "\u200b\u200c\u00ad\u00a0\u2060"
    page = fixture("furniture_in_body.html").replace(
        b'<meta property="og:title" content="Ferry service to the northern islands resumes '
        b'after repairs | Ministry of Transport">',
        f'<meta property="og:title" content="{invisible}">'.encode(),
    )
    assert invisible.encode() in page
    assert document(make_page(page)).title == (
        "Ferry service to the northern islands resumes after repairs"
    )
    assert document(make_page(page, title=invisible)).title == (
        "Ferry service to the northern islands resumes after repairs"
    )


# --------------------------------------------------------------------------- date


def test_channel_date_wins_and_is_converted_to_output_zone() -> None:
    # The page dates itself 2024-03-14 too (meta tag, date line): the channel's time wins.
    page = make_page(
        fixture("furniture_in_body.html"), published=datetime(2024, 3, 14, 8, 0, tzinfo=UTC)
    )
    doc = document(page)
    assert render(doc).split("\n")[2] == ">Data: 2024-03-14 05:00:00-03:00"
    assert (doc.published_original, doc.date_source) == ("2024-03-14T08:00:00+00:00", "feed")


def test_channel_date_outweighs_a_single_page_date() -> None:
    # The page only prints "Published on 2023-10-02" (e.g. the feed lists a re-issue).
    page = make_page(
        fixture("visible_date_only.html"), published=datetime(2023, 12, 6, 8, 0, tzinfo=UTC)
    )
    assert document(page).published.isoformat(sep=" ") == "2023-12-06 05:00:00-03:00"


def test_page_that_dates_itself_twice_outweighs_the_channel() -> None:
    # A feed whose every item carries the feed's build time is common; the page's meta
    # tag and its date line agree on another day, and two independent witnesses win.
    page = make_page(
        fixture("furniture_in_body.html"), published=datetime(2023, 12, 6, 8, 0, tzinfo=UTC)
    )
    doc = document(page)
    assert doc.published.isoformat(sep=" ") == "2024-03-14 06:30:00-03:00"
    assert (doc.published_original, doc.date_source) == ("2024-03-14T09:30:00+00:00", "meta")


def test_channel_date_without_time_stays_on_its_day() -> None:
    doc = document(make_page(fixture("visible_date_only.html"), published=date(2023, 12, 6)))
    assert doc.published.isoformat(sep=" ") == "2023-12-06 00:00:00-03:00"
    assert (doc.published_original, doc.date_source) == ("2023-12-06", "feed")


@pytest.mark.parametrize(
    ("channel", "source"), [("feed", "feed"), ("gnews", "feed"), ("sitemap", "sitemap")]
)
def test_date_source_names_the_channel_kind(channel: str, source: str) -> None:
    page = make_page(
        fixture("visible_date_only.html"), channel=channel, published=date(2023, 10, 2)
    )
    assert document(page).date_source == source


def test_listing_channel_gives_no_date() -> None:
    page = make_page(
        fixture("visible_date_only.html"),
        channel="listing",
        aggregator="Web",
        published=date(2020, 1, 1),
    )
    doc = document(page)
    assert (doc.published_original, doc.date_source) == ("2023-10-02", "text")


def test_midnight_with_an_offset_is_an_instant_from_feed_and_page_alike() -> None:
    # 2023-12-06T00:00:00+02:00 is 2023-12-05 19:00 in Sao Paulo, whoever states it.
    stated = "2023-12-06T00:00:00+02:00"
    from_feed = document(
        make_page(fixture("no_date.html"), published=datetime.fromisoformat(stated))
    )
    page_html = fixture("no_date.html").replace(
        b"</head>", f'<meta property="article:published_time" content="{stated}"></head>'.encode()
    )
    from_page = document(make_page(page_html))
    for doc in (from_feed, from_page):
        assert doc.published.isoformat(sep=" ") == "2023-12-05 19:00:00-03:00"
        assert doc.published_original == stated
    assert (from_feed.date_source, from_page.date_source) == ("feed", "meta")


@pytest.mark.parametrize("stated_by", ["feed", "page"])
@pytest.mark.parametrize(
    ("source_zone", "expected"),
    [
        (None, "2024-04-22 14:09:42-03:00"),  # read in the output zone
        ("Europe/Kyiv", "2024-04-22 08:09:42-03:00"),  # read in the source's zone
    ],
)
def test_zone_less_time_is_read_in_the_source_zone_when_configured(
    source_zone: str | None, expected: str, stated_by: str
) -> None:
    html = fixture("no_date.html")
    if stated_by == "page":
        html = html.replace(
            b"</head>",
            b'<meta property="article:published_time" content="2024-04-22T14:09:42"></head>',
        )
        page = make_page(html)
    else:
        page = make_page(html, published=datetime(2024, 4, 22, 14, 9, 42))
    page = replace(page, source=replace(page.source, timezone=source_zone))
    doc = document(page)
    assert doc.published.isoformat(sep=" ") == expected
    assert doc.published_original == "2024-04-22T14:09:42"
    assert doc.date_source == ("meta" if stated_by == "page" else "feed")


def test_page_metadata_date_is_used_when_channel_has_none() -> None:
    # article:published_time 2024-03-14T09:30:00+00:00, date line "14.03.2024, 09:30"
    doc = document(make_page(fixture("furniture_in_body.html")))
    assert doc.published.isoformat(sep=" ") == "2024-03-14 06:30:00-03:00"
    assert (doc.published_original, doc.date_source) == ("2024-03-14T09:30:00+00:00", "meta")


def test_a_date_no_zone_can_hold_costs_the_page_nothing() -> None:
    # .NET's empty date with an offset ended the page with OverflowError (as a failure),
    # whatever else the page said; now it is one clue that is not a date.
    html = fixture("furniture_in_body.html").replace(
        b"<head>",
        b'<head><script type="application/ld+json">{"@type": "NewsArticle",'
        b' "datePublished": "0001-01-01T00:00:00+01:00"}</script>',
        1,
    )
    doc = document(make_page(html))
    assert doc.published.isoformat(sep=" ") == "2024-03-14 06:30:00-03:00"


def test_output_zone_comes_from_the_page_settings() -> None:
    doc = document(make_page(fixture("furniture_in_body.html"), timezone="Europe/Kyiv"))
    assert doc.published.isoformat(sep=" ") == "2024-03-14 11:30:00+02:00"


def test_date_printed_only_in_the_page_is_found_as_a_day() -> None:
    doc = document(make_page(fixture("visible_date_only.html")))
    assert doc.published.isoformat(sep=" ") == "2023-10-02 00:00:00-03:00"
    assert (doc.published_original, doc.date_source) == ("2023-10-02", "text")


def test_page_without_date_is_skipped() -> None:
    assert skip_reason(make_page(fixture("no_date.html"))) == "no publication date"


def test_crawl_time_is_used_only_when_the_source_allows_it() -> None:
    doc = document(make_page(fixture("no_date.html"), allow_crawl_time=True))
    assert doc.published == FETCHED_AT
    assert doc.published.isoformat(sep=" ") == "2026-01-01 09:00:00-03:00"
    assert (doc.published_original, doc.date_source) == ("2026-01-01T12:00:00+00:00", "crawl")


def test_copyright_year_is_not_a_publication_date() -> None:
    html = fixture("no_date.html").replace(
        b"</body>", "<footer><p>© 2025 Ministry of Transport</p></footer></body>".encode()
    )
    assert skip_reason(make_page(html)) == "no publication date"


def test_implausible_channel_date_falls_back_to_the_page() -> None:
    page = make_page(fixture("furniture_in_body.html"), published=date(1970, 1, 1))
    assert document(page).published.date() == date(2024, 3, 14)


# --------------------------------------------------------------------------- language


def _page_in(text: str, html_attrs: str = "", head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html {html_attrs}><head><title>Aviso</title>{head}"
        '<meta property="article:published_time" content="2024-02-01T10:00:00Z"></head>'
        f"<body><article><p>{text}</p></article></body></html>"
    )


PORTUGUESE_TEXT = (
    "A prefeitura anunciou nesta quinta-feira a abertura de inscrições para os cursos "
    "gratuitos de qualificação profissional. As vagas são destinadas a moradores da cidade "
    "com mais de dezesseis anos, e as aulas começam no próximo mês nas escolas municipais. "
    "Os interessados devem levar documento de identidade e comprovante de residência."
)


def test_configured_language_wins() -> None:
    page = make_page(_page_in(PORTUGUESE_TEXT, 'lang="pt-BR"'), language="es")
    assert document(page).language == "es"


@pytest.mark.parametrize(
    ("html_attrs", "head"),
    [
        ('lang="pt-BR"', ""),
        ('lang="PT_br"', ""),
        ("", '<meta property="og:locale" content="pt_BR">'),
        ("", '<meta http-equiv="Content-Language" content="pt-BR, en">'),
    ],
)
def test_declared_language_is_reduced_to_two_letters(html_attrs: str, head: str) -> None:
    assert document(make_page(_page_in(PORTUGUESE_TEXT, html_attrs, head))).language == "pt"


def test_language_is_detected_from_the_text_when_nothing_is_declared() -> None:
    assert document(make_page(_page_in(PORTUGUESE_TEXT))).language == "pt"


def test_template_default_language_does_not_override_clear_text() -> None:
    # CMS templates often say lang="en-US" whatever the article's language.
    assert document(make_page(_page_in(PORTUGUESE_TEXT, 'lang="en-US"'))).language == "pt"


# --------------------------------------------------------------------------- origin, URL, type


def test_google_news_publisher_is_the_origin() -> None:
    page = make_page(
        fixture("furniture_in_body.html"),
        channel="gnews",
        aggregator="GNews",
        publisher_name="Ministry of Transport",
        publisher_url="https://transport.gov.example",
    )
    doc = document(page)
    assert (doc.source_name, doc.source_url) == (
        "Ministry of Transport",
        "https://transport.gov.example",
    )
    assert doc.aggregator == "GNews"


def test_source_config_is_the_origin_otherwise() -> None:
    doc = document(make_page(fixture("furniture_in_body.html")))
    assert (doc.source_name, doc.source_url) == ("Government of Example", "https://www.gov.example")
    assert (doc.type, doc.aggregator) == ("Notícias", "RSS")


def test_url_is_normalized_and_canonical_link_to_another_host_is_ignored() -> None:
    html = (
        _page_in(PORTUGUESE_TEXT)
        .replace("<head>", '<head><link rel="canonical" href="https://mirror.example/x">')
        .encode()
    )
    url = "https://WWW.Gov.Example/en/news/item-7?utm_source=rss&id=7#comments"
    doc = document(make_page(html, url=url))
    assert doc.url == "https://www.gov.example/en/news/item-7?id=7"
    assert doc.canonical_url is None


def test_url_is_the_identity_of_the_final_url_after_redirects() -> None:
    listed = "https://www.gov.example/spip.php?article101&utm_source=rss"
    page = make_page(_page_in(PORTUGUESE_TEXT), url=listed, listed_url=listed)
    page = replace(page, url="https://www.gov.example/spip.php?article101&amp;lang=pt#top")
    assert document(page).url == "https://www.gov.example/spip.php?article101&lang=pt"


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        # Same site, another URL: reported, as an identity.
        (['<link rel="canonical" href="/en/news/item-7?utm_source=x">'], "/en/news/item-7"),
        (['<link rel="Canonical" href="http://gov.example/en/news/item-7">'], "http:"),
        (['<link rel="alternate canonical" href="/en/news/item-7">'], "/en/news/item-7"),
        # The page's own URL, another site, several different ones, none: nothing.
        (['<link rel="canonical" href="/en/news/item-7-print?id=3#x">'], None),
        (['<link rel="canonical" href="https://news.gov.example/en/news/item-7">'], None),
        (
            [
                '<link rel="canonical" href="/en/news/item-7">',
                '<link rel="canonical" href="/en/news/item-8">',
            ],
            None,
        ),
        (['<link rel="canonical" href="javascript:void(0)">'], None),
        ([], None),
    ],
)
def test_same_site_canonical_link_is_reported(links: list[str], expected: str | None) -> None:
    html = _page_in(PORTUGUESE_TEXT).replace("<head>", "<head>" + "".join(links))
    url = "https://www.gov.example/en/news/item-7-print?id=3"
    doc = document(make_page(html, url=url))
    assert doc.url == url  # the canonical link never replaces the URL
    if expected is None:
        assert doc.canonical_url is None
    elif expected == "http:":
        assert doc.canonical_url == "http://gov.example/en/news/item-7"
    else:
        assert doc.canonical_url == "https://www.gov.example" + expected
    assert parse(render(doc)) == doc  # not part of the record


# --------------------------------------------------------------------------- bad input


def test_page_with_wrong_charset_declaration_is_read_correctly() -> None:
    html = _page_in(PORTUGUESE_TEXT).replace("<head>", '<head><meta charset="windows-1252">')
    doc = document(make_page(html.encode("cp1252"), encoding="utf-8"))
    assert "qualificação profissional" in doc.content


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty page"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >>", "not HTML"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "not HTML"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>', "not HTML"),
        (bytes((i * 97 + 13) % 255 + 1 for i in range(4000)), "undecodable page"),
    ],
)
def test_unusable_bodies_are_skipped_with_their_reason(body: bytes, reason: str) -> None:
    assert skip_reason(make_page(body, encoding=None)) == reason


def test_an_article_nested_deeper_than_256_levels_keeps_its_text() -> None:
    # libxml2 stopped nesting at 256 levels and dropped the rest: an old page of
    # unclosed <font> tags was skipped as "no article text".
    page = fixture("furniture_in_body.html")
    deep = page.replace(b"<body>", b"<body>" + b"<font>" * 600, 1)
    assert document(make_page(deep)).content == document(make_page(page)).content


def test_a_stray_nul_in_the_head_does_not_make_an_article_binary() -> None:
    # One NUL in the first KiB made the whole page "not HTML".
    page = fixture("furniture_in_body.html").replace(
        b"<head>", b'<head><meta name="x" content="a\x00b">', 1
    )
    assert b"\x00" in page[:1024]
    assert (
        document(make_page(page)).content
        == document(make_page(fixture("furniture_in_body.html"))).content
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: f"<html><body><p>{t}</p></body></html>".encode()),
    ),
    encoding=st.sampled_from([None, "utf-8", "latin-1", "x-unknown", "utf-16"]),
)
def test_process_page_never_raises(body: bytes, encoding: str | None) -> None:
    result = process_page(make_page(body, encoding=encoding))
    assert isinstance(result, Document | Skip)
    if isinstance(result, Skip):
        assert not result.failure, result.reason  # bad input is a skip, not a crash
        # Reasons are counted in the crawl summary: short, no URLs, no numbers.
        assert not re.search(r"\d|://", result.reason)
        assert len(result.reason) <= 40


def test_process_page_and_its_results_cross_process_boundaries() -> None:
    page = make_page(fixture("furniture_in_body.html"))
    assert pickle.loads(pickle.dumps(process_page)) is process_page
    assert pickle.loads(pickle.dumps(page)) == page
    result = process_page(page)
    assert pickle.loads(pickle.dumps(result)) == result


def test_invalid_time_zone_is_reported_as_a_failure_not_raised() -> None:
    result = process_page(
        replace(make_page(fixture("furniture_in_body.html")), timezone="Mars/Base")
    )
    assert isinstance(result, Skip)
    assert result.failure
