"""``scraper worker``: a fleet of processes sharing one schedule through PostgreSQL.

The issue's acceptance run: 3 workers on 10 local sources due every 5 s (a feed that
grows every 2 s, a feed that answers after 20 s, 8 small sites) are killed with SIGKILL
after 30 s; 2 new workers run 70 s more. Then every item of the growing feed published
more than 16 s before the stop is stored exactly once, rows equal files, no two finished
runs of a source overlap, runs come from at least 2 workers, every small site was
crawled again at least 3 times after the kill, and SIGTERM ends both workers with exit 0
within 30 s. It takes about 2 minutes 15 seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from scraper.document import parse
from scraper.urls import article_id, normalize_url
from tests.support.cli import run_scraper, scraper_command
from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route
from tests.support.pages import article_page, article_paragraphs, rss_feed

pytestmark = [pytest.mark.e2e, pytest.mark.db]

ROOT = Path(__file__).resolve().parents[2]
RECORD_NAME = re.compile(r"^(\d{3,})_([0-9a-f]{16})\.txt$")
LISTENING = re.compile(r"health and metrics on (http://\S+)/healthz")


class GrowingFeed:
    """A feed that gains an item every ``every`` seconds; each item's pubDate is the
    moment it appeared."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.started = time.time()
        self.server = LocalHTTPServer(fallback=self._answer)

    def count(self, at: float | None = None) -> int:
        return int(((at or time.time()) - self.started) / self.every) + 1

    def appeared(self, n: int) -> float:
        return self.started + n * self.every

    def article_url(self, n: int) -> str:
        return self.server.url(f"/news/{n}")

    def _answer(self, request: RecordedRequest) -> Route:
        if request.path == "/feed.xml":
            items = [
                (
                    f"Growing {n}",
                    self.article_url(n),
                    format_datetime(datetime.fromtimestamp(int(self.appeared(n)), UTC)),
                )
                for n in reversed(range(self.count()))
            ][:40]
            return Route(body=rss_feed(items), content_type="application/rss+xml")
        match = re.fullmatch(r"/news/(\d+)", request.path)
        if match and int(match[1]) < self.count():
            n = int(match[1])
            return Route(body=article_page(f"Growing {n}", article_paragraphs(n), published=None))
        return Route(status=404, body="not found", content_type="text/plain")


def small_site(server: LocalHTTPServer, seed: int, delay: float = 0.0) -> None:
    """Three static articles behind a feed (that answers after ``delay`` seconds)."""
    items = [
        (f"Site {seed} article {n}", server.url(f"/a/{n}"), "Thu, 02 May 2024 09:30:00 GMT")
        for n in range(3)
    ]
    routes: dict[str, Any] = {
        "/feed.xml": Route(body=rss_feed(items), content_type="application/rss+xml", delay=delay)
    }
    for n in range(3):
        page = article_page(f"Site {seed} article {n}", article_paragraphs(seed * 10 + n))
        routes[f"/a/{n}"] = Route(body=page)
    server.routes(routes)


