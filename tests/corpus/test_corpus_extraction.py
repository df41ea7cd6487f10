"""Extraction measured against human-labelled references on real pages (shared corpus).

The 38 ``fundus__*`` pages come with the title, date and paragraphs a hand-written,
per-publisher parser extracts (corpus README). Our generic pipeline must get the text at
least as right as trafilatura alone does, and the dates and most titles exactly right.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, time, timedelta

import pytest

from scraper.document import Document
from scraper.extract import UnusablePage, decode_html, parse_html
from scraper.models import Skip
from scraper.normalize import process_page
from tests.support.corpus import (
    CORPUS_DIR,
    SnippetCase,
    corpus_available,
    dev_extraction_available,
    dev_extraction_cases,
    expected_pages,
    fetched_page,
    manifest,
    original_url,
)
from tests.support.quality import (
    PageScore,
    SnippetCounts,
    pipeline_text,
    score_page,
    snippet_counts,
    trafilatura_text,
)

pytestmark = pytest.mark.corpus

# The goal (issue 10): mean shingle F1 of at least 0.97 on the 38 pages (measured when
# this was raised: ours 0.974, trafilatura alone 0.948).
MIN_MEAN_F1 = 0.97
# The goal on dev/extraction (issue 10): snippet F1 at least this much above trafilatura
# alone (measured: ours 0.947, trafilatura alone 0.921).
MIN_DEV_F1_GAIN = 0.01
# No page may get much worse than trafilatura alone; adding a page's lead (which the
# reference sometimes leaves out) costs up to about 0.01.
MAX_PAGE_REGRESSION = 0.05
# Exact title matches measured: 31 of 38. The others are pages whose og:title (which we
# prefer, DESIGN order) differs from the reference's choice of <h1> or <title> wording.
MIN_EXACT_TITLES = 31
# Detectors and sites use either code for Norwegian.
SAME_LANGUAGE = {"nb": "no", "nn": "no"}


@pytest.fixture(scope="module")
def scores() -> Iterator[list[PageScore]]:
    if not corpus_available():
        pytest.skip(f"shared corpus not found at {CORPUS_DIR}")
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    yield [score_page(page) for page in expected_pages()]


def _table(scores: list[PageScore]) -> str:
    return "\n".join(
        f"{s.page.name:<48} ours {s.ours_f1:.3f}  trafilatura {s.baseline_f1:.3f}" for s in scores
    )


def _documents(scores: list[PageScore]) -> list[tuple[PageScore, Document]]:
    return [(s, s.outcome) for s in scores if isinstance(s.outcome, Document)]


def test_every_reference_page_gives_a_document(scores: list[PageScore]) -> None:
    skipped = {s.page.name: s.outcome.reason for s in scores if isinstance(s.outcome, Skip)}
    assert len(scores) == 38
    assert skipped == {}


def test_text_is_closer_to_the_references_than_trafilatura_alone(
    scores: list[PageScore],
) -> None:
    ours = sum(s.ours_f1 for s in scores) / len(scores)
    baseline = sum(s.baseline_f1 for s in scores) / len(scores)
    report = f"{_table(scores)}\nmean: ours {ours:.3f}, trafilatura alone {baseline:.3f}"
    assert ours >= baseline, report
    assert ours >= MIN_MEAN_F1, report


def test_no_page_is_much_worse_than_trafilatura_alone(scores: list[PageScore]) -> None:
    worse = {
        s.page.name: round(s.ours_f1 - s.baseline_f1, 3)
        for s in scores
        if s.ours_f1 < s.baseline_f1 - MAX_PAGE_REGRESSION
    }
    assert worse == {}


def _same_publication(ours: datetime, reference: str) -> bool:
    """Same instant (to the second); or the same calendar day when either side only knows
    a day (a zone-less reference, or our 00:00:00 for a day-only value), taking the
    reference's day in its own zone, as printed on the page."""
    expected = datetime.fromisoformat(reference)
    if expected.tzinfo is None or ours.time() == time(0, 0):
        return ours.date() == expected.date()
    return abs(ours - expected) < timedelta(seconds=1)


