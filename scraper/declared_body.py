"""The article body a page declares in its JSON-LD (``articleBody``), as a second
candidate for the main text.

The text extracted from the page's markup wins whenever it is a real article: it keeps
the page's paragraphs, subheadings and lists, and the JSON-LD copy is often a teaser, a
flattened single line or stale. The declared body is chosen only on evidence that the
markup holds much less than the article: pages that render their text with JavaScript
(the markup then has a caption or a teaser), or that hide it behind a paywall script,
while the publisher's own structured data carries it whole. Evidence required:

- it belongs to the page's main article object (``read_metadata`` ranks them), and that
  object's headline agrees with a headline the page shows or declares elsewhere (its
  ``<h1>``, ``og:title`` or ``<title>``): a stale or foreign object is not taken;
- it is long (``MIN_DECLARED_CHARS``), and what the markup gave is under a quarter of it.

When the markup's text is the declared body itself, run into one paragraph (trafilatura
falls back on the JSON-LD when the markup gives almost nothing), the declared body's own
lines give its paragraphs back.
"""

from __future__ import annotations

import html
import re

import lxml.html
from lxml import etree

from scraper.extract import PageMetadata
from scraper.text import comparable

MIN_DECLARED_CHARS = 500
# The markup's text must be less than this share of the declared body for it to lose.
THIN_SHARE = 0.25
# Texts whose lengths differ by more than this share are not the same text.
SAME_LENGTH_SLACK = 0.1

_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")
# Where a paragraph ends inside HTML markup in an articleBody.
_BLOCK_END = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|blockquote|tr|section)\s*>", re.I)


def preferred_paragraphs(extracted: str, metadata: PageMetadata) -> list[str] | None:
    """The declared body's paragraphs when the evidence above prefers them to
    ``extracted`` (the markup's main text), or when ``extracted`` is the declared body
    itself with its paragraphs run together (trafilatura's last resort reads the JSON-LD
    too, as one block); else None."""
    declared = metadata.article_body
    if declared is None or len(declared) < MIN_DECLARED_CHARS:
        return None
    if len(extracted) < THIN_SHARE * len(declared):
        if not _headline_agrees(metadata):
            return None
        lines = declared_lines(declared)
        return lines if sum(map(len, lines)) >= MIN_DECLARED_CHARS else None
    if abs(len(extracted) - len(declared)) > SAME_LENGTH_SLACK * len(declared):
        return None
    lines = declared_lines(declared)
    if len(lines) > extracted.count("\n\n") + 1 and comparable("".join(lines)) == comparable(
        extracted
    ):
        return lines
    return None


def declared_lines(declared: str) -> list[str]:
    """The paragraphs of an articleBody value: its lines, or its HTML's blocks when
    it holds markup; entities decoded, whitespace collapsed, empty lines dropped."""
    if _TAG.search(declared) is not None:
        marked = _BLOCK_END.sub("\n", declared)
        try:
            fragment = lxml.html.fragment_fromstring(marked, create_parent="div")
        except (etree.ParserError, ValueError):
            text = html.unescape(_TAG.sub(" ", marked))
        else:
            etree.strip_elements(fragment, "script", "style", with_tail=False)
            text = fragment.text_content()
    else:
        text = html.unescape(declared)
    return [line for raw in text.splitlines() if (line := " ".join(raw.split()))]


def _headline_agrees(metadata: PageMetadata) -> bool:
    """The JSON-LD headline is one the page shows or declares elsewhere: found in it
    (a ``<title>`` adds the site's name), also when cut short (with an ellipsis)."""
    declared = metadata.jsonld_headline
    if not declared:
        return False
    # Letters and digits only: an ellipsis or a different punctuation does not count.
    wanted = comparable(declared)
    if len(wanted) < 10:
        return False
    shown = (metadata.h1, metadata.og_title, metadata.html_title)
    return any(wanted in comparable(headline) for headline in shown if headline)
