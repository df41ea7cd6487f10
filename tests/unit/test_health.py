"""/healthz and /metrics: the HTTP server itself, and a daemon (with a fake crawl engine)
seen through them: runs recorded, failing sources backed off, the database down, stop."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scraper.config import Settings, Source, load_sources_report
from scraper.crawl import CrawlOptions, CrawlReport
from scraper.daemon import ConfigLocation, Daemon
from scraper.health import HealthServer, Response, bind_host
from scraper.schedule import RUNS_PER_SOURCE, summarize_runs
from scraper.storage.base import Database, DatabaseError
from scraper.storage.files import FileStore
from scraper.summary import CrawlSummary

# --- the server -----------------------------------------------------------------------------


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


async def aget(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(fetch, url, method)


def serve(scenario: Callable[[HealthServer], Awaitable[None]]) -> None:
    def broken() -> Response:
        raise ZeroDivisionError("a bug in a handler")

    routes = {
        "/healthz": lambda: Response.json(200, {"status": "ok", "sources": 2}),
        "/metrics": lambda: Response(200, b"scraper_sources 2.0\n", "text/plain; version=0.0.4"),
        "/broken": broken,
    }

    async def main() -> None:
        server = HealthServer(routes, "127.0.0.1", 0)
        port = await server.start()
        assert port > 0
        try:
            await scenario(server)
        finally:
            await server.close()

    asyncio.run(main())


def test_server_answers_healthz_and_metrics_on_a_free_port() -> None:
    async def scenario(server: HealthServer) -> None:
        status, headers, body = await aget(server.url + "/healthz")
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body) == {"status": "ok", "sources": 2}
        status, headers, body = await aget(server.url + "/metrics?x=1")
        assert (status, body) == (200, b"scraper_sources 2.0\n")
        assert headers["Content-Type"] == "text/plain; version=0.0.4"

    serve(scenario)


def test_server_refuses_unknown_paths_and_methods() -> None:
    async def scenario(server: HealthServer) -> None:
        status, _, body = await aget(server.url + "/nope")
        assert status == 404
        assert b"/healthz" in body
        status, _, _ = await aget(server.url + "/healthz", method="POST")
        assert status == 405
        status, _, body = await aget(server.url + "/broken")
        assert status == 500
        status, headers, body = await aget(server.url + "/healthz", method="HEAD")
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) > 0

    serve(scenario)


def test_server_survives_garbage_and_silent_clients() -> None:
    async def scenario(server: HealthServer) -> None:
        def garbage() -> bytes:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(b"\x00\x01 nonsense\r\n\r\n")
                return sock.recv(100)

        assert await asyncio.to_thread(garbage) == b""  # closed without an answer
        silent = socket.create_connection(("127.0.0.1", server.port))
        try:
            status, _, _ = await aget(server.url + "/healthz")
            assert status == 200, "a client that sends nothing must not block others"
        finally:
            silent.close()

    serve(scenario)


def test_bind_host_defaults_to_loopback() -> None:
    assert bind_host({}) == "127.0.0.1"
    assert bind_host({"SCRAPER_HTTP_HOST": "0.0.0.0"}) == "0.0.0.0"


# --- a daemon seen through its endpoints ----------------------------------------------------


class FakeDatabase:
    def __init__(self) -> None:
        self.runs: dict[int, dict[str, Any]] = {}
        self.down = False

    def migrate(self) -> int:
        return 1

    def close(self) -> None:
        pass

    def start_run(
        self,
        source_id: str,
        started_at: datetime,
        worker: str | None = None,
        job_id: int | None = None,
    ) -> int:
        if self.down:
            raise DatabaseError("connection refused")
        run_id = len(self.runs) + 1
        self.runs[run_id] = {"source_id": source_id, "started_at": started_at, "worker": worker}
        return run_id

    def running_runs(self) -> list[dict[str, Any]]:
        return [{"id": run_id, **run} for run_id, run in self.runs.items() if "status" not in run]

    def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
        return []

    def finish_run(
        self, run_id: int, finished_at: datetime, status: str, counts: dict[str, Any]
    ) -> None:
        if self.down:
            raise DatabaseError("connection refused")
        self.runs[run_id].update(finished_at=finished_at, status=status, counts=counts)


class FakeEngine:
    """Crawls instantly: sources named "down*" never answer, others find 2 new articles.
    A source named "slow*" crawls until ``stop()``."""

    def __init__(self, settings: Settings, database: Database | None) -> None:
        self.database = database
        self.files = FileStore(settings.output_dir)
        self.crawled: list[str] = []
        self.stops = 0
        self._stop = asyncio.Event()

    async def crawl(self, sources: list[Source], options: CrawlOptions) -> CrawlReport:
        (source,) = sources
        self.crawled.append(source.id)
        summary = CrawlSummary(source.id)
        summary.add("discovered", 2)
        if source.id.startswith("slow"):
            await self._stop.wait()
            return CrawlReport({source.id: summary}, unreachable=[source.id])
        if source.id.startswith("down"):
            return CrawlReport({source.id: summary}, unreachable=[source.id])
        if source.id.startswith("broken"):  # the feed URL serves an HTML page now
            summary.fail("feed: not a feed")
            return CrawlReport({source.id: summary}, broken_channels={source.id: ["feed"]})
        summary.add("fetched", 2)
        summary.add("new", 2)
        return CrawlReport({source.id: summary})

    async def stop(self) -> None:
        self.stops += 1
        self._stop.set()

    def cache_sizes(self) -> dict[str, tuple[int, int]]:
        return {"redirects": (3, 1), "gnews_ids": (0, 0)}

    def close(self) -> None:
        pass


def make_source(source_id: str, every: str = "1s") -> Source:
    return Source.model_validate(
        {
            "id": source_id,
            "name": source_id,
            "homepage": "https://example.org",
            "schedule": {"every": every},
            "discovery": [{"kind": "feed", "url": "https://example.org/rss"}],
        }
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


def run_daemon(
    tmp_path: Path,
    source_ids: list[str],
    scenario: Callable[[Daemon, str], Awaitable[None]],
    database: FakeDatabase | None = None,
    invalid_sources: dict[Path, list[str]] | None = None,
) -> Daemon:
    (tmp_path / "sources").mkdir(exist_ok=True)
    settings = Settings(http_port=0, output_dir=tmp_path / "out")

    def opener(_settings: Settings) -> Any:
        if database is None:
            raise DatabaseError("could not connect to server")
        return database

    daemon = Daemon(
        ConfigLocation(tmp_path),
        settings,
        {i: make_source(i) for i in source_ids},
        engine_factory=FakeEngine,
        database_opener=opener,
        http_host="127.0.0.1",
        config_poll=60,
        invalid_sources=invalid_sources,
    )

    async def main() -> None:
        task = asyncio.ensure_future(daemon.run())
        await eventually(lambda: _started(daemon, task))
        try:
            await scenario(daemon, daemon.health.url)
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(main())
    return daemon


async def _started(daemon: Daemon, task: asyncio.Future[None]) -> bool:
    if task.done():
        task.result()  # raise what stopped it
    return daemon.health.port != 0 and daemon.scheduler.running


async def healthz(url: str) -> tuple[int, dict[str, Any]]:
    status, _, body = await aget(url + "/healthz")
    return status, json.loads(body)


async def metrics(url: str) -> str:
    status, headers, body = await aget(url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    return body.decode()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, or None when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        label_text = series[len(name) :]
        if label_text and not label_text.startswith("{"):
            continue  # another metric whose name starts the same
        wanted = {f'{k}="{v}"' for k, v in labels.items()}
        present = set(label_text.strip("{}").split(",")) if label_text else set()
        if wanted == present:
            return float(value)
    return None


def test_daemon_health_shows_runs_failing_sources_and_metrics(tmp_path: Path) -> None:
    database = FakeDatabase()

    async def scenario(daemon: Daemon, url: str) -> None:
        async def backed_off() -> bool:
            text = await metrics(url)
            return (
                metric(text, "scraper_runs_skipped_total", source="down", reason="backoff") or 0
            ) >= 1 and (metric(text, "scraper_runs_total", source="up", status="ok") or 0) >= 3

        await eventually(backed_off)
        status, health = await healthz(url)
        assert status == 200
        assert health["status"] == "ok"
        assert health["sources"] == 2
        assert health["failing"] == ["down"]
        assert health["last_success"]["up"] is not None
        assert health["last_success"]["down"] is None
        assert health["uptime_seconds"] > 0
        text = await metrics(url)
        ok_runs = metric(text, "scraper_runs_total", source="up", status="ok") or 0
        assert metric(text, "scraper_articles_total", source="up", status="new") == 2 * ok_runs
        assert (metric(text, "scraper_runs_total", source="down", status="failed") or 0) >= 2
        assert (
            metric(
                text,
                "scraper_failures_total",
                source="down",
                reason="nothing reachable: no discovery channel answered",
            )
            or 0
        ) >= 2
        assert metric(text, "scraper_sources_failing") == 1
        assert metric(text, "scraper_source_failing", source="down") == 1
        assert metric(text, "scraper_source_failing", source="up") == 0
        assert (metric(text, "scraper_last_success_timestamp_seconds", source="up") or 0) > 0
        assert (metric(text, "scraper_run_duration_seconds_count") or 0) >= ok_runs
        assert metric(text, "scraper_database_behind") == 0

    run_daemon(tmp_path, ["up", "down"], scenario, database)
    finished = [r for r in database.runs.values() if "status" in r]
    assert {r["status"] for r in finished if r["source_id"] == "up"} == {"ok"}
    assert {r["status"] for r in finished if r["source_id"] == "down"} == {"failed"}
    up = next(r for r in finished if r["source_id"] == "up")
    assert up["counts"]["new"] == 2 and up["counts"]["source_id"] == "up"
    down = next(r for r in finished if r["source_id"] == "down")
    assert down["counts"]["failed"] == {"nothing reachable: no discovery channel answered": 1}


def test_daemon_crawls_on_while_the_database_is_down(tmp_path: Path) -> None:
    async def scenario(daemon: Daemon, url: str) -> None:
        async def ran_twice() -> bool:
            return (
                metric(await metrics(url), "scraper_runs_total", source="up", status="ok") or 0
            ) >= 2

        await eventually(ran_twice)
        status, health = await healthz(url)
        assert status == 200
        assert health["database"]["behind"] is True
        assert "could not connect" in health["database"]["error"]
        assert metric(await metrics(url), "scraper_database_behind") == 1

    run_daemon(tmp_path, ["up"], scenario, database=None)


def test_database_failing_mid_run_does_not_stop_crawling(tmp_path: Path) -> None:
    database = FakeDatabase()

    async def scenario(daemon: Daemon, url: str) -> None:
        await eventually(lambda: _has_runs(url, 1))
        database.down = True
        before = metric(await metrics(url), "scraper_runs_total", source="up", status="ok") or 0
        await eventually(lambda: _has_runs(url, before + 2))
        assert (await healthz(url))[1]["database"]["behind"] is True

    run_daemon(tmp_path, ["up"], scenario, database)


def test_the_database_is_brought_level_when_it_answers_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = FakeDatabase()
    synced: list[Any] = []

    async def sync_if_behind(db: Any, files: Any) -> None:
        synced.append((db, files))

    monkeypatch.setattr("scraper.service.dblink.sync_if_behind", sync_if_behind)

    async def scenario(daemon: Daemon, url: str) -> None:
        await eventually(lambda: _has_runs(url, 1))
        synced.clear()  # the check at start
        database.down = True
        await eventually(lambda: _behind(url, True))
        database.down = False
        await eventually(lambda: _behind(url, False))
        assert len(synced) == 1 and synced[0][0] is database
        assert isinstance(synced[0][1], FileStore)
        assert metric(await metrics(url), "scraper_database_behind") == 0

    run_daemon(tmp_path, ["up"], scenario, database)


async def _behind(url: str, behind: bool) -> bool:
    return bool((await healthz(url))[1]["database"]["behind"]) is behind


async def _has_runs(url: str, count: float) -> bool:
    return (
        metric(await metrics(url), "scraper_runs_total", source="up", status="ok") or 0
    ) >= count


def test_stop_lets_runs_in_flight_finish_and_reports_unhealthy(tmp_path: Path) -> None:
    database = FakeDatabase()
    seen: dict[str, Any] = {}

    async def scenario(daemon: Daemon, url: str) -> None:
        await eventually(lambda: _running(url, "slow"))
        daemon.request_stop()
        response = daemon.healthz()
        seen["status"] = response.status
        seen["body"] = json.loads(response.body)

    started = time.monotonic()
    daemon = run_daemon(tmp_path, ["slow"], scenario, database)
    assert time.monotonic() - started < 20
    assert seen["status"] == 503
    assert seen["body"]["status"] == "stopping"
    engine = daemon.service
    assert isinstance(engine, FakeEngine) and engine.stops >= 1
    (run,) = database.runs.values()
    assert run["status"] == "partial", "a run cut short by the stop is not a failure"
    assert run["counts"]["failed"] == {"stopped at shutdown": 1}
    assert daemon.states["slow"].consecutive_failures == 0


async def _running(url: str, source_id: str) -> bool:
    return source_id in (await healthz(url))[1]["running"]


def test_healthz_is_unavailable_before_scheduling(tmp_path: Path) -> None:
    daemon = Daemon(ConfigLocation(tmp_path), Settings(http_port=0), {"a": make_source("a")})
    response = daemon.healthz()
    assert response.status == 503
    assert json.loads(response.body)["status"] == "not scheduling"


@pytest.mark.parametrize("fmt", ["json", ""])
def test_daemon_log_lines(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from scraper.logs import setup_logging

    names = ("", "scraper.daemon", "scraper.health", "scrapy")
    saved = {name: logging.getLogger(name).level for name in names}
    saved_handlers = list(logging.getLogger().handlers)
    setup_logging(0, {"SCRAPER_LOG_FORMAT": fmt}, chatty=("scraper.daemon",))
    try:
        logging.getLogger("scraper.daemon").info(
            "up: ok in 1.0 s", extra={"source": "up", "status": "ok", "new": 2}
        )
        logging.getLogger("scraper.other").info("not shown at the default verbosity")
    finally:  # leave logging as the other tests expect it
        logging.getLogger().handlers[:] = saved_handlers
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    if fmt == "json":
        entry = json.loads(lines[0])
        assert entry["message"] == "up: ok in 1.0 s"
        assert (entry["source"], entry["status"], entry["new"], entry["level"]) == (
            "up",
            "ok",
            2,
            "info",
        )
    else:
        assert lines[0].endswith("INFO scraper.daemon: up: ok in 1.0 s")


# --- run status per source (scraper sources) --------------------------------------------------


def run_row(source_id: str, minute: int, status: str, new: int = 0) -> dict[str, Any]:
    started = datetime(2024, 6, 3, 12, minute).astimezone()
    counts = {"new": new, "updated": 0, "unchanged": 1, "failed": {}}
    if status == "failed":
        counts["failed"] = {"nothing reachable: no discovery channel answered": 1}
    return {
        "source_id": source_id,
        "started_at": started.isoformat(),
        "finished_at": started.replace(second=30).isoformat(),
        "status": status,
        "counts": json.dumps(counts),  # SQLite returns the JSON text
    }


def test_sources_status_shows_last_run_last_success_and_failing() -> None:
    rows = [
        run_row("healthy", 1, "failed"),
        run_row("healthy", 3, "ok", new=4),
        run_row("broken", 1, "ok", new=2),
        run_row("broken", 2, "failed"),
        run_row("broken", 3, "failed"),
        run_row("removed", 3, "ok"),
    ]

    class Runs:
        def __init__(self) -> None:
            self.asked: list[int] = []

        def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
            self.asked.append(limit_per_source)
            return list(reversed(rows))

    sources = {i: make_source(i) for i in ("healthy", "broken", "new")}
    database = Runs()
    healthy, broken, new = summarize_runs(sources, database.recent_runs(RUNS_PER_SOURCE))
    assert database.asked == [20]
    assert (healthy.last_status, healthy.failing, healthy.last_counts["new"]) == ("ok", False, 4)
    assert healthy.last_success == healthy.last_run
    assert (broken.last_status, broken.failing, broken.consecutive_failures) == ("failed", True, 2)
    assert broken.last_success is not None and broken.last_success.minute == 1
    assert "FAILING (2 runs in a row)" in broken.describe()
    assert "last success" in broken.describe() and "failed 1" in broken.describe()
    assert new.last_run is None and new.describe() == "new: never run"


def test_a_restart_remembers_failing_sources_and_last_successes(tmp_path: Path) -> None:
    class RememberingDatabase(FakeDatabase):
        def recent_runs(self, limit_per_source: int) -> list[dict[str, Any]]:
            return [
                run_row("down", 1, "ok"),
                run_row("down", 2, "failed"),
                run_row("down", 3, "failed"),
                run_row("up", 3, "ok", new=1),
            ]

    async def scenario(daemon: Daemon, url: str) -> None:
        status, health = await healthz(url)
        assert status == 200
        assert health["failing"] == ["down"], "still failing after the restart"
        assert health["last_success"]["down"].startswith("2024-06-03")
        text = await metrics(url)
        assert metric(text, "scraper_source_failing", source="down") == 1
        assert (metric(text, "scraper_last_success_timestamp_seconds", source="down") or 0) > 0

    run_daemon(tmp_path, ["up", "down"], scenario, RememberingDatabase())


# --- invalid source files ---------------------------------------------------------------------


def test_invalid_source_files_are_reported_while_the_valid_ones_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="scraper.daemon")
    sources = tmp_path / "sources"
    sources.mkdir()
    broken = sources / "broken.yaml"
    broken.write_text("id: broken\nname: Broken\nhomepage: nope\ncrawl: {dealy: 1}\n")
    up = sources / "up.yaml"
    up.write_text(
        "id: up\nname: up\nhomepage: https://example.org\nschedule: {every: 1s}\n"
        "discovery: [{kind: feed, url: 'https://example.org/rss'}]\n"
    )
    loaded = load_sources_report(tmp_path)
    assert list(loaded.sources) == ["up"] and list(loaded.invalid) == [broken]
    broken_problems = [
        f"{broken}: homepage: not an http(s) URL: 'nope'",
        f"{broken}: discovery: Field required",
        f"{broken}: crawl.dealy: unknown key; did you mean 'delay'?",
    ]
    assert loaded.invalid[broken] == broken_problems

    async def scenario(daemon: Daemon, url: str) -> None:
        await eventually(lambda: _has_runs(url, 1))
        status, health = await healthz(url)
        assert status == 200 and health["status"] == "ok"
        assert health["sources"] == 1
        assert health["config"]["invalid_sources"] == {str(broken): broken_problems}
        assert metric(await metrics(url), "scraper_invalid_source_files") == 1
        engine = daemon.service
        assert isinstance(engine, FakeEngine) and set(engine.crawled) == {"up"}

        # up.yaml turns invalid: "up" runs on with its last good config, reported.
        up.write_text(up.read_text().replace("every: 1s", "every: soon"))
        changes = await daemon.reload("test")
        assert changes is not None and changes.empty
        health = (await healthz(url))[1]
        assert sorted(health["config"]["invalid_sources"]) == [str(broken), str(up)]
        assert health["config"]["invalid_sources"][str(up)] == [
            f"{up}: schedule.every: bad duration 'soon': use a number with s, m, h or d (e.g. 30m)"
        ]
        assert metric(await metrics(url), "scraper_invalid_source_files") == 2
        runs = metric(await metrics(url), "scraper_runs_total", source="up", status="ok") or 0
        await eventually(lambda: _has_runs(url, runs + 1))

        # Invalid settings refuse the whole reload: nothing changes.
        (tmp_path / "settings.yaml").write_text("retries: many\n")
        assert await daemon.reload("test") is None
        assert "retries" in str(daemon.last_reload_error)
        assert len(daemon.invalid_sources) == 2 and "up" in daemon.sources
        (tmp_path / "settings.yaml").unlink()

        # A deleted file's source is removed, invalid or not.
        up.unlink()
        changes = await daemon.reload("test")
        assert changes is not None and changes.removed == ["up"]
        health = (await healthz(url))[1]
        assert health["sources"] == 0
        assert list(health["config"]["invalid_sources"]) == [str(broken)]
        assert metric(await metrics(url), "scraper_invalid_source_files") == 1

    run_daemon(tmp_path, ["up"], scenario, FakeDatabase(), invalid_sources=loaded.invalid)
    logged = [r.getMessage() for r in caplog.records if r.name == "scraper.daemon"]
    for problem in broken_problems:
        assert f"invalid source file: {problem} (broken not scheduled)" in logged
    assert (
        f"invalid source file: {up}: schedule.every: bad duration 'soon': use a number with "
        "s, m, h or d (e.g. 30m) (up runs on with its last good config)" in logged
    )
    assert any("config reload refused" in line and "retries" in line for line in logged)


def test_a_run_whose_channel_failed_is_a_failed_run_and_caches_are_in_metrics(
    tmp_path: Path,
) -> None:
    async def scenario(daemon: Daemon, url: str) -> None:
        async def failing() -> bool:
            _, health = await healthz(url)
            return bool(health["failing"])

        await eventually(failing)
        _, health = await healthz(url)
        assert health["failing"] == ["broken"]
        text = await metrics(url)
        assert (metric(text, "scraper_runs_total", source="broken", status="failed") or 0) >= 2
        assert metric(text, "scraper_runs_total", source="broken", status="ok") is None
        assert metric(text, "scraper_cache_entries", cache="redirects") == 3
        assert metric(text, "scraper_cache_evictions", cache="redirects") == 1
        assert metric(text, "scraper_cache_entries", cache="gnews_ids") == 0

    run_daemon(tmp_path, ["broken", "up"], scenario)
