"""The database as the queryable twin of the files: rows == files, re-crawls and parallel
crawls add nothing, and a database that is down loses no file and catches up later."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from scraper.urls import article_id
from tests.e2e.test_crawl import feed_source
from tests.support.cli import Project, run_scraper, scraper_command
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = [pytest.mark.e2e, pytest.mark.db]

DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"


def serve_feed(server: LocalHTTPServer, count: int) -> None:
    items = []
    for n in range(count):
        path = f"/news/{n}"
        server.route(path, Route(body=article_page(f"Story {n}", article_paragraphs(n))))
        items.append((f"Story {n}", server.url(path), f"Thu, 0{1 + n % 5} May 2024 09:30:00 GMT"))
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))


def setup(project: Project, server: LocalHTTPServer, count: int = 6) -> None:
    serve_feed(server, count)
    project.write_source(feed_source(server))


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


def assert_rows_match_files(project: Project, url: str) -> None:
    stored = rows(url, "SELECT url, file_path FROM articles ORDER BY url")
    files = {p.relative_to(project.output).as_posix(): p for p in project.files()}
    assert len(stored) == len(files)
    assert {path for _, path in stored} == set(files)
    assert len({u for u, _ in stored}) == len(stored)
    by_path = {path: u for u, path in stored}
    for path, file in files.items():
        assert f">URL: {by_path[path]}\n" in file.read_text(encoding="utf-8")


def crawl(project: Project, database: str) -> subprocess.CompletedProcess[str]:
    return run_scraper(
        "crawl", "city", "--config", project.config, "--database", database, cwd=project.root
    )


def test_postgres_rows_equal_files_and_a_recrawl_adds_none(
    server: LocalHTTPServer, project: Project, pg_url: str
) -> None:
    setup(project, server)
    assert crawl(project, pg_url).returncode == 0
    assert_rows_match_files(project, pg_url)
    assert len(project.files()) == 6

    second = crawl(project, pg_url)
    assert second.returncode == 0 and "known 6" in second.stdout
    assert_rows_match_files(project, pg_url)
    discoveries = rows(pg_url, "SELECT count(*) FROM discoveries")[0][0]
    assert isinstance(discoveries, int) and discoveries >= 6

    runs = rows(pg_url, "SELECT status, counts FROM crawl_runs ORDER BY id")
    assert [status for status, _ in runs] == ["ok", "ok"]
    assert [counts["new"] for _, counts in runs] == [6, 0]  # type: ignore[index]
    status = run_scraper(
        "sources",
        "--config",
        project.config,
        cwd=project.root,
        env={"SCRAPER_DATABASE_URL": pg_url},
    )
    assert "city: last run" in status.stdout and "new 0" in status.stdout, status.stdout


def test_two_parallel_crawls_leave_no_duplicates(
    server: LocalHTTPServer, project: Project, pg_url: str
) -> None:
    setup(project, server, count=12)
    command = [
        *scraper_command(),
        "crawl",
        "city",
        "--config",
        str(project.config),
        "--database",
        pg_url,
    ]
    both = [
        subprocess.Popen(
            command, cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for process in both:
        _out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    assert len(project.files()) == 12
    assert len({p.name.split("_")[1] for p in project.files()}) == 12
    assert_rows_match_files(project, pg_url)


@pytest.mark.parametrize(
    ("unusable", "named"),
    [
        (DEAD_DATABASE, "127.0.0.1:1"),  # nothing listens there
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", "does not exist"),
    ],
)
def test_database_down_writes_every_file_and_the_next_run_catches_up(
    server: LocalHTTPServer, project: Project, pg_url: str, unusable: str, named: str
) -> None:
    setup(project, server)

    down = crawl(project, unusable)

    assert down.returncode == 4
    assert len(project.files()) == 6
    message = down.stderr.strip().splitlines()[-1]
    assert message.startswith("error: the database is behind the files")
    assert named in message
    assert "Traceback" not in down.stderr

    back = crawl(project, pg_url)
    assert back.returncode == 0, back.stderr
    assert_rows_match_files(project, pg_url)
    sources = rows(pg_url, "SELECT DISTINCT source_id FROM articles")
    assert sources == [("city",)]  # the journal kept which source wrote each file
    # ... and what the feed listed while the database was down: those 6 sightings were
    # recorded on catching up, beside the 6 of the run that caught up.
    sightings = rows(pg_url, "SELECT count(*), count(DISTINCT url) FROM discoveries")
    assert sightings == [(12, 6)]
    # Both runs are in crawl_runs: the one the database missed was journalled, with
    # what it did (it had no row at all before).
    runs = rows(
        pg_url,
        "SELECT status, (counts->>'new')::int, (counts->>'known')::int, "
        "finished_at > started_at FROM crawl_runs WHERE source_id = 'city' ORDER BY started_at",
    )
    assert runs == [("ok", 6, 0, True), ("ok", 0, 6, True)]


def test_db_sync_writes_the_runs_a_crawl_journalled_while_the_database_was_down(
    server: LocalHTTPServer, project: Project, pg_url: str
) -> None:
    # `scraper db sync` deleted the journal's run lines without writing them.
    setup(project, server)
    assert crawl(project, DEAD_DATABASE).returncode == 4

    synced = run_scraper(
        "db", "sync", "--config", project.config, "--database", pg_url, cwd=project.root
    )

    assert synced.returncode == 0, synced.stderr
    runs = rows(pg_url, "SELECT source_id, status, (counts->>'new')::int FROM crawl_runs")
    assert runs == [("city", "ok", 6)]
    assert not (project.output / ".db-pending.jsonl").exists()


def test_sqlite_default_needs_no_server(server: LocalHTTPServer, project: Project) -> None:
    setup(project, server, count=3)
    result = run_scraper("crawl", "city", "--config", project.config, cwd=project.root)
    assert result.returncode == 0, result.stderr
    exported = run_scraper(
        "export", "--config", project.config, "--format", "jsonl", cwd=project.root
    )
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.strip().splitlines()) == 3


def test_a_listed_url_whose_host_holds_a_control_character_does_not_stop_the_database(
    server: LocalHTTPServer, project: Project, pg_url: str
) -> None:
    # PostgreSQL refuses text holding NUL: one such sighting failed its whole batch, and
    # every row after it went to the journal (exit 4), on every run.
    server.route("/news/0", Route(body=article_page("Story 0", article_paragraphs(0))))
    items = [
        {"id": "bad", "url": "http://exa\u0000mple.com/a", "title": "Bad"},
        {"id": "good", "url": server.url("/news/0"), "title": "Story 0"},
    ]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    server.route("/feed.xml", Route(body=body, content_type="application/feed+json"))
    project.write_source(feed_source(server))

    result = crawl(project, pg_url)

    assert result.returncode == 0, result.stderr
    assert "discovered 1, known 0, fetched 1, new 1," in result.stdout
    assert "feed: invalid URL (1)" in result.stdout
    assert rows(pg_url, "SELECT url FROM articles") == [(server.url("/news/0"),)]


def test_an_article_whose_row_the_database_refuses_is_counted_and_the_rest_is_stored(
    server: LocalHTTPServer, project: Project, tmp_path: Path
) -> None:
    # One refused row failed its batch: the database was marked behind for the rest of
    # the crawl, every other row went to the journal, and the crawl exited 4.
    setup(project, server, count=3)
    location = tmp_path / "news.db"
    database = f"sqlite:///{location}"
    migrated = run_scraper(
        "db", "migrate", "--config", project.config, "--database", database, cwd=project.root
    )
    assert migrated.returncode == 0, migrated.stderr
    refused = article_id(server.url("/news/1"))
    with sqlite3.connect(location) as conn:  # a constraint the row breaks
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles "
            f"WHEN NEW.id = '{refused}' BEGIN SELECT RAISE(ABORT, 'not this one'); END"
        )

    result = crawl(project, database)

    assert result.returncode == 5, result.stderr
    assert "discovered 3, known 0, fetched 3, new 2, updated 0, unchanged 0" in result.stdout
    assert "database: row refused (1)" in result.stdout
    assert f"the database refused the row of article {refused}" in result.stderr
    with sqlite3.connect(location) as conn:
        stored = {row[0] for row in conn.execute("SELECT url FROM articles")}
    assert stored == {server.url("/news/0"), server.url("/news/2")}
    assert len(project.files()) == 3  # the refused article's file stays