class WorkerProcess:
    def __init__(self, config: Path, name: str) -> None:
        self.lines: list[str] = []
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
        env.update(PYTHONUNBUFFERED="1", PYTHONPATH=path)
        self.name = name
        self.process = subprocess.Popen(
            [*scraper_command(), "worker", "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, extraction workers included
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return f"--- {self.name} ---\n" + "\n".join(self.lines)

    def wait_started(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(LISTENING.search(line) for line in list(self.lines)):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"the worker did not start:\n{self.log}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: a machine lost."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self._reader.join(5)


@pytest.fixture
def fleet_config(tmp_path: Path, pg_url: str) -> Iterator[Path]:
    config = tmp_path / "config"
    (config / "sources").mkdir(parents=True)
    settings = {
        "timezone": "America/Sao_Paulo",
        "output_dir": str(tmp_path / "articles"),
        "database_url": pg_url,
        "http_port": 0,
        "workers": 1,
        "download_timeout": 30,
        "retries": 0,
        "allow_private_addresses": [],
    }
    (config / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    yield config


def write_source(config: Path, source_id: str, server: LocalHTTPServer, every: str) -> None:
    path = config / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["allow_private_addresses"].append(server.authority)
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    text = textwrap.dedent(
        f"""\
        id: {source_id}
        name: Local {source_id}
        homepage: {server.base_url}/
        language: en
        schedule: {{every: {every}}}
        discovery:
          - kind: feed
            url: {server.url("/feed.xml")}
        crawl: {{delay: 0, concurrency: 4, robots: false}}
        """
    )
    (config / "sources" / f"{source_id}.yaml").write_text(text, encoding="utf-8")


def stored_files(root: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.txt")) if root.is_dir() else []:
        match = RECORD_NAME.match(path.name)
        assert match, f"badly named file {path}"
        doc = parse(path.read_text(encoding="utf-8"))  # never half written
        assert doc.id == match[2]
        found.setdefault(doc.id, []).append(path)
    return found


def rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query.encode()).fetchall()


def test_sqlite_is_refused_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "sources").mkdir(parents=True)
    (config / "settings.yaml").write_text(f"output_dir: {tmp_path / 'out'}\n")
    result = run_scraper("worker", "--config", config, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs PostgreSQL" in lines[0], result.stderr


@pytest.mark.timeout(300)
def test_a_fleet_survives_losing_every_worker(fleet_config: Path, pg_url: str) -> None:
    articles = fleet_config.parent / "articles"
    growing = GrowingFeed(every=2.0)
    servers = [growing.server, *(LocalHTTPServer() for _ in range(9))]
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        small_site(servers[1], 1, delay=20.0)  # the slow feed
        for seed, server in enumerate(servers[2:], start=2):
            small_site(server, seed)
        ids = ["growing", "slow", *(f"small-{n}" for n in range(2, 10))]
        for source_id, server in zip(ids, servers, strict=True):
            write_source(fleet_config, source_id, server, "5s")
        growing.started = time.time()

        first = [WorkerProcess(fleet_config, f"first-{n}") for n in range(3)]
        workers: list[WorkerProcess] = list(first)
        try:
            for worker in first:
                worker.wait_started()
            time.sleep(30)
            for worker in first:
                worker.kill()
            killed_at = datetime.now(UTC)

            second = [WorkerProcess(fleet_config, f"second-{n}") for n in range(2)]
            workers += second
            for worker in second:
                worker.wait_started()
            time.sleep(70)
            stopped_at = time.time()
            for worker in second:
                worker.process.send_signal(signal.SIGTERM)
            codes = []
            for worker in second:
                try:
                    codes.append(worker.process.wait(30))
                except subprocess.TimeoutExpired:
                    codes.append(None)
            seconds = time.time() - stopped_at
        finally:
            for worker in workers:
                worker.kill()
        logs = "\n".join(worker.log[-3000:] for worker in workers)
        assert codes == [0, 0], logs
        assert seconds < 30, logs

    # Every item published more than 16 s before the stop: stored exactly once.
    files = stored_files(articles)
    twice = {i: p for i, p in files.items() if len(p) > 1}
    assert not twice, f"stored twice: {twice}"
    wanted = {
        article_id(normalize_url(growing.article_url(n)))
        for n in range(growing.count(stopped_at))
        if growing.appeared(n) < stopped_at - 16
    }
    assert wanted and wanted <= set(files), f"missing: {wanted - set(files)}\n{logs}"
    # No two files share a sequence number in a folder.
    for folder in {p[0].parent for p in files.values()}:
        numbers = [RECORD_NAME.match(p.name)[1] for p in folder.glob("*.txt")]  # type: ignore[index]
        assert len(numbers) == len(set(numbers)), folder

    # Rows equal files.
    stored = rows(pg_url, "SELECT id, file_path FROM articles")
    on_disk = {(i, p[0].relative_to(articles).as_posix()) for i, p in files.items()}
    assert set(stored) == on_disk

    runs = rows(
        pg_url,
        "SELECT source_id, started_at, finished_at, status, worker FROM crawl_runs "
        "ORDER BY source_id, started_at",
    )
    # No two finished runs of a source overlap in time.
    by_source: dict[str, list[tuple[Any, ...]]] = {}
    for run in runs:
        by_source.setdefault(run[0], []).append(run)
    for source_id, source_runs in by_source.items():
        finished = [r for r in source_runs if r[2] is not None]
        for earlier, later in itertools.pairwise(finished):
            assert later[1] >= earlier[2], f"{source_id}: {earlier} overlaps {later}"
    assert not [r for r in runs if r[3] == "running"], "every run is closed"
    # Runs come from at least 2 workers.
    assert len({r[4] for r in runs}) >= 2
    # Every small site was crawled again at least 3 times after the kill.
    for n in range(2, 10):
        again = [r for r in by_source[f"small-{n}"] if r[1] > killed_at and r[3] == "ok"]
        assert len(again) >= 3, f"small-{n}: {len(again)} runs after the kill\n{logs}"
    # A lost worker's runs are closed as abandoned and run again within 60 s.
    for run in [r for r in runs if r[3] == "abandoned"]:
        later = [r for r in by_source[run[0]] if r[1] > run[1]]
        assert later, f"{run[0]}: never ran again after {run}"
        assert later[0][1] - killed_at < timedelta(seconds=60), (run, later[0])
