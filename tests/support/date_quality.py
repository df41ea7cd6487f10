"""How often the publication date is right, for our pipeline and for htmldate alone.

Two labelled sets of the shared corpus: ``dev/dates`` (300 hand-dated pages; the label is
the page's own calendar day, or null for an undated page) and the 38 pages of
``expected/`` (``publishing_date``, read on its own calendar day). Our pipeline is the
page-only path of the normalizer (``publication_time`` with a Discovery that carries no
date, fetched now); htmldate alone is ``find_date`` with its extensive search and
``original_date``, as it is usually called.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from scraper.dates import stated_day, to_output_zone
from scraper.extract import UnusablePage, decode_html, parse_html, read_metadata
from scraper.normalize import document_url, publication_time
from tests.support.corpus import CORPUS_DIR, OUTPUT_ZONE, expected_pages, fetched_page

DEV_DATES_DIR = CORPUS_DIR / "dev" / "dates"


@dataclass(frozen=True)
class DateCase:
    """A page and its labelled day (None: the page has no publication date)."""

    name: str  # the page's URL, or the expected/ file's name
    url: str
    path: Path
    day: date | None

    def body(self) -> bytes:
        if self.path.suffix == ".gz":
            with gzip.open(self.path, "rb") as handle:
                return handle.read()
        return self.path.read_bytes()


@dataclass(frozen=True)
class DateResult:
    case: DateCase
    ours: date | None  # the day as the page stated it (published_original's day)
    ours_converted: date | None  # the day of the "Data" line, in the output zone
    source: str | None  # date_source
    original: str | None  # published_original
    htmldate: date | None
    ours_seconds: float
    htmldate_seconds: float


def dev_dates_available() -> bool:
    return (DEV_DATES_DIR / "cases.json").is_file()


def dev_date_cases() -> list[DateCase]:
    """``dev/dates``: a NaN label (as some of its records have) means undated, like null."""
    cases = json.loads((DEV_DATES_DIR / "cases.json").read_text(encoding="utf-8"))
    return [
        DateCase(url, url, DEV_DATES_DIR / "pages" / case["file"], _label_day(case.get("date")))
        for url, case in cases.items()
    ]


def expected_date_cases() -> list[DateCase]:
    return [
        DateCase(page.name, page.url, page.html_path, _label_day(page.published))
        for page in expected_pages()
    ]


def _label_day(label: object) -> date | None:
    if not isinstance(label, str) or not label.strip():
        return None  # null, or NaN
    return datetime.fromisoformat(label.strip()[:10]).date()


def score_case(case: DateCase) -> DateResult:
    body = case.body()
    started = time.perf_counter()
    ours, converted, source, original = pipeline_date(body, case.url)
    middle = time.perf_counter()
    theirs = htmldate_alone(body, case.url)
    return DateResult(
        case,
        ours,
        converted,
        source,
        original,
        theirs,
        middle - started,
        time.perf_counter() - middle,
    )


def pipeline_date(body: bytes, url: str) -> tuple[date | None, date | None, str | None, str | None]:
    """(stated day, day in the output zone, date_source, published_original) of the
    page-only path of the normalizer; all None when it finds no date."""
    page = fetched_page(body, url)
    try:
        tree = parse_html(decode_html(page.body, page.encoding))
        chosen = publication_time(page, tree, read_metadata(tree), document_url(page))
    except UnusablePage:
        return None, None, None, None
    converted = to_output_zone(chosen.value, ZoneInfo(OUTPUT_ZONE)).date()
    return stated_day(chosen.value), converted, chosen.source, chosen.original


def htmldate_alone(body: bytes, url: str) -> date | None:
    from htmldate import find_date

    try:
        found = find_date(body, url=url, extensive_search=True, original_date=True)
    except Exception:
        return None
    if not found:
        return None
    return datetime.fromisoformat(str(found)[:10]).date()


def score_all(cases: Sequence[DateCase], processes: int = 1) -> list[DateResult]:
    logging.getLogger("htmldate").setLevel(logging.CRITICAL)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    if processes <= 1:
        return [score_case(case) for case in cases]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(processes, initializer=_quiet) as pool:
        return pool.map(score_case, cases, chunksize=4)


def _quiet() -> None:
    logging.disable(logging.CRITICAL)


@dataclass(frozen=True)
class Scores:
    accuracy: float  # right day, or rightly undated / all
    precision: float  # right / answered
    coverage: float  # answered / all


def scores(pairs: Iterable[tuple[date | None, date | None]]) -> Scores:
    """``(answer, label)`` pairs scored."""
    listed = list(pairs)
    right = sum(answer == label for answer, label in listed)
    answered = [(answer, label) for answer, label in listed if answer is not None]
    right_answers = sum(answer == label for answer, label in answered)
    count = len(listed) or 1
    return Scores(
        accuracy=right / count,
        precision=right_answers / len(answered) if answered else math.nan,
        coverage=len(answered) / count,
    )
