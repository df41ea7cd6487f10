"""``scraper daemon`` as a subprocess against a local news site whose feed keeps growing.

What a user of the daemon relies on: every article is stored exactly once (one file,
named ``NNN_<id>.txt`` in its date folder), also across a SIGTERM restart and a SIGKILL
restart; SIGTERM exits 0 well within 30 s; no file is ever broken; /healthz and /metrics
answer while it runs; SIGHUP applies a valid config change, reports an invalid source
file and refuses invalid settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from scraper.document import parse
from scraper.urls import article_id, normalize_url
from tests.support.cli import scraper_command
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RECORD_NAME = re.compile(r"^(\d{3})_([0-9a-f]{16})\.txt$")
ZONE = "America/Sao_Paulo"
LISTENING = re.compile(r"health and metrics on (http://\S+)/healthz")
ROOT = Path(__file__).resolve().parents[2]

# --- the local news site ------------------------------------------------------------------


class NewsSite:
    """A feed that gains an item every ``every`` seconds (until frozen), and its articles."""

    def __init__(self, every: float = 1.0, start_items: int = 3) -> None:
        self.every = every
        self.started = time.monotonic() - start_items * every
        self.frozen_at: int | None = None
        self.base_time = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.server = LocalHTTPServer(fallback=self._answer)

    @property
    def url(self) -> str:
        return self.server.base_url

    def count(self) -> int:
        if self.frozen_at is not None:
            return self.frozen_at
        return int((time.monotonic() - self.started) / self.every)

    def freeze(self) -> int:
        """Stop adding items; returns how many the feed lists from now on."""
        self.frozen_at = self.count()
        return self.frozen_at

    def article_url(self, n: int) -> str:
        return f"{self.url}/news/{n}-item"

    def published(self, n: int) -> datetime:
        return self.base_time + timedelta(seconds=n)

    def _answer(self, request: RecordedRequest) -> Route:
        if request.path == "/feed.xml":
            items = [
                (f"Item {n}", self.article_url(n), format_datetime(self.published(n)))
                for n in reversed(range(self.count()))
            ]
            return Route(body=rss_feed(items), content_type="application/rss+xml")
        match = re.fullmatch(r"/news/(\d+)-item", request.path)
        if match and int(match[1]) < self.count():
            n = int(match[1])
            return Route(body=article_page(f"Item {n}", article_paragraphs(n), published=None))
        return Route(status=404, body="not found", content_type="text/plain")

    def __enter__(self) -> NewsSite:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


# --- the daemon as a subprocess -----------------------------------------------------------


def daemon_command() -> list[str]:
    return [*scraper_command(), "daemon"]


class DaemonProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.lines: list[str] = []
        # The checkout first on the path, whether or not the project is pip-installed.
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(env or {})}
        self.process = subprocess.Popen(
            [*daemon_command(), "--config", str(config)],
            cwd=config.parent,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, extraction workers included
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def _wait_for_url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := LISTENING.search(line):
                    return match[1]
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"the daemon did not start:\n{self.log}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def health(self) -> dict[str, Any]:
        status, body = self.get("/healthz")
        assert status == 200, body
        data: dict[str, Any] = json.loads(body)
        return data

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; the exit code and how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"no exit within {timeout} s of SIGTERM:\n{self.log}") from None
        self._reader.join(5)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to the whole process group, as a container runtime or OOM killer does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        else:
            with contextlib.suppress(ProcessLookupError):  # orphaned workers, if any
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(5)


@pytest.fixture
def config_dir(tmp_path: Path) -> Iterator[Path]:
    config = tmp_path / "config"
    (config / "sources").mkdir(parents=True)
    (config / "settings.yaml").write_text(
        textwrap.dedent(
            f"""\
            timezone: {ZONE}
            output_dir: {tmp_path / "articles"}
            sqlite_path: {tmp_path / "scraper.db"}
            http_port: 0
            workers: 1
            download_timeout: 10
            retries: 1
            """
        ),
        encoding="utf-8",
    )
    yield config


def write_source(
    config: Path,
    source_id: str,
    site_url: str,
    every: str = "5s",
    channel: str = "kind: feed\n    url: {site}/feed.xml",
) -> None:
    """A source of the local site; ``channel`` is its one discovery channel's YAML."""
    text = textwrap.dedent(
        f"""\
        id: {source_id}
        name: Local News {source_id}
        homepage: {site_url}/
        language: en
        schedule: {{every: {every}}}
        discovery:
          - CHANNEL
        crawl: {{delay: 0, concurrency: 4, robots: false}}
        """
    ).replace("CHANNEL", channel.format(site=site_url))
    allow_address(config, urlsplit(site_url).netloc)
    (config / "sources" / f"{source_id}.yaml").write_text(text, encoding="utf-8")


