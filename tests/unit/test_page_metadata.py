"""What a page says about itself besides its text (issue 11): authors, description, image,
modification time, section and tags, read from JSON-LD and meta tags, bounded on the
Document, journalled while the database is down, and never part of the record file."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from scraper.document import (
    MAX_DESCRIPTION_CHARS,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    Document,
    parse,
    render,
)
from scraper.extract import parse_html, read_metadata
from scraper.storage.base import ArticleRecord
from scraper.storage.files import FileStore
from scraper.storage.sqlite import SQLiteDatabase
from scraper.storage.sync import (
    BadJournalLine,
    load_pending,
    note_pending,
    parse_pending_line,
    pending_path,
    sync_pending,
)
from tests.unit.test_normalize import document, make_page

TEXT = (
    "<p>The regional council approved the new budget for public transport on Tuesday.</p>"
    "<p>Officials said the money will pay for forty electric buses and two new depots.</p>"
)


PUBLISHED = '<meta property="article:published_time" content="2024-05-02T09:30:00+00:00">'


def page(head: str, body: str = TEXT) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Buses for the city | City News</title>{PUBLISHED}{head}</head>"
        f"<body><main><article><h1>Buses for the city</h1>{body}</article></main></body></html>"
    )


def jsonld(value: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(value)}</script>'


# -- reading the page -----------------------------------------------------------------


def test_meta_tags_give_every_field() -> None:
    head = (
        '<meta property="og:description" content="Forty electric buses, two depots.">'
        '<meta property="og:image" content="/media/bus.jpg">'
        '<meta property="article:modified_time" content="2024-05-03T10:00:00+02:00">'
        '<meta property="article:section" content="City">'
        '<meta property="article:tag" content="buses">'
        '<meta property="article:tag" content="Transport">'
        '<meta name="keywords" content="ignored, because, article:tag, came first">'
        '<meta name="author" content="Jane Doe">'
    )
    doc = document(make_page(page(head), channel="listing", aggregator="Web"))

    assert doc.authors == ("Jane Doe",)
    assert doc.description == "Forty electric buses, two depots."
    assert doc.image_url == "https://www.gov.example/media/bus.jpg"  # made absolute
    assert doc.modified_at == datetime(2024, 5, 3, 8, 0, tzinfo=UTC)
    assert doc.modified_at.utcoffset() == timedelta(hours=-3)  # in the output zone
    assert doc.section == "City"
    assert doc.tags == ("buses", "Transport")
    assert doc.published == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)  # unchanged by them


def test_json_ld_gives_every_field() -> None:
    head = jsonld(
        {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "Organization", "name": "City News", "description": "Not this one"},
                {
                    "@type": "NewsArticle",
                    "headline": "Buses for the city",
                    "datePublished": "2024-05-02T09:30:00Z",
                    "dateModified": "2024-05-02T18:45:00Z",
                    "author": [
                        {"@type": "Person", "name": "Jane Doe"},
                        {"@type": "Person", "name": "John Roe", "url": "https://x.example/jr"},
                    ],
                    "description": "Forty electric buses.",
                    "image": {"@type": "ImageObject", "url": "https://cdn.example/bus.jpg"},
                    "articleSection": ["Politics", "City"],
                    "keywords": "buses, transport , ,depots",
                },
            ],
        }
    )
    doc = document(make_page(page(head)))

    assert doc.authors == ("Jane Doe", "John Roe")
    assert doc.description == "Forty electric buses."
    assert doc.image_url == "https://cdn.example/bus.jpg"
    assert doc.modified_at == datetime(2024, 5, 2, 18, 45, tzinfo=UTC)
    assert doc.section == "Politics"
    assert doc.tags == ("buses", "transport", "depots")


def test_keywords_lists_and_images_lists_of_json_ld() -> None:
    head = jsonld(
        {
            "@type": "Article",
            "headline": "Buses for the city",
            "keywords": ["buses", {"name": "depots"}, 7, True],
            "image": ["https://cdn.example/a.jpg", "https://cdn.example/b.jpg"],
        }
    )
    metadata = read_metadata(parse_html(page(head)))
    assert metadata.tags == ("buses", "depots", "7")
    assert metadata.image == "https://cdn.example/a.jpg"


def test_news_keywords_and_keywords_meta_tags() -> None:
    metadata = read_metadata(
        parse_html(page('<meta name="news_keywords" content="buses,  depots ,transport">'))
    )
    assert metadata.tags == ("buses", "  depots ", "transport")  # cleaned by the Document
    doc = document(make_page(page('<meta name="keywords" content="buses,  depots ">')))
    assert doc.tags == ("buses", "depots")


def test_a_page_that_says_nothing_gives_empty_lists_and_none() -> None:
    doc = document(make_page(page("")))
    assert (doc.authors, doc.tags) == ((), ())
    assert (doc.description, doc.image_url, doc.modified_at, doc.section) == (None,) * 4
    assert doc.has_page_metadata  # known: the page named none


def test_what_is_not_an_image_url_or_a_plausible_date_is_dropped() -> None:
    head = (
        '<meta property="og:image" content="javascript:alert(1)">'
        '<meta property="article:modified_time" content="1970-01-01T00:00:00Z">'
    )
    doc = document(make_page(page(head)))
    assert doc.image_url is None
    assert doc.modified_at is None
    inline = document(make_page(page('<meta property="og:image" content="data:image/png;x">')))
    assert inline.image_url is None
    # Malformed: the article was lost to it ("extraction error: ValueError").
    broken = document(make_page(page('<meta property="og:image" content="http://[::1">')))
    assert broken.image_url is None
    assert broken.content == doc.content


def test_profile_urls_are_not_author_names() -> None:
    head = (
        '<meta property="article:author" content="https://facebook.com/citynews">'
        '<meta name="author" content="Jane Doe">'
    )
    assert document(make_page(page(head))).authors == ("Jane Doe",)


def test_the_record_file_is_the_same_with_or_without_metadata() -> None:
    head = '<meta name="author" content="Jane Doe"><meta property="article:section" content="City">'
    with_metadata = document(make_page(page(head)))
    without = document(make_page(page("")))
    assert render(with_metadata) == render(without)
    assert parse(render(with_metadata)) == with_metadata
    assert not parse(render(with_metadata)).has_page_metadata


# -- bounds ------------------------------------------------------------------------------


def make(n: int = 1, **changes: object) -> Document:
    fields: dict[str, object] = {
        "title": f"Article {n}",
        "published": datetime(2024, 5, 2, 9, 30, tzinfo=UTC),
        "type": "Notícias",
        "url": f"https://news.example.org/article-{n}",
        "source_name": "Example News",
        "source_url": "https://news.example.org",
        "language": "en",
        "aggregator": "RSS",
        "content": f"Body of article {n}.\n\nSecond paragraph.",
    }
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


def test_the_document_bounds_what_a_hostile_page_declares() -> None:
    doc = make(
        authors=["  Jane\n Doe ", "JANE DOE", "", *(f"name {n}" for n in range(10_000))],
        tags=tuple("t" * 1000 + str(n) for n in range(50)),
        description="word\u2028 " * 1_000_000,
        section="\x00City\x07 " + "s" * 500,
        image_url="https://news.example.org/" + "a" * 3000,
    )
    assert doc.authors is not None and doc.tags is not None
    assert doc.authors[0] == "Jane Doe"  # cleaned; "JANE DOE" is the same name
    assert len(doc.authors) == MAX_LIST_ITEMS and "JANE DOE" not in doc.authors
    assert all(len(tag) == MAX_NAME_CHARS for tag in doc.tags)
    assert len(doc.tags) == 1  # the same 200 characters, 50 times
    assert doc.description is not None and len(doc.description) <= MAX_DESCRIPTION_CHARS
    assert "\n" not in doc.description and "\u2028" not in doc.description
    assert doc.section is not None and doc.section.startswith("City s")
    assert len(doc.section) == MAX_NAME_CHARS
    assert doc.image_url is None


def test_lone_surrogates_from_json_ld_cannot_break_a_row() -> None:
    doc = make(
        authors=["Jane \ud800Doe"],
        description="A \udfffsummary",
        image_url="https://news.example.org/\ud800.jpg",
    )
    assert doc.authors == ("Jane Doe",) and doc.description == "A summary"
    assert doc.image_url is None


def test_a_page_whose_json_ld_holds_lone_surrogates_is_stored(tmp_path: Path) -> None:
    # A JSON "\ud83d" without its pair decodes to a lone surrogate, which UTF-8 cannot
    # encode: the record file's write failed on the title and the body it gave.
    body = "The council approved the budget for buses \\udc00 and trams. " * 12
    jsonld = (
        '{"@type": "NewsArticle", "headline": "Budget \\ud83d approved",'
        f' "datePublished": "2024-05-02T09:30:00Z", "articleBody": "{body}"}}'
    )
    html = (
        '<html lang="en"><head><title>Budget approved</title>'
        f'<script type="application/ld+json">{jsonld}</script></head>'
        "<body><article><h1>Budget approved</h1><p>Short.</p></article></body></html>"
    )

    doc = document(make_page(html))

    assert doc.title == "Budget approved"
    assert doc.content.startswith("The council approved the budget for buses and trams. ")
    assert FileStore(tmp_path).write(doc).status == "new"


@pytest.mark.parametrize(
    "junk",
    [
        "[" * 50_000 + "]" * 50_000,  # past the JSON parser's own stack
        '{"@graph": [' * 900 + '{"@type": "NewsArticle"}' + "]}" * 900,  # past ours
    ],
)
def test_json_ld_nested_past_any_stack_costs_the_page_nothing(junk: str) -> None:
    # Each ended the page with "extraction error: RecursionError"; the page's other
    # JSON-LD object is still read.
    article = '{"@type": "NewsArticle", "datePublished": "2024-05-02T09:30:00Z"}'
    scripts = "".join(
        f'<script type="application/ld+json">{block}</script>' for block in (junk, article)
    )
    html = (
        f'<html lang="en"><head><title>Budget approved</title>{scripts}</head><body>'
        "<article><h1>Budget approved</h1>"
        f"<p>{'The council approved the budget for buses and trams. ' * 12}</p>"
        "</article></body></html>"
    )

    doc = document(make_page(html))

    assert (doc.published_original, doc.date_source) == ("2024-05-02T09:30:00+00:00", "jsonld")


def test_modified_at_needs_a_time_zone_and_loses_its_fraction() -> None:
    with pytest.raises(ValueError, match="modified_at"):
        make(modified_at=datetime(2024, 5, 2, 9, 30))
    moment = datetime(2024, 5, 2, 9, 30, 1, 500, tzinfo=UTC)
    assert make(modified_at=moment).modified_at == moment.replace(microsecond=0)
    with pytest.raises(ValueError, match="sequences"):
        make(authors="Jane Doe")


# -- the pending journal -----------------------------------------------------------------

DETAILS = {
    "authors": ("Jane Doe",),
    "description": "Forty buses.",
    "image_url": "https://news.example.org/bus.jpg",
    "modified_at": datetime(2024, 5, 3, 10, 0, tzinfo=timezone(timedelta(hours=2))),
    "section": "City",
    "tags": ("buses", "depots"),
}


def test_the_journal_carries_the_metadata_to_the_database(tmp_path: Path) -> None:
    root = tmp_path / "articles"
    doc = replace(make(1), **DETAILS)  # type: ignore[arg-type]
    written = FileStore(root).write(doc)
    note_pending(root, [ArticleRecord(doc, "city", written.relative_path, written.content_hash)])

    (entry,) = load_pending(root).entries
    assert entry.details == DETAILS

    db = SQLiteDatabase(tmp_path / "scraper.db")
    db.migrate()
    try:
        assert sync_pending(db, FileStore(root)) == 1
        (row,) = db.articles_since()
    finally:
        db.close()
    assert row["authors"] == ["Jane Doe"] and row["tags"] == ["buses", "depots"]
    assert row["modified_at"] == DETAILS["modified_at"]
    assert (row["description"], row["image_url"], row["section"]) == (
        "Forty buses.",
        "https://news.example.org/bus.jpg",
        "City",
    )
    assert not pending_path(root).exists()


def test_old_journal_lines_still_load(tmp_path: Path) -> None:
    written = FileStore(tmp_path).write(make(1))
    old = {"id": make(1).id, "source_id": "city", "file": written.relative_path}
    with_provenance = {**old, "published_original": "2024-05-02", "date_source": "url"}
    for value in (old, with_provenance, {**with_provenance, "authors": None, "tags": None}):
        entry = parse_pending_line(json.dumps(value), tmp_path)
        assert not isinstance(entry, BadJournalLine)
        assert getattr(entry, "details", "missing") is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"authors": "Jane Doe"}, "authors"),
        ({"tags": ["x"] * (MAX_LIST_ITEMS + 1)}, "tags"),
        ({"tags": ["a\nb"]}, "tags"),
        ({"authors": ["x" * (MAX_NAME_CHARS + 1)]}, "authors"),
        ({"description": "d" * (MAX_DESCRIPTION_CHARS + 1)}, "description"),
        ({"image_url": "file:///etc/passwd"}, "image_url"),
        ({"image_url": "https://a.example/ b.jpg"}, "image_url"),
        ({"modified_at": "yesterday"}, "modified_at"),
        ({"modified_at": "2024-05-03T10:00:00"}, "modified_at"),
        ({"section": 42}, "section"),
        ({"colour": "red"}, "expected the keys"),
    ],
)
def test_bad_metadata_in_a_journal_line_is_refused(
    tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    written = FileStore(tmp_path).write(make(1))
    value = {"id": make(1).id, "source_id": "city", "file": written.relative_path, **change}
    with pytest.raises(BadJournalLine, match=reason):
        parse_pending_line(json.dumps(value), tmp_path)
