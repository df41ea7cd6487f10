"""The JSON-LD articleBody as a second main-text candidate (scraper.declared_body): chosen
only when the markup holds much less than it and its object's headline is the page's."""

from __future__ import annotations

import json

from scraper.declared_body import declared_lines
from scraper.document import Document
from scraper.normalize import process_page
from tests.unit.test_normalize import make_page

HEADLINE = "Ferry service resumes on the northern route after repairs"
PARAGRAPHS = [
    f"Paragraph {n} of the ferry story tells what the harbour office announced on "
    f"Tuesday morning, with the timetable, the vessel and the repairs of berth {n}."
    for n in range(1, 13)
]


def page_html(
    visible: list[str],
    article_body: str | None,
    jsonld_headline: str = HEADLINE,
    h1: str = HEADLINE,
) -> str:
    """An article page whose markup shows ``visible`` paragraphs and whose JSON-LD
    NewsArticle carries ``article_body``."""
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": jsonld_headline,
        "datePublished": "2026-01-01T09:00:00Z",
    }
    if article_body is not None:
        data["articleBody"] = article_body
    paragraphs = "".join(f"<p>{text}</p>" for text in visible)
    return (
        f"<html lang='en'><head><title>{h1} | Gov Example</title>"
        f"<script type='application/ld+json'>{json.dumps(data)}</script></head>"
        f"<body><article><h1>{h1}</h1>{paragraphs}</article></body></html>"
    )


def content_of(html: str) -> str:
    result = process_page(make_page(html))
    assert isinstance(result, Document), result
    return result.content


# Longer than trafilatura's own last resort (it reads the JSON-LD when the markup gives
# under 250 characters), under a quarter of the declared body.
CAPTION = (
    "The ferry at the northern berth on Monday morning, seen from the harbour office, "
    "where the crews waited for the inspectors to sign the papers that let the vessel sail "
    "again after three weeks of repairs to the hull, the ramp and the engines of the ship. "
    "Photo: the harbour office of the region"
)


def test_a_page_rendered_by_script_gets_the_body_its_jsonld_declares() -> None:
    html = page_html([CAPTION], "\n".join(PARAGRAPHS))

    assert content_of(html) == "\n\n".join(PARAGRAPHS)


def test_a_headline_cut_short_with_an_ellipsis_still_agrees() -> None:
    html = page_html([CAPTION], "\n".join(PARAGRAPHS), jsonld_headline=HEADLINE[:30] + "...")

    assert content_of(html) == "\n\n".join(PARAGRAPHS)


def test_the_body_of_another_article_is_not_taken() -> None:
    html = page_html([CAPTION], "\n".join(PARAGRAPHS), jsonld_headline="Budget vote postponed")

    assert content_of(html) == CAPTION


def test_the_markup_wins_when_it_holds_the_article() -> None:
    # The JSON-LD copy is longer (it repeats the text twice), but the markup's text is
    # far more than a quarter of it: the page's own paragraphs stay.
    html = page_html(PARAGRAPHS[:8], "\n".join(PARAGRAPHS * 2))

    assert content_of(html) == "\n\n".join(PARAGRAPHS[:8])


def test_a_short_declared_body_is_not_taken() -> None:
    html = page_html([CAPTION], PARAGRAPHS[0] + " " + PARAGRAPHS[1])

    assert content_of(html) == CAPTION


def test_paragraphs_come_back_when_the_markup_gave_the_declared_body_in_one_block() -> None:
    # Under 250 characters of markup text: trafilatura takes the JSON-LD body, as one
    # paragraph; the declared body's own lines restore the paragraphs.
    html = page_html(["Photo: harbour office"], "\n".join(PARAGRAPHS), jsonld_headline="Other")

    assert content_of(html) == "\n\n".join(PARAGRAPHS)


def test_html_in_an_article_body_becomes_paragraphs_with_entities_decoded() -> None:
    body = "<p>Fish &amp; chips</p><p>Second <b>bold</b> line<br>Third line</p><script>x()</script>"

    assert declared_lines(body) == ["Fish & chips", "Second bold line", "Third line"]


def test_plain_text_lines_become_paragraphs() -> None:
    assert declared_lines("  One &quot;two&quot;  \n\n\t\nThree   four\n") == [
        'One "two"',
        "Three four",
    ]