def test_publication_dates_match_the_references(scores: list[PageScore]) -> None:
    wrong = {
        s.page.name: (doc.published.isoformat(), s.page.published)
        for s, doc in _documents(scores)
        if s.page.published and not _same_publication(doc.published, s.page.published)
    }
    assert wrong == {}


def test_titles_match_the_references(scores: list[PageScore]) -> None:
    pairs = [
        (" ".join(doc.title.split()), " ".join((s.page.title or "").split()))
        for s, doc in _documents(scores)
    ]
    exact = sum(ours == reference for ours, reference in pairs)
    mismatches = "\n".join(f"{o!r} != {r!r}" for o, r in pairs if o != r)
    assert exact >= MIN_EXACT_TITLES, mismatches


def test_languages_match_the_manifest(scores: list[PageScore]) -> None:
    wrong = {
        s.page.name: (doc.language, s.page.language)
        for s, doc in _documents(scores)
        if SAME_LANGUAGE.get(doc.language, doc.language) != s.page.language
    }
    assert wrong == {}


def test_every_corpus_article_page_is_handled_without_failure() -> None:
    if not corpus_available():
        pytest.skip(f"shared corpus not found at {CORPUS_DIR}")
    outcomes: dict[str, str] = {}
    for local, row in manifest().items():
        if row["kind"] == "article":
            page = fetched_page(
                (CORPUS_DIR / local).read_bytes(), original_url(row, "https://x.invalid/")
            )
            outcome = process_page(page)
            if isinstance(outcome, Skip):
                outcomes[local] = outcome.reason
    # The only skips are two pages without any title (a Word export, a SharePoint page).
    assert set(outcomes.values()) <= {"no title"}
    assert len(outcomes) <= 2


def _dev_counts(case: SnippetCase) -> tuple[SnippetCounts, SnippetCounts]:
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    body = case.body()
    ours = pipeline_text(body, case.url)
    theirs = trafilatura_text(body, case.url)
    return (
        snippet_counts(ours, case.with_snippets, case.without_snippets),
        snippet_counts(theirs, case.with_snippets, case.without_snippets),
    )


def test_dev_set_snippet_f1_beats_trafilatura_alone() -> None:
    """dev/extraction (943 labelled pages): snippet F1 counted over all snippets of all
    pages, ours against plain trafilatura.extract (both processes of the machine)."""
    if not dev_extraction_available():
        pytest.skip(f"dev/extraction not found under {CORPUS_DIR}")
    cases = dev_extraction_cases()
    with ProcessPoolExecutor(max(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(_dev_counts, cases, chunksize=8))
    ours = sum((r[0] for r in results), SnippetCounts())
    theirs = sum((r[1] for r in results), SnippetCounts())
    report = (
        f"ours P {ours.precision:.3f} R {ours.recall:.3f} F1 {ours.f1:.3f}; trafilatura "
        f"P {theirs.precision:.3f} R {theirs.recall:.3f} F1 {theirs.f1:.3f}"
    )
    assert len(cases) == 943
    assert ours.f1 >= theirs.f1 + MIN_DEV_F1_GAIN, report


def test_legacy_gb2312_feed_decodes_and_is_not_taken_for_an_article() -> None:
    if not corpus_available():
        pytest.skip(f"shared corpus not found at {CORPUS_DIR}")
    body = (CORPUS_DIR / "feeds" / "rsparser__kc0011.rss").read_bytes()
    text = decode_html(body, None)
    assert "\ufffd" not in text
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) > 100
    with pytest.raises(UnusablePage):
        parse_html(text)
    outcome = process_page(fetched_page(body, "https://www.kc0011.net/feed"))
    assert isinstance(outcome, Skip)
    assert outcome.reason == "not HTML"