def allow_address(config: Path, authority: str) -> None:
    """Let the daemon reach a local site: its address and port join the settings'
    allow_private_addresses (only written when missing, so a running daemon's settings
    do not change under it)."""
    path = config / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    allowed = settings.setdefault("allow_private_addresses", [])
    if authority not in allowed:
        allowed.append(authority)
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")


def run_until(config: Path, done: Callable[[], bool], timeout: float = 40) -> DaemonProcess:
    """Run the daemon until ``done()`` (or the timeout), then stop it with SIGTERM."""
    daemon = DaemonProcess(config)
    try:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        code, _ = daemon.terminate()
    assert code == 0, daemon.log
    return daemon


def stored_files(root: Path) -> dict[str, list[Path]]:
    """Record files by article id, every one of them parsed (a broken file fails)."""
    found: dict[str, list[Path]] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.txt")):
        match = RECORD_NAME.match(path.name)
        assert match, f"badly named file {path}"
        doc = parse(path.read_text(encoding="utf-8"))
        assert doc.id == match[2], f"{path}: the name's id is not the URL's"
        assert path.parent.name == doc.published.strftime("%Y-%m-%d"), path
        found.setdefault(doc.id, []).append(path)
    return found


def wait_for(check: Callable[[], bool], timeout: float, what: str, daemon: DaemonProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{daemon.log[-4000:]}")
        if daemon.process.poll() is not None:
            raise AssertionError(f"the daemon exited while waiting for {what}:\n{daemon.log}")
        time.sleep(0.25)


def expected_ids(site: NewsSite, count: int) -> set[str]:
    return {article_id(normalize_url(site.article_url(n))) for n in range(count)}


def assert_stored_once(root: Path, site: NewsSite, count: int) -> None:
    files = stored_files(root)
    duplicates = {i: p for i, p in files.items() if len(p) > 1}
    assert not duplicates, f"articles stored twice: {duplicates}"
    assert set(files) == expected_ids(site, count)
    for folder in {p[0].parent for p in files.values()}:
        numbers = [RECORD_NAME.match(p.name)[1] for p in folder.glob("*.txt")]  # type: ignore[index]
        assert len(numbers) == len(set(numbers)), f"{folder}: a sequence number is used twice"


def test_every_item_is_stored_once_across_sigterm_and_sigkill_restarts(
    config_dir: Path,
) -> None:
    articles = config_dir.parent / "articles"
    with NewsSite(every=1.0) as site:
        write_source(config_dir, "local", site.url)

        first = DaemonProcess(config_dir)
        wait_for(lambda: len(stored_files(articles)) >= 3, 40, "the first articles", first)
        code, seconds = first.terminate()
        assert code == 0, first.log
        assert seconds < 30
        assert "Traceback" not in first.log, first.log

        second = DaemonProcess(config_dir)
        before = len(stored_files(articles))
        wait_for(lambda: len(stored_files(articles)) > before, 30, "more articles", second)
        second.kill()  # SIGKILL: no chance to clean up

        third = DaemonProcess(config_dir)
        count = site.freeze()
        wait_for(lambda: len(stored_files(articles)) >= count, 30, "every article", third)
        time.sleep(6)  # one more scheduled run: nothing may be stored a second time
        code, _ = third.terminate()
        assert code == 0, third.log
        assert_stored_once(articles, site, count)


def test_health_metrics_and_a_quick_clean_sigterm(config_dir: Path) -> None:
    articles = config_dir.parent / "articles"
    with NewsSite(every=1.0) as site:
        write_source(config_dir, "local", site.url)
        daemon = DaemonProcess(config_dir, env={"SCRAPER_LOG_FORMAT": "json"})
        try:
            health = daemon.health()
            assert health["status"] == "ok"
            assert health["sources"] == 1
            wait_for(lambda: len(stored_files(articles)) >= 3, 40, "articles", daemon)

            def run_counted() -> bool:
                _, body = daemon.get("/metrics")
                return b'scraper_runs_total{source="local",status="ok"}' in body

            wait_for(run_counted, 20, "a run in /metrics", daemon)
            status, body = daemon.get("/metrics")
            text = body.decode()
            assert status == 200
            assert 'scraper_articles_total{source="local",status="new"}' in text
            assert "scraper_run_duration_seconds_bucket" in text
            assert daemon.health()["last_success"]["local"] is not None
        finally:
            code, seconds = daemon.terminate()
        assert code == 0, daemon.log
        assert seconds < 30
        runs = [json.loads(line) for line in daemon.lines if line.startswith("{")]
        assert any(
            entry.get("source") == "local" and entry.get("status") == "ok" for entry in runs
        ), daemon.log
        files = stored_files(articles)  # every file parses
        with sqlite3.connect(config_dir.parent / "scraper.db") as db:
            recorded = db.execute(
                "SELECT status, counts FROM crawl_runs WHERE source_id = 'local'"
            ).fetchall()
        assert recorded, "every run is recorded in crawl_runs"
        assert {status for status, _ in recorded} <= {"ok", "partial"}
        assert sum(json.loads(counts)["new"] for _, counts in recorded) == len(files)


def test_sighup_applies_a_valid_config_and_refuses_invalid_settings(config_dir: Path) -> None:
    with NewsSite(every=1.0) as site:
        write_source(config_dir, "local", site.url, every="1h")
        daemon = DaemonProcess(config_dir)
        try:
            assert daemon.health()["sources"] == 1
            write_source(config_dir, "second", site.url, every="1h")
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(lambda: daemon.health()["sources"] == 2, 10, "the new source", daemon)

            # An invalid source file: reported, and its source runs on as it was.
            second = config_dir / "sources" / "second.yaml"
            second.write_text("id: second\nname: Second\nhomepage: not a url\n", encoding="utf-8")
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(
                lambda: str(second) in daemon.health()["config"]["invalid_sources"],
                10,
                "the invalid file reported",
                daemon,
            )
            # Its log line is read from the daemon's output apart from the health answer.
            wait_for(lambda: "invalid source file" in daemon.log, 10, "the report", daemon)
            report = next(line for line in daemon.lines if "invalid source file" in line)
            assert "second.yaml: homepage" in report and "last good config" in report
            assert daemon.health()["sources"] == 2, "second runs on with its last good config"

            # Invalid settings: the whole reload is refused.
            settings = config_dir / "settings.yaml"
            good_settings = settings.read_text(encoding="utf-8")
            settings.write_text(good_settings + "retries: many\n", encoding="utf-8")
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(lambda: "config reload refused" in daemon.log, 10, "the refusal", daemon)
            refusal = next(line for line in daemon.lines if "config reload refused" in line)
            assert "settings.yaml: retries" in refusal
            health = daemon.health()
            assert health["sources"] == 2, "the running config stays"
            assert health["config"]["last_reload_error"]
            settings.write_text(good_settings, encoding="utf-8")

            (config_dir / "sources" / "second.yaml").unlink()  # picked up without a signal
            wait_for(lambda: daemon.health()["sources"] == 1, 15, "the removal", daemon)
        finally:
            code, _ = daemon.terminate()
        assert code == 0, daemon.log


def test_a_redirecting_link_is_fetched_once_across_runs(config_dir: Path) -> None:
    with LocalHTTPServer() as server:
        feed = rss_feed([("Moved", server.url("/old/5"), "Thu, 02 May 2024 09:30:00 GMT")])
        server.routes(
            {
                "/feed.xml": Route(body=feed, content_type="application/rss+xml"),
                "/old/5": Route.redirect("/news/5", status=301),
                "/news/5": Route(body=article_page("Moved", article_paragraphs(5))),
            }
        )
        write_source(config_dir, "moved", server.base_url, every="2s")
        daemon = run_until(config_dir, lambda: len(server.requests_to("/feed.xml")) >= 4)
        assert len(server.requests_to("/feed.xml")) >= 4, daemon.log
        assert len(server.requests_to("/old/5")) == 1
        files = sorted((config_dir.parent / "articles").rglob("*.txt"))
        assert len(files) == 1
        assert f">URL: {server.url('/news/5')}\n" in files[0].read_text(encoding="utf-8")


def test_a_touched_sitemap_entry_is_fetched_once_for_the_touch(config_dir: Path) -> None:
    articles = config_dir.parent / "articles"
    touched: list[str] = []  # lastmod after the site "touched" the page, set once

    def sitemap(_request: RecordedRequest) -> Route:
        stored = list(articles.rglob("*.txt"))
        now = datetime.now(UTC).replace(microsecond=0)  # lastmod has whole seconds
        if not touched and stored and now.timestamp() > stored[0].stat().st_mtime:
            # The article is stored; now the site touches the page without changing it.
            touched.append(now.isoformat())
        lastmod = touched[0] if touched else "2024-05-01"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{server.url('/news/7')}</loc><lastmod>{lastmod}</lastmod></url>"
            "</urlset>"
        )
        return Route(body=body, content_type="application/xml")

    with LocalHTTPServer() as server:
        server.routes(
            {
                "/sitemap.xml": sitemap,
                "/news/7": Route(body=article_page("Touched", article_paragraphs(7))),
            }
        )
        write_source(
            config_dir,
            "touched",
            server.base_url,
            every="2s",
            channel="kind: sitemap\n    url: {site}/sitemap.xml",
        )
        daemon = run_until(config_dir, lambda: len(server.requests_to("/sitemap.xml")) >= 7)
        assert touched and len(server.requests_to("/sitemap.xml")) >= 7, daemon.log
        # Once when new, once after the touch; never again for the same lastmod.
        assert len(server.requests_to("/news/7")) == 2


