"""`scraper export` and the richer store after a real crawl (issue 11, parts 6 and 7): the
filters on publication time, the stored-since cursor, language and limit, CSV, an unknown
source refused, and the page's authors, description, image, modification time, section
and tags in the database (SQLite and PostgreSQL) and in the export."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import psycopg
import pytest

from tests.e2e.test_crawl import feed_source
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

DAYS = 5  # article n is published on 2024-05-0(n+1), 09:30 GMT (06:30 in São Paulo)
PORTUGUESE = 3  # the one article in Portuguese
PORTUGUESE_TEXT = [
    "O conselho regional aprovou na terça-feira o novo orçamento para o transporte público.",
    "Segundo os responsáveis, o dinheiro vai pagar quarenta ônibus elétricos e duas garagens.",
    "Os moradores tinham pedido mais horários nas linhas que levam ao hospital da cidade.",
]


def paragraphs(n: int) -> list[str]:
    return PORTUGUESE_TEXT if n == PORTUGUESE else article_paragraphs(n)


def described_page(n: int, paragraphs: list[str], section: str = "City") -> str:
    """A news page that says everything about itself: JSON-LD and meta tags."""
    lang = "pt" if n == PORTUGUESE else "en"
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": f"Story {n}",
        "datePublished": f"2024-05-0{n + 1}T09:30:00Z",
        "dateModified": f"2024-05-0{n + 1}T15:45:00+02:00",
        "author": [
            {"@type": "Person", "name": "Jane Doe"},
            {"@type": "Person", "name": f"Reporter {n}"},
        ],
        "keywords": ["transport", f"story-{n}"],
    }
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Story {n} | City News</title>
<meta property="og:title" content="Story {n}">
<meta property="og:description" content="Summary of story {n}, in one sentence.">
<meta property="og:image" content="/media/story-{n}.jpg">
<meta property="article:section" content="{escape(section)}">
<script type="application/ld+json">{json.dumps(data)}</script></head>
<body><header><nav><a href="/">Home</a> <a href="/news">News</a></nav></header>
<main><article><h1>Story {n}</h1>
{body}
</article></main>
<footer><p>City News, 1 Main Street.</p></footer></body></html>"""


def serve(server: LocalHTTPServer, project: Project) -> None:
    items = []
    for n in range(DAYS):
        path = f"/news/{n}"
        server.route(path, Route(body=described_page(n, paragraphs(n))))
        items.append((f"Story {n}", server.url(path), f"0{n + 1} May 2024 09:30:00 GMT"))
    feed = rss_feed([(t, u, f"Thu, {d}") for t, u, d in items])
    server.route("/feed.xml", Route(body=feed, content_type="application/rss+xml"))
    project.write_source(feed_source(server))


def export(project: Project, *args: str, database: str | None = None) -> tuple[int, str, str]:
    where = ["--database", database] if database else []
    result = run_scraper("export", "--config", project.config, *where, *args, cwd=project.root)
    return result.returncode, result.stdout, result.stderr


def titles(jsonl: str) -> list[str]:
    return sorted(json.loads(line)["title"] for line in jsonl.splitlines())


def stories(*numbers: int) -> list[str]:
    return sorted(f"Story {n}" for n in numbers)


