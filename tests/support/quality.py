"""How close an extracted text is to a reference, and our extraction vs other extractors.

Two measures, one per labelled set of the shared corpus: word-4-gram shingle F1 against
reference paragraphs (``expected/``), and snippet counts (``dev/extraction``: snippets a
correct main text contains and must not contain). The extractors compared are our
pipeline (``pipeline_text``: the same main-text function ``process_page`` uses) and
baselines run with their defaults: trafilatura, readability-lxml and jusText (the last
two from the ``bench`` extra).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from scraper.document import Document
from scraper.models import Skip
from scraper.normalize import process_page
from scraper.text import join_paragraphs
from tests.support.corpus import ExpectedPage, fetched_page

SHINGLE_WORDS = 4
# A word is a run of letters/digits, except that each Han, kana or Thai character counts
# as one: those scripts do not separate words with spaces, and without this a whole
# Chinese sentence would be a single "word".
_WORD = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]|[^\W_]+",
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def shingles(text: str, size: int = SHINGLE_WORDS) -> Counter[tuple[str, ...]]:
    """The multiset of ``size``-word windows of ``text`` (one window if it is shorter)."""
    tokens = words(text)
    if len(tokens) < size:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def shingle_f1(extracted: str, reference: str) -> float:
    """F1 of word 4-gram shingles between an extracted text and the reference text.

    Precision is the share of the extracted shingles found in the reference (boilerplate,
    repeated headlines and duplicated text lower it), recall the share of the reference
    shingles found in the extraction (missed paragraphs lower it). Shingles are counted as
    a multiset, so text extracted twice is not free. Case and punctuation are ignored;
    paragraph breaks are not compared. 1.0 when both texts are empty.
    """
    ours, theirs = shingles(extracted), shingles(reference)
    if not ours and not theirs:
        return 1.0
    common = sum((ours & theirs).values())
    if common == 0:
        return 0.0
    precision = common / sum(ours.values())
    recall = common / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class SnippetCounts:
    """Snippet outcomes of one or more pages, as trafilatura's evaluation counts them."""

    true_positives: int = 0
    false_negatives: int = 0
    false_positives: int = 0
    true_negatives: int = 0

    def __add__(self, other: SnippetCounts) -> SnippetCounts:
        return SnippetCounts(
            self.true_positives + other.true_positives,
            self.false_negatives + other.false_negatives,
            self.false_positives + other.false_positives,
            self.true_negatives + other.true_negatives,
        )

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        total = self.true_positives + self.false_negatives + self.false_positives
        total += self.true_negatives
        return (self.true_positives + self.true_negatives) / total if total else 1.0


def snippet_counts(
    extracted: str, with_snippets: Sequence[str], without_snippets: Sequence[str]
) -> SnippetCounts:
    """A snippet is found when it occurs in the extracted text, whitespace collapsed on
    both sides (paragraph breaks do not split a snippet); case and punctuation count."""
    text = " ".join(extracted.split())
    found_with = sum(" ".join(s.split()) in text for s in with_snippets)
    found_without = sum(" ".join(s.split()) in text for s in without_snippets)
    return SnippetCounts(
        true_positives=found_with,
        false_negatives=len(with_snippets) - found_with,
        false_positives=found_without,
        true_negatives=len(without_snippets) - found_without,
    )


# --------------------------------------------------------------------------- extractors


def pipeline_text(body: bytes, url: str) -> str:
    """Our Conteúdo for a page: decoding, parsing, metadata and the main-text function of
    ``process_page`` (no title, date or language, which could skip the page); empty when
    the page has no usable text."""
    from scraper.extract import UnusablePage, decode_html, parse_html, read_metadata
    from scraper.normalize import article_text

    try:
        tree = parse_html(decode_html(body, None))
        discovery = fetched_page(b"", url).discovery
        return article_text(tree, url, read_metadata(tree), discovery)
    except UnusablePage:
        return ""


def document_text(body: bytes, url: str) -> str:
    """The content of the whole ``process_page`` Document (crawl time allowed as the
    date, so an undated page still counts); empty when the page is skipped."""
    page = fetched_page(body, url, allow_crawl_time=True)
    outcome = process_page(page)
    return outcome.content if isinstance(outcome, Document) else ""


def trafilatura_text(body: bytes, url: str) -> str:
    """Plain ``trafilatura.extract`` with its defaults (it decodes the bytes itself), as
    published: without the pipeline's speed-ups, even in a process that ran the pipeline."""
    import trafilatura

    from scraper.trafilatura_speedups import suspended

    with suspended():
        return trafilatura.extract(body) or ""


def readability_text(body: bytes, url: str) -> str:
    """readability-lxml's article, one paragraph per block element."""
    from lxml.html import fromstring
    from readability import Document as ReadabilityDocument

    from scraper.extract import decode_html

    summary = ReadabilityDocument(decode_html(body, None), url=url).summary(html_partial=True)
    if not summary.strip():
        return ""
    return _block_text(fromstring(summary))


_JUSTEXT_STOPLIST: frozenset[str] = frozenset()


def justext_text(body: bytes, url: str) -> str:
    """jusText's good paragraphs, with the stop words of all its languages (the pages are
    in many languages, and this is how trafilatura runs it when the language is unknown)."""
    import justext

    global _JUSTEXT_STOPLIST
    if not _JUSTEXT_STOPLIST:
        _JUSTEXT_STOPLIST = frozenset(
            word for language in justext.get_stoplists() for word in justext.get_stoplist(language)
        )
    from scraper.extract import decode_html

    paragraphs = justext.justext(decode_html(body, None), _JUSTEXT_STOPLIST)
    return "\n\n".join(p.text for p in paragraphs if not p.is_boilerplate)


_BLOCKS = frozenset(
    [
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "table",
        "tr",
        "td",
        "th",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "br",
    ]
)


def _block_text(root: Any) -> str:
    """Visible text of an lxml tree with a paragraph break around every block element."""
    parts: list[str] = []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _BLOCKS:
                parts.append("\n\n")
            if element.text and tag not in ("script", "style"):
                parts.append(element.text)
        else:
            if tag in _BLOCKS:
                parts.append("\n\n")
            if element.tail and element is not root:
                parts.append(element.tail)
    return join_paragraphs(["".join(parts)])


EXTRACTORS: dict[str, Callable[[bytes, str], str]] = {
    "document": document_text,
    "pipeline": pipeline_text,
    "trafilatura": trafilatura_text,
    "readability": readability_text,
    "justext": justext_text,
}


@dataclass(frozen=True)
class PageScore:
    """One corpus page: our extraction against trafilatura alone, both vs the reference."""

    page: ExpectedPage
    outcome: Document | Skip
    ours_f1: float
    baseline_f1: float
    ours_seconds: float
    baseline_seconds: float


def score_page(page: ExpectedPage) -> PageScore:
    """Run process_page and plain ``trafilatura.extract`` (its defaults) on one page."""
    import trafilatura

    body = page.html_path.read_bytes()
    started = time.perf_counter()
    outcome = process_page(fetched_page(body, page.url))
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = trafilatura.extract(body) or ""
    baseline_seconds = time.perf_counter() - started
    ours = outcome.content if isinstance(outcome, Document) else ""
    return PageScore(
        page=page,
        outcome=outcome,
        ours_f1=shingle_f1(ours, page.expected_text),
        baseline_f1=shingle_f1(baseline, page.expected_text),
        ours_seconds=ours_seconds,
        baseline_seconds=baseline_seconds,
    )
