"""How close an extracted text is to a reference text, and our extraction vs trafilatura's."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

from scraper.document import Document
from scraper.models import Skip
from scraper.normalize import process_page
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