def test_a_database_that_does_not_answer_stalls_neither_health_nor_crawls(
    config_dir: Path,
) -> None:
    """PostgreSQL accepts connections but never answers (a hung or unreachable server):
    /healthz keeps answering without waiting for the database and the articles are
    written as files."""
    articles = config_dir.parent / "articles"
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)  # the kernel completes the handshakes; nobody ever answers
    settings_path = config_dir / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["database_url"] = f"postgresql://postgres@127.0.0.1:{hung.getsockname()[1]}/x"
    settings_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    try:
        with NewsSite(every=1.0) as site:
            write_source(config_dir, "local", site.url, every="2s")
            daemon = DaemonProcess(config_dir)
            try:
                slowest = 0.0
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    started = time.monotonic()
                    status, _ = daemon.get("/healthz")
                    slowest = max(slowest, time.monotonic() - started)
                    assert status == 200
                    time.sleep(0.2)
                wait_for(lambda: len(stored_files(articles)) >= 3, 30, "articles", daemon)
                assert daemon.health()["database"]["behind"] is True
            finally:
                code, _ = daemon.terminate()
        # A stalled /healthz waits for the database (the start waits 2 s for it, a query
        # its 10 s timeout); a healthy one answers in milliseconds, stretched to over a
        # second on a loaded machine.
        assert slowest < 1.8, f"/healthz took {slowest:.2f} s\n{daemon.log}"
        assert code == 0, daemon.log
    finally:
        hung.close()


