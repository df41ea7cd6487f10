"""Decoding, parsing, page metadata, titles and main-text clean-up (scraper.extract)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.dates import DateClue
from scraper.extract import (
    UnusablePage,
    decode_html,
    extract_paragraphs,
    page_title,
    parse_html,
    read_metadata,
    restore_lead,
    strip_leading_furniture,
    strip_site_name,
)

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"

RUSSIAN = (
    "<html><head>{meta}<title>Новости</title></head><body><p>Сегодня в столице прошло "
    "заседание правительства, на котором обсуждались вопросы бюджета.</p></body></html>"
)
CHINESE = (
    "<html><head><title>新闻</title></head><body><p>今天上午，市政府召开新闻发布会，"
    "介绍了今年以来全市经济运行情况。发言人表示，工业生产保持稳定增长，消费市场持续回暖。"
    "</p></body></html>"
)
PORTUGUESE = (
    "<html><head><title>Notícias</title></head><body><p>O governo anunciou nesta terça-feira "
    "uma série de medidas para a educação pública. Segundo o ministério, as ações começam no "
    "próximo mês e incluem a reforma de escolas e a contratação de professores.</p></body></html>"
)


# --------------------------------------------------------------------------- decoding


def test_utf8_page_declared_as_latin1_is_read_as_utf8() -> None:
    page = RUSSIAN.format(meta="")
    assert decode_html(page.encode("utf-8"), "iso-8859-1") == page


def test_http_charset_is_honoured() -> None:
    page = RUSSIAN.format(meta="")
    assert decode_html(page.encode("cp1251"), "windows-1251") == page


def test_wrong_http_charset_falls_back_to_meta_charset() -> None:
    page = RUSSIAN.format(meta='<meta charset="windows-1251">')
    assert decode_html(page.encode("cp1251"), "utf-8") == page


def test_gb2312_declaration_is_read_as_its_superset() -> None:
    page = CHINESE.replace("<head>", '<head><meta charset="gb2312">')
    body = page.replace("工业", "工業").encode("gb18030")  # a character outside GB2312
    assert decode_html(body, None) == page.replace("工业", "工業")


@pytest.mark.parametrize(
    ("page", "encoding"),
    [(CHINESE, "gb2312"), (RUSSIAN.format(meta=""), "cp1251"), (PORTUGUESE, "cp1252")],
)
def test_undeclared_legacy_encodings_are_detected(page: str, encoding: str) -> None:
    assert decode_html(page.encode(encoding), None) == page


def test_utf16_declared_over_http_needs_no_byte_order_mark() -> None:
    page = RUSSIAN.format(meta="")
    assert decode_html(page.encode("utf-16-le"), "UTF-16LE") == page


def test_byte_order_mark_wins() -> None:
    page = RUSSIAN.format(meta="")
    assert decode_html("\ufeff".encode("utf-16-le") + page.encode("utf-16-le"), "latin-1") == page


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty page"),
        (b"   \n\t ", "empty page"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not HTML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not HTML"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "not HTML"),
        (b"<html>\x00\x01\x00\x02\x00</html>", "not HTML"),  # NULs in number: binary
    ],
)
def test_pages_that_are_no_text_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(UnusablePage) as refused:
        decode_html(body, None)
    assert refused.value.reason == reason


def test_noise_that_decodes_to_nothing_readable_is_undecodable() -> None:
    noise = bytes((i * 97 + 13) % 255 + 1 for i in range(4000))
    with pytest.raises(UnusablePage) as refused:
        decode_html(noise, None)
    assert refused.value.reason == "undecodable page"


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>',
        '<?xml version="1.0"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
        "Just a plain text answer, without any markup at all.",
    ],
)
def test_feeds_sitemaps_and_plain_text_are_not_html(text: str) -> None:
    with pytest.raises(UnusablePage) as refused:
        parse_html(text)
    assert refused.value.reason == "not HTML"


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize(
    ("title", "site_names", "host", "expected"),
    [
        (
            "Ferry service resumes | Ministry of Transport",
            ["Ministry of Transport"],
            "",
            "Ferry service resumes",
        ),
        (
            "Trump-Anwältin soll Justizministerin werden - news.ORF.at",
            [],
            "orf.at",
            "Trump-Anwältin soll Justizministerin werden",
        ),
        (
            "Russland-Wahl: Nadeschdin setzt auf Putin-Ära – DW – 30.01.2024",
            ["dw.com"],
            "",
            "Russland-Wahl: Nadeschdin setzt auf Putin-Ära",
        ),
        (
            "宮崎県で震度5弱の地震：朝日新聞デジタル",
            ["朝日新聞デジタル"],
            "",
            "宮崎県で震度5弱の地震",
        ),
        ("Home Office - Budget approved", ["Home Office"], "", "Budget approved"),
        (
            "Budget approved - President of Ukraine",
            [],
            "www.president.gov.ua",
            "Budget approved",
        ),
    ],
)
def test_site_name_is_removed_from_titles(
    title: str, site_names: list[str], host: str, expected: str
) -> None:
    assert strip_site_name(title, site_names, host) == expected


@pytest.mark.parametrize(
    "title",
    [
        "Ausschuss zur Ahrtal-Flut: Zwei Rücktritte - und viele offene Fragen",
        "Tårene rant for stavhopper – så kom sjokkvendingen",
        "Budget 2024 - what changes for families",
    ],
)
def test_headlines_with_separators_of_their_own_stay_whole(title: str) -> None:
    assert strip_site_name(title, ["tagesschau.de", "NRK"], "www.gov.example") == title


def test_page_title_prefers_og_title_then_jsonld_then_h1_then_title() -> None:
    def title_of(head: str, body: str = "") -> str | None:
        tree = parse_html(f"<html><head>{head}</head><body>{body}<p>x</p></body></html>")
        return page_title(read_metadata(tree), "https://www.gov.example/news/1")

    og = '<meta property="og:title" content="From og">'
    jsonld = (
        '<script type="application/ld+json">'
        '{"@type": "NewsArticle", "headline": "From LD"}</script>'
    )
    h1 = "<h1>From h1</h1>"
    assert title_of(og + jsonld + "<title>From title</title>", h1) == "From og"
    assert title_of(jsonld + "<title>From title</title>", h1) == "From LD"
    assert title_of("<title>From title</title>", h1) == "From h1"
    assert title_of("<title>From title</title>") == "From title"
    assert title_of("") is None


def test_jsonld_of_the_article_wins_over_other_objects() -> None:
    tree = parse_html(
        "<html><head>"
        '<script type="application/ld+json">{"@type": "VideoObject", "name": "Clip",'
        ' "datePublished": "2021-12-22T10:34:26+01:00"}</script>'
        '<script type="application/ld+json">{"@graph": [{"@type": "BreadcrumbList"},'
        ' {"@type": "NewsArticle", "headline": "Story",'
        ' "datePublished": "2025-06-17T18:24:10+02:00", "author": [{"name": "Ana Lima"}]}]}'
        "</script></head><body><p>x</p></body></html>"
    )
    metadata = read_metadata(tree)
    assert metadata.jsonld_headline == "Story"
    assert metadata.dates[0] == DateClue("2025-06-17T18:24:10+02:00", "jsonld", "published")
    assert metadata.authors == ("Ana Lima",)


# --------------------------------------------------------------------------- dates


def date_clues(html: str) -> tuple[DateClue, ...]:
    return read_metadata(parse_html(html)).dates


def test_jsonld_meta_and_microdata_dates_with_their_roles() -> None:
    clues = date_clues(
        "<html><head>"
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Story",'
        ' "datePublished": "2024-01-30T10:00:00Z", "dateModified": "2024-02-01T09:00:00Z"}'
        "</script>"
        '<meta property="article:modified_time" content="2024-02-01T09:00:00Z">'
        '<meta name="date" content="2024-02-01">'
        '<meta property="og:published_time" content="2024-01-30T11:00:00+01:00">'
        '<meta name="publisher" content="City">'
        "</head><body><span itemprop='datePublished' content='2024-01-30'>30 Jan</span>"
        "<p>x</p></body></html>"
    )
    assert clues == (
        DateClue("2024-01-30T10:00:00Z", "jsonld", "published"),
        DateClue("2024-02-01T09:00:00Z", "jsonld", "modified"),
        DateClue("2024-01-30T11:00:00+01:00", "meta", "published"),
        DateClue("2024-01-30", "meta", "published"),
        DateClue("2024-02-01T09:00:00Z", "meta", "modified"),
        DateClue("2024-02-01", "meta", "date"),
    )


def test_date_line_by_the_headline_that_the_title_names() -> None:
    # The <h1> is the site's name; the headline is the <h2> the <title> repeats.
    clues = date_clues(
        "<html><head><title>Ferry resumes service | Port News</title></head><body>"
        "<h1>Port News</h1><p>Today 1 January 2026</p><div class='post'>"
        "<h2>Ferry resumes service</h2><p>Posted on 6 December 2023 by Ana</p>"
        "<p>The ferry connection will run again from Monday, 11 December 2023.</p>"
        "</div></body></html>"
    )
    assert clues == (DateClue("Posted on 6 December 2023 by Ana", "text", "published"),)


def test_time_elements_of_the_article_not_of_the_page() -> None:
    clues = date_clues(
        "<html><head><title>Story</title></head><body>"
        "<nav><time>Saturday, 19 October 2019</time></nav>"
        "<article><h1>Story</h1><time datetime='2019-10-18T17:08:11+02:00'>18.10.2019</time>"
        "<time class='updated' datetime='2019-10-18T19:00:00+02:00'>19:00</time>"
        "<p>Text of the story, long enough to be the story.</p></article>"
        "<aside><time datetime='2019-10-01'>1 Oct</time></aside></body></html>"
    )
    times = [clue for clue in clues if clue.source == "time"]
    assert times == [
        DateClue("2019-10-18T17:08:11+02:00", "time", "date"),
        DateClue("2019-10-18T19:00:00+02:00", "time", "modified"),
    ]


@pytest.mark.parametrize(
    ("lang", "month_first"),
    [("en-US", True), ("en-us", True), ("en-GB", False), ("de", False), ("en", None), ("", None)],
)
def test_how_the_page_writes_slashed_dates(lang: str, month_first: bool | None) -> None:
    html = f"<html lang='{lang}'><head><title>x</title></head><body><p>x</p></body></html>"
    assert read_metadata(parse_html(html)).month_first is month_first


def test_page_after_a_php_warning_is_still_the_whole_document() -> None:
    tree = parse_html(
        "<br />\n<b>Warning</b>: mysql_connect(): no such host in x.php<br />\n"
        "<!DOCTYPE html><html><head><title>Story</title>"
        '<meta property="article:published_time" content="2014-05-18T10:00:00+02:00">'
        "</head><body><h1>Story</h1><p>Text.</p></body></html>"
    )
    assert tree.tag == "html"
    assert read_metadata(tree).html_title == "Story"


# --------------------------------------------------------------------------- main text

HEADLINES = ["Ferry service to the northern islands resumes after repairs"]
FIRST_SENTENCE = "The ferry connection between the harbour and the islands will run again."


@pytest.mark.parametrize(
    "furniture",
    [
        ["Ferry service to the northern islands resumes after repairs"],
        ["TRANSPORT", "Ferry service to the northern islands resumes after repairs"],
        ["Ferry service to the northern islands resumes after repairs | Ministry"],
        ["14.03.2024, 09:30", "By Helen Marsh"],
        ["Stand: 14.03.2024, 09:30 Uhr", "Von Helen Marsh"],
        ["6 December 2023 - 10:46"],
        ["Helen Marsh, Ministry of Transport"],
    ],
)
def test_headline_date_line_and_byline_are_removed_from_the_top(furniture: list[str]) -> None:
    blocks = [*furniture, FIRST_SENTENCE, "Timetables are available at the terminal."]
    headlines = [*HEADLINES, "TRANSPORT: Ferry service to the northern islands resumes"]
    kept = strip_leading_furniture(blocks, headlines, ["Helen Marsh"])
    assert kept == [FIRST_SENTENCE, "Timetables are available at the terminal."]


def test_byline_below_the_first_paragraph_is_removed_too() -> None:
    blocks = [FIRST_SENTENCE, "By Helen Marsh", "Timetables are available at the terminal."]
    assert strip_leading_furniture(blocks, HEADLINES, []) == [blocks[0], blocks[2]]


@pytest.mark.parametrize(
    "first",
    [
        "By noon on Monday, 3,000 passengers had crossed on the new ferry line to the islands.",
        "In 2023 the ferry carried more passengers than ever before.",
        "Ukraine was also represented by Ruslan Stefanchuk and Rustem Umerov.",
        "Di Maio resigned.",
    ],
)
def test_real_first_sentences_are_kept(first: str) -> None:
    blocks = [first, "Timetables are available at the terminal."]
    assert strip_leading_furniture(blocks, HEADLINES, ["Rustem Umerov"]) == blocks


def test_short_sentences_with_a_date_below_the_first_paragraph_are_kept() -> None:
    blocks = [FIRST_SENTENCE, "The vote is set for 14.03.2025.", "Timetables are posted."]
    assert strip_leading_furniture(blocks, HEADLINES, []) == blocks


def test_dates_further_down_the_text_are_kept() -> None:
    blocks = [f"Paragraph number {i} of the article, long enough to be text." for i in range(8)]
    blocks.append("14.03.2024")
    assert strip_leading_furniture(blocks, HEADLINES, []) == blocks


LEAD = "The libraries will offer free internet access, reading rooms and weekend activities."


def _lead_page(before: str, after: str = "") -> str:
    return (
        f"<html><body>{before}<div class='body'><p>Twelve new public libraries opened on"
        f" Thursday.</p><p>Each has eight thousand books.</p></div>{after}</body></html>"
    )


def test_lead_shown_above_the_text_is_restored() -> None:
    tree = parse_html(_lead_page(f"<div class='standfirst'>{LEAD}</div>"))
    blocks = ["Twelve new public libraries opened on Thursday.", "Each has eight thousand books."]
    assert restore_lead(blocks, tree, LEAD) == [LEAD, *blocks]


@pytest.mark.parametrize(
    "page",
    [
        _lead_page("", after=f"<footer><p>{LEAD}</p></footer>"),  # below the text
        _lead_page(""),  # only in the metadata
    ],
)
def test_description_not_shown_as_a_lead_is_not_added(page: str) -> None:
    blocks = ["Twelve new public libraries opened on Thursday.", "Each has eight thousand books."]
    assert restore_lead(blocks, parse_html(page), LEAD) == blocks


def test_lead_already_in_the_text_is_not_repeated() -> None:
    tree = parse_html(_lead_page(f"<p>{LEAD}</p>"))
    blocks = [LEAD, "Twelve new public libraries opened on Thursday."]
    assert restore_lead(blocks, tree, LEAD) == blocks


def test_teaser_cards_inside_the_article_are_left_out() -> None:
    tree = parse_html((PAGES / "related_cards.html").read_text(encoding="utf-8"))
    text = "\n".join(extract_paragraphs(tree, "https://www.gov.example/news/water"))
    assert "Water supply to all homes in the eastern district" in text
    assert "inspect the remaining pipes" in text
    for teaser in ("Road works on the ring road", "New water tariffs", "drought plan"):
        assert teaser not in text


def test_extraction_does_not_modify_the_shared_tree() -> None:
    html = (PAGES / "furniture_in_body.html").read_text(encoding="utf-8")
    tree = parse_html(html)
    before = len(list(tree.iter()))
    extract_paragraphs(tree, None)
    assert len(list(tree.iter())) == before


def test_body_texts_read_what_the_xpath_of_visible_text_reads() -> None:
    from scraper.extract import body_texts, parse_html

    tree = parse_html(
        "<html><head><title>T</title></head><body>lead <b>bold</b> tail"
        "<script>var x = 1;</script>after script<style>p {}</style>"
        "<noscript><p>inside noscript</p>noscript tail</noscript>after noscript"
        "<select><option>one</option><option>two</option></select>after select"
        "<template><p>templated</p></template><div> <p>last</p>  </div></body></html>"
    )
    hidden = frozenset(("script", "style", "noscript", "template", "select", "option"))
    xpath = (
        "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
        " or ancestor::template or ancestor::select or ancestor::option)]"
    )
    expected = [str(t) for t in tree.xpath(xpath) if str(t).strip()]
    assert [text for text, _ in body_texts(tree, hidden)] == expected
    direct = frozenset(("script", "style", "noscript", "template"))
    xpath = (
        "//body//text()[not(parent::script or parent::style or parent::noscript"
        " or parent::template)]"
    )
    expected = [str(t) for t in tree.xpath(xpath) if str(t).strip()]
    assert [text for text, _ in body_texts(tree, direct, only_parent=True)] == expected
    assert "inside noscript" in expected and "var x = 1;" not in expected


def test_casefold_growth_bound_holds_for_every_character() -> None:
    """_headline_element skips lines too short to show a title by this bound."""
    from scraper.extract import _MAX_CASEFOLD_GROWTH

    assert max(len(chr(code).casefold()) for code in range(0x110000)) == _MAX_CASEFOLD_GROWTH
