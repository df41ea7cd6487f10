"""Site rules (scraper/sites): registration and lookup by host, and each rule on a
recorded page with the fields it must yield. Recorded pages are either corpus pages read
from ../shared/corpus at test time (skipped when absent) or small pages written here."""

from __future__ import annotations

import json
import logging

import pytest

from scraper.document import Document
from scraper.normalize import process_page
from scraper.sites import SiteRule, rule_for, site
from scraper.sites.wdr import Wdr
from tests.support.corpus import CORPUS_DIR, corpus_available, expected_pages, fetched_page
from tests.support.quality import shingle_f1


def test_rules_are_found_by_host_and_parent_domain() -> None:
    assert rule_for("https://www1.wdr.de/nachrichten/x-100.html") is Wdr
    assert rule_for("https://wdr.de/a") is Wdr
    assert rule_for("https://www.example.org/a") is None
    assert rule_for("https://notwdr.de/a") is None


def test_two_rules_for_one_host_are_refused() -> None:
    with pytest.raises(ValueError, match="two site rules"):

        @site("wdr.de")
        class Other(SiteRule):
            drop = ("div.x",)


_PAGE = """<html lang="en"><head><title>Site | Example News</title>
<meta property="og:title" content="Wrong title from the template">
</head><body>
<nav><a href="/">Home</a></nav>
<h1 class="story-title">The council approved the budget</h1>
<span class="story-date" data-x="1">2024-05-02</span>
<div class="story">
<p>The regional council approved the new budget for public transport on Tuesday.</p>
<div class="factbox"><p>Factbox: this box repeats numbers that are not part of the text.</p></div>
<p>Officials said the money will pay for forty electric buses and two new depots.</p>
<p>Residents had asked for more frequent services on the routes to the hospital.</p>
</div>
<aside><p>Most read: something else entirely that the rule leaves out of the text.</p></aside>
</body></html>"""


@site("rules.example.test")
class ExampleRule(SiteRule):
    body = "div.story"
    drop = ("div.factbox",)
    title = "h1.story-title"
    published = "span.story-date"


def test_a_rule_sets_body_drop_title_and_date_on_a_recorded_page() -> None:
    page = fetched_page(_PAGE.encode(), "https://rules.example.test/news/1")
    document = process_page(page)
    assert isinstance(document, Document), document
    assert document.title == "The council approved the budget"
    assert document.published.date().isoformat() == "2024-05-02"
    assert document.content.split("\n\n") == [
        "The regional council approved the new budget for public transport on Tuesday.",
        "Officials said the money will pay for forty electric buses and two new depots.",
        "Residents had asked for more frequent services on the routes to the hospital.",
    ]


def test_wdr_media_captions_are_not_article_text() -> None:
    """Corpus page (expected/fundus__de__WDR_2024_04_22): the media boxes' captions are
    gone, the article's own paragraphs stay, the text is closer to the reference."""
    if not corpus_available():
        pytest.skip(f"shared corpus not found at {CORPUS_DIR}")
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    page = next(p for p in expected_pages() if p.name == "fundus__de__WDR_2024_04_22")
    reference = json.loads((CORPUS_DIR / "expected" / f"{page.name}.json").read_text())
    document = process_page(fetched_page(page.html_path.read_bytes(), page.url))
    assert isinstance(document, Document), document
    assert rule_for(page.url) is Wdr
    assert "Dicke Ausrüstung und schweres Gerät" not in document.content  # a caption
    for paragraph in reference["body_paragraphs"][:3]:
        assert paragraph in document.content
    assert shingle_f1(document.content, page.expected_text) >= 0.80
