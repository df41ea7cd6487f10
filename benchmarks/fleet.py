"""Benchmark of a fleet: 2,000 local feeds, each due every 10 minutes, on 1, 2 and 4
``scraper worker`` processes sharing one PostgreSQL.

A local threaded HTTP server plays the 2,000 sites (scraper's ``host_map`` gives each
its own host name, so every source has its own host lease); each feed gains an item
every 10 minutes at its own phase, so a check usually finds nothing new and sometimes one
article to fetch and extract. For each number of workers the script creates a throwaway
database, seeds the fleet's timetable in its steady state (due times spread evenly over
the 10 minutes, as after the first cycle) and runs the workers for ``--seconds`` (default
120) of that cycle: the rate of due checks is the real one (200 a minute), only the
window is shorter than a full cycle. It prints, per configuration:

- lag from due to start, p50 and p95 (interpolated from the workers'
  ``scraper_dispatch_lag_seconds`` histogram buckets, as Prometheus'
  ``histogram_quantile`` does);
- runs per minute (``scraper_runs_total``) against the 200 due per minute;
- CPU seconds per run: the workers with their extraction processes, and PostgreSQL's
  processes, and the database's share of the two.

    python benchmarks/fleet.py                       # 1, 2 and 4 workers, 2 min each
    python benchmarks/fleet.py --workers 1 --seconds 60

Needs PostgreSQL (``SCRAPER_TEST_DATABASE_URL``, default postgres@127.0.0.1:5432); the
databases it creates are dropped at the end. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import daemon as single  # noqa: E402  (benchmarks/daemon.py: sites, /proc and /metrics)

SOURCES = 2000
INTERVAL = 600  # seconds: every 10 minutes
ADMIN_DSN = os.environ.get(
    "SCRAPER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LISTENING = re.compile(r"health and metrics on (http://\S+)/healthz")
LAG = "scraper_dispatch_lag_seconds_bucket"


def write_config(folder: Path, sites: single.Sites, dsn: str) -> None:
    (folder / "sources").mkdir(parents=True)
    host_map = {f"http://s{i}.bench": sites.url for i in range(sites.count)}
    settings = textwrap.dedent(
        f"""\
        output_dir: {folder.parent / "articles"}
        database_url: "{dsn}"
        http_port: 0
        download_timeout: 20
        allow_private_addresses: ["{sites.url.split("//")[1]}"]
        """
    )
    settings += "host_map:\n" + "".join(f'  "{k}": "{v}"\n' for k, v in host_map.items())
    (folder / "settings.yaml").write_text(settings, encoding="utf-8")
    for i in range(sites.count):
        (folder / "sources" / f"feed-{i:04d}.yaml").write_text(
            textwrap.dedent(
                f"""\
                id: feed-{i:04d}
                name: Feed {i}
                homepage: http://s{i}.bench/s{i}/
                language: en
                schedule: {{every: 10m}}
                discovery:
                  - kind: feed
                    url: http://s{i}.bench/s{i}/feed.xml
                crawl: {{delay: 0, concurrency: 2, robots: false}}
                """
            ),
            encoding="utf-8",
        )


def create_database() -> tuple[str, str]:
    name = f"fleet_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = conninfo_to_dict(ADMIN_DSN)
    url = (
        f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{name}"
    )
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def migrate_and_seed(config: Path, dsn: str, start: datetime) -> None:
    """Schema, then the timetable of the steady state: due times spread evenly over one
    interval from ``start``."""
    subprocess.run(
        [sys.executable, "-m", "scraper", "db", "migrate", "--config", str(config)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    rows = [
        (f"feed-{i:04d}", "every 600s", start + timedelta(seconds=INTERVAL * i / SOURCES))
        for i in range(SOURCES)
    ]
    with psycopg.connect(make_conninfo(dsn)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fleet_schedule (source_id, schedule, next_due_at) VALUES (%s, %s, %s)",
            rows,
        )


class Worker:
    def __init__(self, config: Path, n: int) -> None:
        self.log = config.parent / f"worker-{n}.log"
        self._file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scraper", "worker", "--config", str(config)],
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if match := LISTENING.search(self.log.read_text()):
                self.url = match[1]
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise SystemExit(f"the worker did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int | None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(35)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._file.close()
        return self.process.returncode


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process, with the backends that ended (reaped)."""
    seconds = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            own, reaped, _ = single._stat(int(entry.name))
        except OSError:
            continue
        seconds += own + reaped
    return seconds


def quantile(buckets: dict[float, float], q: float) -> float:
    """histogram_quantile over cumulative bucket counts (upper bound -> count)."""
    bounds = sorted(buckets)
    count = buckets[bounds[-1]]
    if count <= 0:
        return float("nan")
    rank, lower, below = q * count, 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return lower
            inside = buckets[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, buckets[bound]
    return bounds[-1]


def lag_buckets(urls: list[str]) -> dict[float, float]:
    merged: dict[float, float] = {}
    for url in urls:
        for (name, labels), value in single.read_metrics(url).items():
            if name == LAG:
                bound = float(labels.split('"')[1].replace("+Inf", "inf"))
                merged[bound] = merged.get(bound, 0.0) + value
    return merged


@dataclass
class Result:
    workers: int
    seconds: float
    runs: float
    due: float
    p50: float
    p95: float
    worker_cpu: float
    db_cpu: float

    def line(self) -> str:
        runs = max(self.runs, 1)
        per_run = (self.worker_cpu + self.db_cpu) / runs
        share = self.db_cpu / max(self.worker_cpu + self.db_cpu, 1e-9)
        per_minute = self.runs / self.seconds * 60
        due = self.due / self.seconds * 60
        return (
            f"{self.workers} worker(s): lag p50 {self.p50:.2f} s, p95 {self.p95:.2f} s; "
            f"{per_minute:.0f} runs/min ({due:.0f} due/min); "
            f"CPU per run {per_run * 1000:.0f} ms "
            f"(workers {self.worker_cpu / runs * 1000:.0f} ms, "
            f"PostgreSQL {self.db_cpu / runs * 1000:.0f} ms: {share * 100:.0f} %)"
        )


def run(workers: int, seconds: float) -> Result:
    single.ITEM_EVERY = float(INTERVAL)  # a new item per feed every 10 minutes
    name, dsn = create_database()
    # One item per feed at the start: each first check stores one article, as a check
    # in the steady state does (a feed gains one item per 10 minutes).
    sites = single.Sites(SOURCES, backlog=2)
    folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    procs: list[Worker] = []
    try:
        config = folder / "config"
        write_config(config, sites, dsn)
        start = datetime.now(UTC) + timedelta(seconds=20 + 5 * workers)
        migrate_and_seed(config, dsn, start)
        procs = [Worker(config, n) for n in range(workers)]
        wait = (start - datetime.now(UTC)).total_seconds()
        time.sleep(max(0.0, wait))
        urls = [p.url for p in procs]
        cpu0 = sum(single.usage(p.process.pid).cpu_seconds for p in procs)
        db0, runs0, t0 = (
            postgres_cpu(),
            sum(single.total(single.read_metrics(u), "scraper_runs_total") for u in urls),
            time.monotonic(),
        )
        lag0 = lag_buckets(urls)
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        cpu = sum(single.usage(p.process.pid).cpu_seconds for p in procs) - cpu0
        db = postgres_cpu() - db0
        runs = sum(single.total(single.read_metrics(u), "scraper_runs_total") for u in urls) - runs0
        lag1 = lag_buckets(urls)
        window = {b: lag1[b] - lag0.get(b, 0.0) for b in lag1}
        result = Result(
            workers,
            elapsed,
            runs,
            SOURCES * elapsed / INTERVAL,
            quantile(window, 0.5),
            quantile(window, 0.95),
            cpu,
            db,
        )
        codes = [p.stop() for p in procs]
        if any(code != 0 for code in codes):
            print(f"  (exit codes {codes}; logs in {folder})")
        return result
    finally:
        for p in procs:
            if p.process.poll() is None:
                os.killpg(p.process.pid, signal.SIGKILL)
        sites.close()
        drop_database(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    print(
        f"{SOURCES} feeds every {INTERVAL // 60} minutes, {args.seconds:.0f} s of the cycle "
        f"per configuration, {cores} cores"
    )
    for count in args.workers:
        print(run(count, args.seconds).line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