@pytest.fixture
def crawled(server: LocalHTTPServer, project: Project) -> Project:
    serve(server, project)
    result = run_scraper("crawl", "city", "--config", project.config, cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert len(project.files()) == DAYS
    return project


@pytest.mark.parametrize("from_files", [False, True])
def test_export_filters(crawled: Project, from_files: bool) -> None:
    where = ["--from-files"] if from_files else []

    code, out, err = export(crawled, *where, "--since", "2024-05-03")
    assert (code, titles(out)) == (0, stories(2, 3, 4)), err
    assert err.startswith("warning: export --since now filters on publication time")

    code, out, err = export(crawled, *where, "--since", "2024-05-02", "--until", "2024-05-03")
    assert (code, titles(out), err) == (0, stories(1, 2), "")
    code, out, _ = export(crawled, *where, "--until", "2024-05-01T06:30:00-03:00")
    assert titles(out) == stories(0)  # up to that second, included

    code, out, _ = export(crawled, *where, "--language", "pt")
    assert titles(out) == stories(PORTUGUESE)
    code, out, _ = export(crawled, *where, "--language", "en", "--limit", "2")
    assert len(out.splitlines()) == 2 and f"Story {PORTUGUESE}" not in titles(out)

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    code, out, err = export(crawled, *where, "--stored-since", future)
    assert (code, out, err) == (0, "", "")
    code, out, _ = export(crawled, *where, "--stored-since", past)
    assert titles(out) == stories(*range(DAYS))


def test_export_csv(crawled: Project) -> None:
    target = crawled.root / "export.csv"
    code, _, err = export(
        crawled,
        "--format",
        "csv",
        "--since",
        "2024-05-02",
        "--until",
        "2024-05-04",
        "-o",
        str(target),
    )
    assert code == 0, err
    out = target.read_bytes().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert out.startswith("id,url,title,published_at,")
    assert out.count("\r\n") == len(rows) + 1  # CRLF ends each row; the text keeps its "\n"
    assert sorted(row["title"] for row in rows) == stories(1, 2, 3)
    by_title = {row["title"]: row for row in rows}
    first = by_title["Story 1"]
    assert first["content"] == "\n\n".join(article_paragraphs(1))  # whole, in one cell
    assert first["published_at"] == "2024-05-02T06:30:00-03:00"
    assert json.loads(first["authors"]) == ["Jane Doe", "Reporter 1"]
    assert json.loads(first["tags"]) == ["transport", "story-1"]
    assert first["section"] == "City" and first["source_id"] == "city"


def test_an_unknown_source_is_an_error(crawled: Project) -> None:
    code, out, err = export(crawled, "--source", "nope")
    assert (code, out) == (2, "")
    assert err == "error: unknown source 'nope' (known: city)\n"
    code, out, _ = export(crawled, "--source", "city", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 1


# -- every new store field, on both backends --------------------------------------------

COLUMNS = "url, authors, description, image_url, modified_at, section, tags"


def stored_rows(kind: str, location: str, table: str = "articles") -> dict[str, tuple[Any, ...]]:
    """url (or the article's url for a version) -> the metadata columns, JSON decoded."""
    if table == "article_versions":
        query = f"SELECT {COLUMNS} FROM article_versions"
    else:
        query = f"SELECT {COLUMNS} FROM articles"
    if kind == "sqlite":
        with sqlite3.connect(location) as conn:
            found = conn.execute(query).fetchall()
    else:
        with psycopg.connect(location) as conn:
            found = conn.execute(query.encode()).fetchall()
    result = {}
    for url, authors, description, image, modified, section, tags in found:
        if isinstance(modified, str):
            modified = datetime.fromisoformat(modified)
        if isinstance(authors, str):
            authors, tags = json.loads(authors), json.loads(tags)
        result[url] = (authors, description, image, modified, section, tags)
    return result


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.db)])
def test_every_new_field_is_stored_after_a_crawl(
    server: LocalHTTPServer, project: Project, request: pytest.FixtureRequest, kind: str
) -> None:
    if kind == "sqlite":
        location = str(project.root / "data" / "scraper.db")
        database = f"sqlite:///{location}"
    else:
        location = database = request.getfixturevalue("pg_url")
    serve(server, project)
    crawl = ["crawl", "city", "--config", project.config, "--database", database]
    result = run_scraper(*crawl, cwd=project.root)
    assert result.returncode == 0, result.stderr

    rows = stored_rows(kind, location)
    assert len(rows) == DAYS
    for n in range(DAYS):
        url = server.url(f"/news/{n}")
        assert rows[url] == (
            ["Jane Doe", f"Reporter {n}"],
            f"Summary of story {n}, in one sentence.",
            server.url(f"/media/story-{n}.jpg"),
            datetime(2024, 5, n + 1, 13, 45, tzinfo=UTC),
            "City",
            ["transport", f"story-{n}"],
        )
    for record in project.files():  # the record files stay as they were: no new line
        text = record.read_text(encoding="utf-8")
        assert "Jane Doe" not in text and "Summary of story" not in text

    code, out, err = export(project, "--language", "en", "--limit", "1", database=database)
    assert code == 0, err
    (exported,) = [json.loads(line) for line in out.splitlines()]
    assert exported["authors"][0] == "Jane Doe" and exported["tags"][0] == "transport"
    assert exported["image_url"].endswith(".jpg") and exported["section"] == "City"
    assert exported["modified_at"].endswith("-03:00")  # in the output zone, as published_at
    assert exported["description"].startswith("Summary of story")

    # A changed page: the row gets its new metadata, the replaced version keeps the old.
    server.route("/news/1", Route(body=described_page(1, article_paragraphs(11), "Politics")))
    again = run_scraper(*crawl, "--refresh", cwd=project.root)
    assert again.returncode == 0, again.stderr
    assert stored_rows(kind, location)[server.url("/news/1")][4] == "Politics"
    (version,) = stored_rows(kind, location, "article_versions").values()
    assert version[4] == "City" and version[0] == ["Jane Doe", "Reporter 1"]