def test_a_recent_article_that_changes_is_picked_up_and_an_old_one_left_alone(
    config_dir: Path,
) -> None:
    """refresh: {window: 2d, every: 1s}: a recent article is fetched again on every run;
    its change is stored as a new version and rewrites its file in place, a page that
    answers 304 to its validators stays unchanged, and an old article is fetched once."""
    articles = config_dir.parent / "articles"
    now = datetime.now(UTC).replace(microsecond=0)
    correction = "A correction was added to this story after it was first published."
    fresh_text = {"paragraphs": article_paragraphs(1)}
    not_modified: list[float] = []

    def fresh(_request: RecordedRequest) -> Route:
        return Route(body=article_page("Fresh", fresh_text["paragraphs"], published=None))

    def cached(request: RecordedRequest) -> Route:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if headers.get("if-none-match") == '"v1"':
            not_modified.append(time.monotonic())
            return Route(status=304, content_type=None, headers={"ETag": '"v1"'})
        page = article_page("Cached", article_paragraphs(3), published=None)
        return Route(body=page, headers={"ETag": '"v1"'})

    with LocalHTTPServer() as server:
        items = [
            ("Fresh", server.url("/news/fresh"), format_datetime(now - timedelta(hours=1))),
            ("Cached", server.url("/news/cached"), format_datetime(now - timedelta(hours=2))),
            ("Old", server.url("/news/old"), format_datetime(now - timedelta(days=10))),
        ]
        server.routes(
            {
                "/feed.xml": Route(body=rss_feed(items), content_type="application/rss+xml"),
                "/news/fresh": fresh,
                "/news/cached": cached,
                "/news/old": Route(body=article_page("Old", article_paragraphs(2), None)),
            }
        )
        write_source(config_dir, "recent", server.base_url, every="1s")
        with (config_dir / "sources" / "recent.yaml").open("a", encoding="utf-8") as source:
            source.write("refresh: {window: 2d, every: 1s}\n")
        fresh_id = article_id(normalize_url(server.url("/news/fresh")))
        cached_id = article_id(normalize_url(server.url("/news/cached")))

        daemon = DaemonProcess(config_dir)
        try:
            wait_for(lambda: len(stored_files(articles)) == 3, 40, "three articles", daemon)
            [fresh_path] = stored_files(articles)[fresh_id]
            [cached_path] = stored_files(articles)[cached_id]
            cached_before = (cached_path.read_bytes(), cached_path.stat().st_mtime_ns)
            fresh_text["paragraphs"] = [*article_paragraphs(1), correction]
            wait_for(
                lambda: correction in fresh_path.read_text(encoding="utf-8"),
                30,
                "the change to be picked up",
                daemon,
            )
            wait_for(lambda: len(not_modified) >= 2, 20, "conditional GETs answered 304", daemon)
        finally:
            code, _ = daemon.terminate()
        assert code == 0, daemon.log
        assert "Traceback" not in daemon.log, daemon.log

        files = stored_files(articles)
        assert files[fresh_id] == [fresh_path], "rewritten in place, not a second file"
        assert (cached_path.read_bytes(), cached_path.stat().st_mtime_ns) == cached_before
        assert len(server.requests_to("/news/old")) == 1, "outside the window: fetched once"
        assert len(server.requests_to("/news/fresh")) >= 2

    with sqlite3.connect(config_dir.parent / "scraper.db") as db:
        versions = db.execute(
            "SELECT content FROM article_versions WHERE article_id = ?", (fresh_id,)
        ).fetchall()
        [current] = db.execute("SELECT content FROM articles WHERE id = ?", (fresh_id,))
        runs = [json.loads(c) for (c,) in db.execute("SELECT counts FROM crawl_runs ORDER BY id")]
    assert versions and all(correction not in content for (content,) in versions)
    assert correction in current[0]
    assert sum(run["updated"] for run in runs) >= 1
    assert sum(run["unchanged"] for run in runs) >= 2
    # The source is crawled every second, so the test's own stop may cut the last run
    # short: that run says so, and no run failed for any other reason.
    *finished, last = runs
    assert not any(run["failed"] for run in finished), runs
    assert set(last["failed"]) <= {"stopped at shutdown"}, runs
