"""Files and rows stay level whichever is lost (issue 11): record files deleted while the
database kept its rows come back, byte for byte, with the next crawl or ``scraper db
sync``; a new, empty database beside existing files is filled by the next crawl; and
when there is too much to do before a crawl, the user is told in one line what to run.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from scraper.document import render
from scraper.storage.files import content_hash
from scraper.storage.level import FILE_LIMIT
from tests.e2e.test_crawl import feed_source
from tests.support.cli import Project, run_scraper
from tests.support.http_server import LocalHTTPServer, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = pytest.mark.e2e

Rows = Callable[[str], list[tuple[object, ...]]]


class Store:
    """The database a test's crawls use (--database), and a way to read its rows."""

    def __init__(self, url: str, read: Rows) -> None:
        self.url = url
        self.rows = read

    def articles(self) -> dict[str, tuple[str, str]]:
        """file_path -> (source_id, content_hash) of every row."""
        rows = self.rows("SELECT file_path, source_id, content_hash FROM articles")
        return {str(path): (str(source), str(digest)) for path, source, digest in rows}


def sqlite_store(path: Path) -> Store:
    def read(query: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(path) as conn:
            return conn.execute(query).fetchall()

    return Store(f"sqlite:///{path}", read)


def postgres_store(url: str) -> Store:
    def read(query: str) -> list[tuple[object, ...]]:
        with psycopg.connect(url) as conn:
            return conn.execute(query.encode()).fetchall()

    return Store(url, read)


@pytest.fixture
def pg_schemas(pg_session_dsn: str) -> Iterator[Callable[[], str]]:
    """Makes postgresql:// URLs of new, empty schemas (dropped afterwards)."""
    info = conninfo_to_dict(pg_session_dsn)
    made: list[str] = []

    def new_url() -> str:
        schema = f"e2e_level_{secrets.token_hex(6)}"
        with psycopg.connect(pg_session_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        made.append(schema)
        return (
            f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
            f"{info.get('port', 5432)}/{info['dbname']}"
            f"?options={quote(f'-c search_path={schema}')}"
        )

    yield new_url
    with psycopg.connect(pg_session_dsn, autocommit=True) as conn:
        for schema in made:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.db)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Makes a new, empty database of the parametrized kind."""
    made = 0

    def make() -> Store:
        nonlocal made
        made += 1
        if request.param == "sqlite":
            return sqlite_store(tmp_path / f"db{made}" / "scraper.db")
        return postgres_store(request.getfixturevalue("pg_schemas")())

    return make


ARTICLES = 5


def serve_site(server: LocalHTTPServer) -> None:
    items = []
    for n in range(ARTICLES):
        path = f"/news/{n}"
        server.route(path, Route(body=article_page(f"Story {n}", article_paragraphs(n))))
        # Three days: one lost file, and a whole lost day, below.
        items.append((f"Story {n}", server.url(path), f"Thu, 0{1 + n % 3} May 2024 09:30:00 GMT"))
    server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))


def configure(project: Project, server: LocalHTTPServer) -> None:
    serve_site(server)
    project.write_source(feed_source(server))


def crawl(project: Project, store: Store) -> subprocess.CompletedProcess[str]:
    return run_scraper(
        "crawl", "city", "--config", project.config, "--database", store.url, cwd=project.root
    )


def db_sync(project: Project, store: Store) -> subprocess.CompletedProcess[str]:
    return run_scraper(
        "db", "sync", "--config", project.config, "--database", store.url, cwd=project.root
    )


def contents(project: Project) -> dict[str, bytes]:
    return {name: data for name, (data, _mtime) in project.snapshot().items()}


def lose_files(project: Project) -> int:
    """Delete one record file and a whole date folder; returns how many files went."""
    folders = sorted(path for path in project.output.iterdir() if path.is_dir())
    one = sorted(folders[0].glob("*.txt"))[0]
    one.unlink()
    day = len(list(folders[-1].glob("*.txt")))
    shutil.rmtree(folders[-1])
    return 1 + day


def article_fetches(server: LocalHTTPServer) -> int:
    return sum(len(server.requests_to(f"/news/{n}")) for n in range(ARTICLES))


def assert_rows_match_files(project: Project, store: Store) -> None:
    rows = store.articles()
    on_disk = {p.relative_to(project.output).as_posix(): p.read_bytes() for p in project.files()}
    assert set(rows) == set(on_disk)
    for path, (_source, digest) in rows.items():
        assert content_hash(on_disk[path].decode("utf-8")) == digest


def test_files_lost_are_restored_by_the_next_crawl_byte_for_byte(
    server: LocalHTTPServer, project: Project, new_store: Callable[[], Store]
) -> None:
    configure(project, server)
    store = new_store()
    first = crawl(project, store)
    assert first.returncode == 0, first.stderr
    before = contents(project)
    assert len(before) == ARTICLES
    fetched = article_fetches(server)

    lost = lose_files(project)
    again = crawl(project, store)

    assert again.returncode == 0, again.stderr
    assert f"restored {lost} files from the database" in again.stdout
    assert contents(project) == before  # the same names, the same bytes
    # Restored before the crawl, so the crawl knows them all: nothing fetched again.
    assert f"known {ARTICLES}, fetched 0" in again.stdout
    assert article_fetches(server) == fetched
    assert_rows_match_files(project, store)
    third = crawl(project, store)
    assert third.returncode == 0 and "restored" not in third.stdout


def test_files_lost_are_restored_by_db_sync_byte_for_byte(
    server: LocalHTTPServer, project: Project, new_store: Callable[[], Store]
) -> None:
    configure(project, server)
    store = new_store()
    assert crawl(project, store).returncode == 0
    before = contents(project)

    lost = lose_files(project)
    synced = db_sync(project, store)

    assert synced.returncode == 0, synced.stderr
    assert f"{lost} restored from the database" in synced.stdout
    assert contents(project) == before
    assert_rows_match_files(project, store)
    again = db_sync(project, store)
    assert "0 restored from the database" in again.stdout
    assert f"{ARTICLES} already level" in again.stdout


def test_a_new_database_beside_existing_files_is_filled_by_the_next_crawl(
    server: LocalHTTPServer, project: Project, new_store: Callable[[], Store]
) -> None:
    configure(project, server)
    assert crawl(project, new_store()).returncode == 0
    before = project.snapshot()

    fresh = new_store()
    filled = crawl(project, fresh)

    assert filled.returncode == 0, filled.stderr
    assert f"stored {ARTICLES} database rows from the files" in filled.stdout
    assert f"known {ARTICLES}, fetched 0" in filled.stdout
    assert project.snapshot() == before  # the files were only read
    assert_rows_match_files(project, fresh)
    # The source is told by the configured source whose site the articles are on.
    assert {source for source, _ in fresh.articles().values()} == {"city"}


def test_too_many_lost_files_for_a_crawl_are_left_to_db_sync_which_it_names(
    server: LocalHTTPServer, project: Project, tmp_path: Path
) -> None:
    """Past 2,000 files a crawl does not hold up for them: it says what to run."""
    configure(project, server)
    store = sqlite_store(tmp_path / "db" / "scraper.db")
    assert crawl(project, store).returncode == 0
    # Many more articles, stored as `scraper db sync` stores files it finds.
    template = project.documents()[0]
    for n in range(FILE_LIMIT + 1):
        doc = replace(
            template,
            url=f"{template.url}?page={n}",
            title=f"Archive {n}",
            published=template.published.replace(year=2023, month=1, day=1),
        )
        folder = project.output / "2023-01-01"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n:03d}_{doc.id}.txt").write_text(render(doc), encoding="utf-8")
    assert db_sync(project, store).returncode == 0
    before = contents(project)
    shutil.rmtree(project.output / "2023-01-01")

    told = crawl(project, store)

    assert told.returncode == 0, told.stderr
    hint = [line for line in told.stderr.splitlines() if "no record file" in line]
    assert len(hint) == 1, told.stderr
    assert f"{FILE_LIMIT + 1} articles in the database have no record file" in hint[0]
    assert "run 'scraper db sync' to restore them" in hint[0]
    assert not (project.output / "2023-01-01").exists()

    synced = db_sync(project, store)
    assert f"{FILE_LIMIT + 1} restored from the database" in synced.stdout
    assert contents(project) == before


@pytest.mark.timeout(120)
def test_a_daemon_restores_files_lost_while_it_runs(
    server: LocalHTTPServer, project: Project
) -> None:
    from tests.e2e.test_daemon import DaemonProcess, wait_for

    configure(project, server)
    project.write_settings(http_port=0, workers=1)
    project.write_source(feed_source(server, schedule={"every": "2s"}))
    daemon = DaemonProcess(project.config)
    try:
        wait_for(lambda: len(project.files()) == ARTICLES, 60, "the first run", daemon)
        # The feed lists nothing any more: only the database can give the files back.
        server.route("/feed.xml", Route(body=rss_feed([]), content_type="application/rss+xml"))
        # Two more runs: the second one started after the change (runs of a source do
        # not overlap), so no run in flight still has the old feed's links.
        runs = daemon.log.count("city: ok")
        wait_for(lambda: daemon.log.count("city: ok") >= runs + 2, 30, "two runs", daemon)
        before = contents(project)
        lost = lose_files(project)
        wait_for(lambda: contents(project) == before, 30, "the files restored", daemon)
    finally:
        code, _ = daemon.terminate()
    assert code == 0, daemon.log
    assert f"files and rows level: restored {lost} files from the database" in daemon.log
