"""Crawl speed: N article pages from a local server through ``scraper crawl``.

Prints pages per second, CPU seconds per page (the crawl process and its extraction
workers) and peak memory of the process tree, beside the pages per second of
trafilatura alone on the same pages in the same run (one process, no fetching).

    python benchmarks/crawl.py --pages 300

Pages are the real article pages of ../shared/corpus when present (repeated under
different URLs up to N), else synthetic ones.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cli import Project, scraper_command  # noqa: E402
from tests.support.corpus import CORPUS_DIR  # noqa: E402
from tests.support.http_server import LocalHTTPServer, Route  # noqa: E402
from tests.support.pages import article_page, article_paragraphs, rss_feed  # noqa: E402


def page_bodies(count: int) -> list[bytes]:
    real = sorted((CORPUS_DIR / "html" / "articles").glob("*.html"))
    if real:
        sources = [p.read_bytes() for p in real]
    else:
        sources = [article_page(f"Story {n}", article_paragraphs(n, 8)).encode() for n in range(50)]
    return [sources[n % len(sources)] for n in range(count)]


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(
                next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pending.extend(int(c) for c in children)
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run_crawl(pages: list[bytes], workers: int | None) -> tuple[float, float, int, str]:
    with LocalHTTPServer() as server, tempfile.TemporaryDirectory() as folder:
        items = []
        for number, body in enumerate(pages):
            path = f"/a/{number}"
            server.route(path, Route(body=body, content_type="text/html"))
            items.append((f"Article {number}", server.url(path), None))
        server.route("/feed.xml", Route(body=rss_feed(items), content_type="application/rss+xml"))
        project = Project(Path(folder), allowed=[server.authority])
        extra = {"workers": workers} if workers else {}
        project.write_settings(download_timeout=30, **extra)
        project.write_source(
            {
                "id": "bench",
                "name": "Bench",
                "homepage": server.base_url,
                "schedule": {"every": "1h"},
                "allow_crawl_time": True,
                "crawl": {"delay": 0, "concurrency": 16, "robots": False},
                "discovery": [{"kind": "feed", "url": server.url("/feed.xml")}],
            }
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(
            [*scraper_command(), "crawl", "bench", "--config", str(project.config)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss_kib(process.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = process.communicate()
        done.set()
        sampler.join()
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if process.returncode != 0:
            sys.exit(f"crawl failed ({process.returncode}): {err.strip()[-500:]}")
        return seconds, cpu, peak, out.strip()


def trafilatura_alone(pages: list[bytes]) -> float:
    import trafilatura

    started = time.perf_counter()
    for body in pages:
        trafilatura.extract(body.decode("utf-8", errors="replace"))
    return len(pages) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None, help="extraction processes")
    args = parser.parse_args()
    pages = page_bodies(args.pages)
    print(
        f"{len(pages)} pages, {sum(map(len, pages)) / 1e6:.1f} MB, "
        f"{os.cpu_count()} cores, command: {' '.join(scraper_command())}"
    )
    seconds, cpu, peak_kib, summary = run_crawl(pages, args.workers)
    print(summary)
    print(f"crawl:             {len(pages) / seconds:7.1f} pages/s  ({seconds:.1f} s wall)")
    print(
        f"cpu per page:      {cpu / len(pages) * 1000:7.1f} ms  ({cpu:.1f} CPU-s in all, "
        f"{cpu / seconds:.2f} cores busy on average)"
    )
    print(f"peak memory:       {peak_kib / 1024:7.1f} MiB (crawl process + extraction workers)")
    print(f"trafilatura alone: {trafilatura_alone(pages):7.1f} pages/s (one process, no fetching)")


if __name__ == "__main__":
    main()
