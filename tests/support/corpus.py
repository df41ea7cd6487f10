"""The shared corpus of real pages (``../shared/corpus``, see its README), read at test time.

Nothing from the corpus is copied into the project: tests locate it, read it, and skip
when it is absent.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scraper.models import Discovery, FetchedPage, SourceDefaults

if TYPE_CHECKING:
    from lxml.html import HtmlElement

CORPUS_DIR = Path(
    os.environ.get("SCRAPER_CORPUS_DIR", Path(__file__).resolve().parents[3] / "shared" / "corpus")
)
OUTPUT_ZONE = "America/Sao_Paulo"


@dataclass(frozen=True)
class ExpectedPage:
    """A corpus page with the reference (human-maintained parser) extraction."""

    name: str
    html_path: Path
    url: str
    language: str
    title: str | None
    published: str | None
    body_paragraphs: list[str]

    @property
    def expected_text(self) -> str:
        return "\n\n".join(self.body_paragraphs)


def corpus_available() -> bool:
    return (CORPUS_DIR / "expected").is_dir() and (CORPUS_DIR / "MANIFEST.tsv").is_file()


def manifest() -> dict[str, dict[str, str]]:
    """MANIFEST.tsv rows by local file path (e.g. ``html/articles/x.html``)."""
    with (CORPUS_DIR / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return {row["local_file"]: row for row in rows}


def original_url(row: dict[str, str] | None, fallback: str) -> str:
    """The page's URL as the manifest knows it ("~" marks an inferred one)."""
    url = (row or {}).get("original_url", "").lstrip("~").strip()
    return url if url.startswith(("http://", "https://")) else fallback


def expected_pages() -> list[ExpectedPage]:
    rows = manifest()
    pages = []
    for path in sorted((CORPUS_DIR / "expected").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        local = f"html/articles/{data['source_file']}"
        row = rows.get(local)
        pages.append(
            ExpectedPage(
                name=path.stem,
                html_path=CORPUS_DIR / local,
                url=original_url(row, f"https://corpus.invalid/{path.stem}"),
                language=(row or {}).get("language", ""),
                title=data.get("title"),
                published=data.get("publishing_date"),
                body_paragraphs=list(data.get("body_paragraphs") or []),
            )
        )
    return pages


@dataclass(frozen=True)
class SnippetCase:
    """A page of ``dev/extraction``: snippets its main text must and must not contain."""

    url: str
    path: Path
    with_snippets: tuple[str, ...]
    without_snippets: tuple[str, ...]

    def body(self) -> bytes:
        with gzip.open(self.path, "rb") as handle:
            return handle.read()


def dev_extraction_available() -> bool:
    return (CORPUS_DIR / "dev" / "extraction" / "cases.json").is_file()


def dev_extraction_cases() -> list[SnippetCase]:
    """The labelled pages of ``dev/extraction`` (see its README), in file order."""
    folder = CORPUS_DIR / "dev" / "extraction"
    cases = json.loads((folder / "cases.json").read_text(encoding="utf-8"))
    return [
        SnippetCase(
            url=url,
            path=folder / "pages" / case["file"],
            with_snippets=tuple(s for s in case.get("with") or () if s),
            without_snippets=tuple(s for s in case.get("without") or () if s),
        )
        for url, case in cases.items()
    ]


def parsed_dev_pages(start: int = 0, step: int = 4) -> Iterator[tuple[str, HtmlElement]]:
    """(URL, tree as the pipeline parses it) of every ``step``-th dev page from
    ``start``; the pages the pipeline refuses (empty, not HTML) are left out."""
    from scraper.extract import decode_html, parse_html

    for case in dev_extraction_cases()[start::step]:
        try:
            tree = parse_html(decode_html(case.body(), None))
        except Exception:  # refused: nothing to compare
            continue
        yield case.url, tree


def fetched_page(
    body: bytes, url: str, *, source_language: str | None = None, allow_crawl_time: bool = False
) -> FetchedPage:
    """A page as the crawl would hand it over after a sitemap discovery (no channel title
    or date, so everything comes from the page itself)."""
    discovery = Discovery(url=url, source_id="corpus", channel="sitemap", aggregator="Sitemap")
    source = SourceDefaults(
        source_id="corpus",
        name="Corpus",
        homepage="https://corpus.invalid",
        language=source_language,
        type="Notícias",
        allow_crawl_time=allow_crawl_time,
    )
    return FetchedPage(
        discovery=discovery,
        source=source,
        url=url,
        body=body,
        encoding=None,
        timezone=OUTPUT_ZONE,
        fetched_at=datetime.now(UTC),
    )
