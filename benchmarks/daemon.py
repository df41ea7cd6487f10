"""Benchmark of ``scraper daemon``: 200 sources, each crawled every minute, for N minutes.

A local threaded HTTP server plays 200 news sites on 127.0.0.1: each has a feed that
gains an item about once a minute (at its own phase) and small article pages. The daemon
runs as a subprocess with a temporary config folder; this script reads its /metrics and
/proc, and prints runs done, articles stored, CPU seconds, peak RSS, and the memory
after the last run against the memory after the first minute (target: within 20 %).

    python benchmarks/daemon.py               # 10 minutes
    python benchmarks/daemon.py --minutes 2   # a quick look

Nothing leaves the machine: every URL is on 127.0.0.1, and the run stops by itself.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.http_server import LocalHTTPServer, RecordedRequest, Route  # noqa: E402
from tests.support.pages import article_page, article_paragraphs, rss_feed  # noqa: E402

LISTENING = re.compile(r"health and metrics on (http://\S+)/healthz")
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FEED_ITEMS = 20  # items a feed lists (the newest)
ITEM_EVERY = 60.0  # seconds between new items of one site
START_ITEMS = 3  # items each feed has at the start (--backlog)
# --- 200 news sites on one local server -------------------------------------------------------


class Sites:
    """``/s<i>/feed.xml``, ``/s<i>/news/<n>`` and ``/robots.txt`` for sites 0..count-1."""

    def __init__(self, count: int, backlog: int = START_ITEMS) -> None:
        self.count = count
        # Feeds start with a few items: the benchmark measures the steady state, not the
        # first crawl of a large backlog.
        self.epoch = time.time() - backlog * ITEM_EVERY
        self.server = LocalHTTPServer(
            {"/robots.txt": Route(body="User-agent: *\nAllow: /\n", content_type="text/plain")},
            fallback=self._answer,
        ).start()

    @property
    def url(self) -> str:
        return self.server.base_url

    @property
    def requests(self) -> int:
        return len(self.server.requests)

    def items(self, site: int) -> int:
        """Items site ``site`` has published so far (each site at its own phase)."""
        phase = ITEM_EVERY * site / self.count
        return max(0, int((time.time() - self.epoch - phase) // ITEM_EVERY))

    def published(self, site: int, n: int) -> datetime:
        phase = ITEM_EVERY * site / self.count
        return datetime.fromtimestamp(self.epoch + phase + n * ITEM_EVERY, UTC)

    def feed(self, site: int) -> str:
        newest = self.items(site)
        return rss_feed(
            [
                (
                    f"Site {site} item {n}",
                    f"{self.url}/s{site}/news/{n}",
                    format_datetime(self.published(site, n)),
                )
                for n in range(newest - 1, max(-1, newest - 1 - FEED_ITEMS), -1)
            ]
        )

    def _answer(self, request: RecordedRequest) -> Route:
        feed = re.fullmatch(r"/s(\d+)/feed\.xml", request.path)
        page = re.fullmatch(r"/s(\d+)/news/(\d+)", request.path)
        if feed and int(feed[1]) < self.count:
            return Route(body=self.feed(int(feed[1])), content_type="application/rss+xml")
        if page and int(page[1]) < self.count:
            site, n = int(page[1]), int(page[2])
            text = article_paragraphs(site * 1000 + n)
            return Route(body=article_page(f"Site {site} item {n}", text, published=None))
        return Route(status=404, body="not found", content_type="text/plain")

    def close(self) -> None:
        self.server.stop()


# --- the daemon and what it costs ----------------------------------------------------------------


def write_config(folder: Path, sites: Sites, concurrent: int) -> None:
    (folder / "sources").mkdir(parents=True)
    (folder / "settings.yaml").write_text(
        textwrap.dedent(
            f"""\
            output_dir: {folder.parent / "articles"}
            sqlite_path: {folder.parent / "scraper.db"}
            http_port: 0
            max_concurrent_sources: {concurrent}
            download_timeout: 20
            allow_private_addresses: ["{urlsplit(sites.url).netloc}"]
            """
        ),
        encoding="utf-8",
    )
    for site in range(sites.count):
        source_id = f"site-{site:03d}"
        (folder / "sources" / f"{source_id}.yaml").write_text(
            textwrap.dedent(
                f"""\
                id: {source_id}
                name: Site {site}
                homepage: {sites.url}/s{site}/
                language: en
                schedule: {{every: 1m}}
                discovery:
                  - kind: feed
                    url: {sites.url}/s{site}/feed.xml
                crawl: {{delay: 0.25, concurrency: 2, robots: true}}
                """
            ),
            encoding="utf-8",
        )


def daemon_command() -> list[str]:
    return [sys.executable, "-m", "scraper", "daemon"]


@dataclass
class Usage:
    cpu_seconds: float  # the daemon, its finished children and its live children
    daemon_cpu: float  # the daemon process alone (event loop, Scrapy, storage)
    rss: int  # bytes: the daemon plus its live children
    daemon_rss: int
    daemon_peak: int  # the daemon's own high-water mark (VmHWM)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _stat(pid: int) -> tuple[float, float, int]:
    """(own CPU s, reaped children's CPU s, RSS bytes) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    rss_pages = int(fields[21])
    return (utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS, rss_pages * PAGE_SIZE


def usage(pid: int) -> Usage:
    own, reaped, rss = _stat(pid)
    cpu, total_rss = own + reaped, rss
    for child in _children(pid):
        try:
            child_own, child_reaped, child_rss = _stat(child)
        except OSError:
            continue  # it just ended
        cpu += child_own + child_reaped
        total_rss += child_rss
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return Usage(cpu, own, total_rss, rss, peak)


def read_metrics(url: str) -> dict[tuple[str, str], float]:
    """Prometheus samples by (name, labels text)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples[(match["name"], match["labels"] or "")] = float(match["value"])
    return samples


def total(samples: dict[tuple[str, str], float], name: str, contains: str = "") -> float:
    return sum(v for (n, labels), v in samples.items() if n == name and contains in labels)


class Daemon:
    def __init__(self, config: Path) -> None:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.log = config.parent / "daemon.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [*daemon_command(), "--config", str(config)],
            env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := LISTENING.search(self.log.read_text()):
                return match[1]
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the daemon did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> tuple[int | None, float]:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(35)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()
        return self.process.returncode, time.monotonic() - started


def sample_peak(pid: int, stop: threading.Event, peaks: dict[str, int]) -> None:
    while not stop.wait(1.0):
        try:
            now = usage(pid)
        except OSError:
            return
        peaks["rss"] = max(peaks.get("rss", 0), now.rss)


def count_files(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.txt")) if root.is_dir() else 0


def mb(value: float) -> str:
    return f"{value / 1024 / 1024:.0f} MB"


def run(minutes: float, sources: int, concurrent: int, backlog: int, keep_log: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="daemon-bench-") as tmp:
        config = Path(tmp) / "config"
        sites = Sites(sources, backlog)
        write_config(config, sites, concurrent)
        print(f"{sources} sources every minute on {sites.url}, for {minutes:g} minute(s)")
        started = time.monotonic()
        daemon = Daemon(config)
        pid = daemon.process.pid
        peaks: dict[str, int] = {}
        stop_sampling = threading.Event()
        threading.Thread(target=sample_peak, args=(pid, stop_sampling, peaks), daemon=True).start()
        first: Usage | None = None
        try:
            for moment in _minutes(started, minutes):
                now = usage(pid)
                samples = read_metrics(daemon.url)
                runs = total(samples, "scraper_runs_total")
                print(
                    f"  {moment:5.1f} min: runs {runs:.0f}, CPU {now.cpu_seconds:.1f} s, "
                    f"RSS {mb(now.rss)} (daemon {mb(now.daemon_rss)})",
                    flush=True,
                )
                if first is None:
                    first = now
            last = usage(pid)
            samples = read_metrics(daemon.url)
        finally:
            stop_sampling.set()
            code, stop_seconds = daemon.stop()
            sites.close()
            if keep_log is not None:
                keep_log.write_bytes(daemon.log.read_bytes())
        assert first is not None
        report(samples, first, last, peaks, count_files(Path(tmp) / "articles"), minutes)
        print(f"SIGTERM: exit {code} after {stop_seconds:.1f} s")
        return 0 if code == 0 else 1


def _minutes(started: float, minutes: float) -> Iterator[float]:
    """Yield once a minute after start (and at the end), sleeping in between."""
    marks = [m for m in range(1, int(minutes) + 1)]
    if not marks or marks[-1] < minutes:
        marks.append(minutes)  # type: ignore[arg-type]
    for mark in marks:
        time.sleep(max(0.0, started + mark * 60 - time.monotonic()))
        yield float(mark)


def report(
    samples: dict[tuple[str, str], float],
    first: Usage,
    last: Usage,
    peaks: dict[str, int],
    files: int,
    minutes: float,
) -> None:
    runs = total(samples, "scraper_runs_total")
    by_status = {
        status: total(samples, "scraper_runs_total", f'status="{status}"')
        for status in ("ok", "partial", "failed")
    }
    skipped = total(samples, "scraper_runs_skipped_total")
    new = total(samples, "scraper_articles_total", 'status="new"')
    growth = (last.rss - first.rss) / first.rss * 100 if first.rss else 0.0
    daemon_growth = (last.daemon_rss - first.daemon_rss) / first.daemon_rss * 100
    cores = os.cpu_count() or 1
    print(
        f"runs done: {runs:.0f} ({', '.join(f'{k} {v:.0f}' for k, v in by_status.items())})"
        f", scheduled runs skipped: {skipped:.0f}"
    )
    print(f"articles stored: {new:.0f} new ({files} files)")
    print(
        f"CPU seconds: {last.cpu_seconds:.1f} "
        f"({last.cpu_seconds / (minutes * 60 * cores) * 100:.1f} % of {cores} cores); "
        f"after the first minute: {last.cpu_seconds - first.cpu_seconds:.1f}; "
        f"daemon process {last.daemon_cpu:.1f}, extraction workers "
        f"{last.cpu_seconds - last.daemon_cpu:.1f}"
    )
    print(f"peak RSS: daemon {mb(last.daemon_peak)}, daemon + workers {mb(peaks.get('rss', 0))}")
    verdict = "OK" if growth <= 20 else "OVER TARGET"  # shrinking (a recycled worker) is fine
    print(
        f"memory after the first minute {mb(first.rss)}, after the last run {mb(last.rss)} "
        f"({growth:+.1f} %; daemon alone {daemon_growth:+.1f} %; target within 20 %): {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--sources", type=int, default=200, help="how many (default 200)")
    parser.add_argument(
        "--concurrent",
        type=int,
        default=16,
        help="max_concurrent_sources of the daemon (default 16)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=START_ITEMS,
        help=f"items each feed lists at the start (default {START_ITEMS})",
    )
    parser.add_argument("--log", type=Path, help="keep the daemon's log in this file")
    args = parser.parse_args(argv)
    if args.minutes < 1:
        parser.error("--minutes must be at least 1 (memory is compared to the first minute)")
    return run(args.minutes, args.sources, args.concurrent, args.backlog, args.log)


if __name__ == "__main__":
    sys.exit(main())
