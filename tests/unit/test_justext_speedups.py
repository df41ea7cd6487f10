"""jusText with the speed-ups gives what jusText gives (scraper/justext_speedups.py):
the same whitespace, the same paragraphs (text, paths, lengths, word counts) and the same
fallback text, on generated text, on a small page and on real pages of the shared corpus
(skipped when it is absent)."""

from __future__ import annotations

import random
from copy import deepcopy
from typing import Any

import pytest
from lxml import etree
from lxml.html import HtmlElement

from scraper import justext_speedups, trafilatura_speedups
from scraper.extract import parse_html
from tests.support.corpus import dev_extraction_available, parsed_dev_pages

# Every kind of whitespace jusText's pattern (\s) knows, line breaks among them.
WHITESPACE = [" ", "  ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\xa0"]
WHITESPACE += ["\u2028", "\u3000"]


def published_normalize(text: str) -> str:
    from justext.utils import normalize_whitespace

    return str(normalize_whitespace(text))


def test_whitespace_is_normalized_as_justext_does_on_generated_text() -> None:
    pieces = [*WHITESPACE, "a", "bc", "Wörter", "-", "x y"]
    rng = random.Random(9)
    texts = ["", " ", "\n", "\r", "a", " a ", "a  b", "a\tb", "a \n b", "\n\n\n", " \r\n\t "]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(5000)]
    for text in texts:
        assert justext_speedups.normalize_whitespace(text) == published_normalize(text), repr(text)


def paragraphs(tree: HtmlElement) -> list[tuple[Any, ...]]:
    from justext.core import ParagraphMaker

    stopwords = frozenset({"the", "a", "of", "and", "is"})
    return [
        (p.xpath, p.dom_path, p.text, len(p), p.words_count, p.stopwords_count(stopwords))
        for p in ParagraphMaker.make_paragraphs(deepcopy(tree))
    ]


def fallback_text(tree: HtmlElement) -> bytes:
    from trafilatura.external import try_justext

    return bytes(etree.tostring(try_justext(deepcopy(tree), None, None)))


def both(tree: HtmlElement) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    assert trafilatura_speedups.install()
    faster = (paragraphs(tree), fallback_text(tree))
    with trafilatura_speedups.suspended():
        published = (paragraphs(tree), fallback_text(tree))
    return faster, published


def test_paragraphs_of_a_small_page_are_justexts() -> None:
    tree = parse_html(
        "<html><body><div><p>The first   paragraph of the article.</p><div>\n </div>"
        "<p>Second\r\none, <a href='/x'>a link</a> and\tmore.</p></div>"
        "<ul><li>one</li><li>two</li></ul><div><div><p>Deep text of a page.</p></div></div>"
        "</body></html>"
    )
    faster, published = both(tree)
    assert faster == published
    first, second = "The first paragraph of the article.", "Second\none, a link and more."
    body, div = "/html[1]/body[1]", "/html[1]/body[1]/div"
    assert faster[0] == [
        (f"{div}[1]/p[1]", "html.body.div.p", first, 35, 6, 3),  # stopwords: the, of, the
        (f"{div}[1]/p[2]", "html.body.div.p", second, 28, 6, 2),  # a, and
        (f"{body}/ul[1]/li[1]", "html.body.ul.li", "one", 3, 1, 0),
        (f"{body}/ul[1]/li[2]", "html.body.ul.li", "two", 3, 1, 0),
        (f"{div}[2]/div[1]/p[1]", "html.body.div.div.p", "Deep text of a page.", 20, 5, 2),
    ]


def test_a_paragraphs_text_follows_appended_nodes() -> None:
    from justext.core import PathInfo
    from justext.paragraph import Paragraph

    assert trafilatura_speedups.install()
    paragraph = Paragraph(PathInfo().append("html").append("p"))
    paragraph.append_text("One  ")
    assert paragraph.text == "One"
    paragraph.append_text("\n two")
    assert paragraph.text == "One\ntwo"
    assert (paragraph.xpath, paragraph.dom_path) == ("/html[1]/p[1]", "html.p")


@pytest.mark.skipif(not dev_extraction_available(), reason="shared corpus not present")
def test_paragraphs_of_real_pages_are_justexts() -> None:
    checked = 0
    for url, tree in parsed_dev_pages(2):
        faster, published = both(tree)
        assert faster == published, url
        checked += 1
    assert checked > 200
