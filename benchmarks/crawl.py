"""Crawl speed: real article pages behind one local feed, through ``scraper crawl``.

    python benchmarks/crawl.py                      # every dev page, 1 article, 5,000 pages
    python benchmarks/crawl.py --pages 300 --big-pages 0 --peers

Prints, for a crawl of N pages (the labelled pages of ``corpus/dev/extraction``, repeated
under distinct URLs when N is larger; synthetic pages without the corpus):

- pages per second and wall time;
- CPU per page: the crawl process and its extraction workers, each (from /proc, read
  just before the crawl process exits) and in all (the operating system's accounting
  of the finished process tree);
- core utilisation: CPU seconds over wall seconds, against the cores of the machine;
- peak memory: the largest sum of RSS over the whole process tree (sampled every 50 ms);
- the extraction ceiling, measured in the same run on the same pages, just before and
  just after each crawl (the mean of both): trafilatura alone (``trafilatura.extract`` on
  each decoded page, no fetching, nothing stored) in as many processes as the crawl has
  workers, its pages per second and CPU per page, and the crawl's ratio to both;
- the figures above for each of ``--rounds`` crawls (3 by default; ceilings and crawls
  alternate), and their medians, which are the figures to quote;
- the wall time of a crawl of one feed with one article (process start to exit);
- the pages per second and peak memory of a larger crawl (``--big-pages``, 5,000 by
  default; pages repeat under distinct URLs).

With ``--peers`` it also times trafilatura's own command line (``trafilatura -i`` on the
pages' URLs from the same local server, ``--parallel`` as many as the workers), and
newspaper4k and news-please fetching the same URLs in as many processes
(``benchmarks/peer.py``), each as a ratio to the ceiling. Neither is a dependency of this
project: install them in a virtual environment of their own and name its Python,

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install newspaper4k news-please
    python benchmarks/crawl.py --peers --peers-python /tmp/peers/bin/python

Load on the machine distorts wall figures (pages/s, the ratio) much more than CPU
figures: the load average is printed before and after, quote figures from a quiet run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.metadata
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.peer import NOT_INSTALLED, PEERS  # noqa: E402
from tests.support.cli import Project, scraper_command  # noqa: E402
from tests.support.corpus import CORPUS_DIR  # noqa: E402
from tests.support.pages import article_page, article_paragraphs, rss_feed  # noqa: E402
from tests.support.processes import process_tree  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def corpus_pages() -> list[bytes]:
    """The dev extraction pages (gzip), else the article pages of the corpus, else
    synthetic pages."""
    dev = sorted((CORPUS_DIR / "dev" / "extraction" / "pages").glob("*"))
    if dev:
        return [
            gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes() for p in dev
        ]
    real = sorted((CORPUS_DIR / "html" / "articles").glob("*.html"))
    if real:
        return [p.read_bytes() for p in real]
    return [article_page(f"Story {n}", article_paragraphs(n, 8)).encode() for n in range(50)]


def repeated(sources: Sequence[bytes], count: int) -> list[bytes]:
    return [sources[n % len(sources)] for n in range(count)]


# --- the process tree -------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def tree_memory_kib(pid: int, pss: bool = True) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` and all its descendants, summed, from /proc. The RSS sum
    counts a page shared by several processes (libraries, the interpreter) once per
    process; PSS divides each shared page among its sharers, so its sum is the memory
    the tree really holds. Without ``pss`` only the RSS is read (from ``statm``, which
    costs the kernel next to nothing) and the PSS is 0: ``smaps_rollup`` walks every
    page of every process, ~0.1 core on a 2-core crawl sampled every 50 ms."""
    rss = pss_sum = 0
    for current in process_tree(pid):
        try:
            if pss:
                for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss_sum += int(line.split()[1])
            else:
                rss += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE_KIB
        except (OSError, ValueError):
            continue
    return rss, pss_sum


def tree_own_cpu(pid: int, seen: dict[int, float]) -> None:
    """Record in ``seen`` the CPU seconds each process of the tree under ``pid`` has used
    so far (its own, not its children's). Workers forked by a fork server are reaped by
    it, and the server itself by init once the crawl process is gone: the operating
    system's accounting of the crawl's children never sees them."""
    for current in process_tree(pid):
        used = own_cpu_seconds(current)
        if used is not None:
            seen[current] = max(used, seen.get(current, 0.0))


def own_cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` itself (not its children), from /proc."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Run:
    pages: int
    seconds: float
    cpu: float  # the whole process tree
    crawl_cpu: float | None  # the crawl process alone
    peak_kib: int  # the largest RSS sum of the tree
    peak_pss_kib: int  # the largest PSS sum of the tree
    output: str

    @property
    def rate(self) -> float:
        return self.pages / self.seconds


def run_and_watch(
    command: list[str], cwd: Path, env: dict[str, str], pss: bool = True
) -> tuple[Run, int, str]:
    """Run ``command``; its wall time, the CPU of its finished process tree, its own CPU
    (read at its last moment: its pid is kept, unreaped, until the sampler is done) and
    the peak RSS of its tree, and its peak PSS with ``pss``."""
    before = os.times()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = peak_pss = 0
    cpu_seen: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        while not done.is_set():
            rss, pss_sum = tree_memory_kib(process.pid, pss)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss_sum)
            tree_own_cpu(process.pid, cpu_seen)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors: list[str] = []  # read beside stdout: a full stderr pipe would block the crawl
    reader = threading.Thread(
        target=lambda: errors.append(process.stderr.read() if process.stderr else ""),
        daemon=True,
    )
    reader.start()
    out = process.stdout.read() if process.stdout else ""
    reader.join()
    err = "".join(errors)
    # Wait for the exit without reaping, so /proc still shows the zombie's own times.
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    seconds = time.perf_counter() - started
    tree_own_cpu(process.pid, cpu_seen)  # the last word of everything still there
    done.set()
    sampler.join()
    process.wait()
    after = os.times()
    reaped = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    # The larger of the two: the sampled sum misses the last 50 ms of processes that
    # ended early; the reaped sum misses processes that the crawl did not reap.
    cpu = max(reaped, sum(cpu_seen.values()))
    own = cpu_seen.get(process.pid)
    run = Run(0, seconds, cpu, own, peak, peak_pss, out.strip())
    return run, process.returncode, err


# --- a crawl ---------------------------------------------------------------------------


class LeanServer:
    """A minimal HTTP/1.1 server for the pages: canned answers, keep-alive, nothing
    recorded. The tests' LocalHTTPServer (a thread and a new connection per request)
    would spend more CPU than the crawl's own fetching, on the same two cores; real news
    sites keep connections alive too. It runs on an event loop in a thread of this
    process, outside the measured process tree."""

    def __init__(self) -> None:
        self.answers: dict[bytes, bytes] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    def route(self, path: str, body: bytes, content_type: str) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.answers[path.encode()] = head.encode() + body

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.authority}"

    def url(self, path: str) -> str:
        return self.base_url + path

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                answer = self.answers.get(path)
                if answer is None:
                    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> LeanServer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=256), self.loop
        )
        self._server = started.result()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self.loop.call_soon_threadsafe(self._server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@contextmanager
def served_site(pages: Sequence[bytes]) -> Iterator[tuple[LeanServer, list[str]]]:
    with LeanServer() as server:
        urls = []
        for number, body in enumerate(pages):
            path = f"/a/{number}"
            server.route(path, body, "text/html")
            urls.append(server.url(path))
        items: list[tuple[str, str, str | None]] = [
            (f"Article {n}", url, None) for n, url in enumerate(urls)
        ]
        server.route("/feed.xml", rss_feed(items).encode(), "application/rss+xml")
        yield server, urls


# Output folders are removed when the benchmark exits, not after each run: on a file
# system that keeps new files off recently freed inodes (ext4 without a journal, as on
# the development machine), creating a file steps over every inode freed there in the
# last one to six minutes, and a run right after the removal of the previous run's
# files paid for that cleanup in the kernel (docs/performance.md, "Sixth round").
_OUTPUT_FOLDERS: list[tempfile.TemporaryDirectory[str]] = []


def url_listing(folder: Path, urls: list[str]) -> Path:
    """``folder``/urls.txt: ``urls``, one a line, as the peers read them."""
    listing = folder / "urls.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    return listing


def output_folder() -> Path:
    """A new temporary folder, removed when the benchmark's process exits."""
    kept = tempfile.TemporaryDirectory(prefix="crawl-benchmark-")
    _OUTPUT_FOLDERS.append(kept)
    return Path(kept.name)


def crawl(pages: Sequence[bytes], workers: int | None, pss: bool = True) -> Run:
    """One crawl of ``pages`` behind one feed. Without ``pss`` its memory is sampled
    from the cheap RSS counters only, so that the sampler takes no CPU from the crawl
    it times (the speed run); with it, the PSS too (the memory runs)."""
    with served_site(pages) as (server, _urls):
        folder = output_folder()
        project = Project(folder, allowed=[server.authority])
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
        command = [*scraper_command(), "crawl", "bench", "--config", str(project.config)]
        run, code, err = run_and_watch(command, folder, env, pss)
        if code != 0:
            sys.exit(f"crawl failed ({code}): {err.strip()[-800:]}")
        run.pages = len(pages)
        return run


# --- the ceiling: trafilatura alone ------------------------------------------------------


def _trafilatura_warm() -> float:
    import trafilatura

    trafilatura.extract(
        "<html><body><article><p>" + "warm up " * 50 + "</p></article></body></html>"
    )
    return time.process_time()


def _trafilatura_chunk(bodies: list[bytes]) -> float:
    """CPU seconds this process spent extracting ``bodies``."""
    import trafilatura

    started = time.process_time()
    for body in bodies:
        trafilatura.extract(body.decode("utf-8", errors="replace"))
    return time.process_time() - started


def trafilatura_alone(pages: Sequence[bytes], processes: int) -> tuple[float, float]:
    """(pages per second, CPU seconds per page) of trafilatura.extract in ``processes``
    worker processes (started and warmed up before the clock starts)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        for future in [pool.submit(_trafilatura_warm) for _ in range(processes * 2)]:
            future.result()
        chunks = [list(pages[i : i + 8]) for i in range(0, len(pages), 8)]
        started = time.perf_counter()
        cpu = sum(pool.map(_trafilatura_chunk, chunks))
        seconds = time.perf_counter() - started
    return len(pages) / seconds, cpu / len(pages)


# --- peers ----------------------------------------------------------------------------


def trafilatura_cli(pages: Sequence[bytes], processes: int) -> float | None:
    """Pages per second of ``trafilatura -i urls.txt`` fetching the pages from a local
    server (its own downloads, extraction and output files)."""
    executable = shutil.which("trafilatura", path=str(Path(sys.executable).parent))
    if executable is None:
        return None
    import trafilatura

    with served_site(pages) as (_server, urls):
        folder = output_folder()
        listing = url_listing(folder, urls)
        # Its defaults wait 5 s between two requests to one host and refuse loopback
        # addresses: neither is what is measured here.
        defaults = (Path(trafilatura.__file__).parent / "settings.cfg").read_text()
        config = folder / "settings.cfg"
        config.write_text(
            defaults.replace("SLEEP_TIME = 5.0", "SLEEP_TIME = 0").replace(
                "SSRF_PROTECTION = on", "SSRF_PROTECTION = off"
            )
        )
        command = [executable, "-i", str(listing), "-o", str(folder / "out")]
        command += ["--parallel", str(processes), "--config-file", str(config)]
        run, code, err = run_and_watch(command, folder, dict(os.environ), pss=False)
        written = len(list((folder / "out").glob("*")))
        # It exits with 1 when any page gave no text (the corpus has an empty one).
        if written < len(pages) // 2:
            print(f"  trafilatura CLI ({code}) wrote {written} files: {err.strip()[-300:]}")
            return None
        print(f"  trafilatura CLI wrote {written} files of {len(pages)} pages")
        return len(pages) / run.seconds


def peer(name: str, pages: Sequence[bytes], processes: int, python: str) -> float | None:
    """Pages per second of ``benchmarks/peer.py`` running the peer ``name`` (its own
    downloads from the local server, extraction and output files) with ``python``; None
    when that Python lacks the peer or the peer gave text for under half the pages."""
    with served_site(pages) as (_server, urls):
        folder = output_folder()
        script = str(Path(__file__).with_name("peer.py"))
        command = [python, script, name, str(url_listing(folder, urls)), str(folder / "out")]
        command += ["--processes", str(processes)]
        run, code, err = run_and_watch(command, folder, dict(os.environ), pss=False)
        if code == NOT_INSTALLED:
            print(f"{err.strip()} (see --peers-python)")
            return None
        texts = sum(
            1
            for record in (folder / "out").glob("*.json")
            if json.loads(record.read_text(encoding="utf-8")).get("text")
        )
        if code != 0 or texts < len(pages) // 2:
            print(f"  {name} ({code}) gave text for {texts} pages: {err.strip()[-300:]}")
            return None
        print(f"  {name} gave text for {texts} of {len(pages)} pages")
        return len(pages) / run.seconds


# --- report ---------------------------------------------------------------------------


@dataclass
class Round:
    """One timed crawl and the ceilings measured just before and just after it."""

    run: Run
    before: tuple[float, float]  # the ceiling's (pages per second, CPU seconds per page)
    after: tuple[float, float]

    @property
    def ceiling_rate(self) -> float:
        return (self.before[0] + self.after[0]) / 2

    @property
    def ceiling_cpu_ms(self) -> float:
        return (self.before[1] + self.after[1]) / 2 * 1000

    @property
    def cpu_ms(self) -> float:
        return self.run.cpu / self.run.pages * 1000

    @property
    def crawl_ms(self) -> float:
        return (self.run.crawl_cpu or 0) / self.run.pages * 1000

    @property
    def ratio(self) -> float:
        return self.run.rate / self.ceiling_rate

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_ms / self.ceiling_cpu_ms

    def line(self, number: int) -> str:
        return (
            f"round {number}: crawl {self.run.rate:.1f} pages/s, {self.cpu_ms:.1f} ms CPU "
            f"a page ({self.crawl_ms:.1f} in the crawl process); ceiling {self.ceiling_rate:.1f} "
            f"pages/s, {self.ceiling_cpu_ms:.1f} ms ({self.before[1] * 1000:.1f} before, "
            f"{self.after[1] * 1000:.1f} after); ratios {self.ratio:.2f} pages/s, "
            f"{self.cpu_ratio:.2f} CPU"
        )


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    """The processor and the versions that set the ceiling: ratios measured on one
    processor do not carry to another (docs/performance.md, "Thirteenth round")."""
    processor = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                processor = f"{line.partition(':')[2].strip()} ({processor})"
                break
    except OSError:
        pass
    import lxml.etree

    libxml2 = ".".join(map(str, lxml.etree.LIBXML_VERSION))
    return (
        f"{processor}; Python {platform.python_version()}, "
        f"trafilatura {importlib.metadata.version('trafilatura')}, "
        f"lxml {importlib.metadata.version('lxml')} (libxml2 {libxml2})"
    )


def report_crawl(label: str, run: Run) -> None:
    print(f"{label}: {run.pages} pages, {run.rate:.1f} pages/s ({run.seconds:.1f} s wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=0, help="pages (default: every dev page)")
    parser.add_argument("--workers", type=int, default=None, help="extraction processes")
    parser.add_argument(
        "--rounds", type=positive, default=3, help="crawls timed, each between two ceilings"
    )
    parser.add_argument("--big-pages", type=int, default=5000, help="0: no large crawl")
    parser.add_argument("--no-single", action="store_true", help="skip the one-article crawl")
    parser.add_argument("--peers", action="store_true", help="time the other tools too")
    parser.add_argument(
        "--peers-python",
        default=sys.executable,
        help="the Python with newspaper4k and news-please installed (default: this one)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    sources = corpus_pages()
    pages = repeated(sources, args.pages or len(sources))
    processes = args.workers or os.cpu_count() or 1
    print(
        f"{len(pages)} pages ({len(sources)} distinct), {sum(map(len, pages)) / 1e6:.1f} MB, "
        f"{os.cpu_count()} cores, {processes} extraction processes, "
        f"load average {load_average()}"
    )
    print(f"machine: {machine()}")
    figures: dict[str, float | int | list[float] | None] = {}

    # The ceiling is measured on both sides of each crawl and averaged: this machine's
    # speed drifts by 10-15% within minutes, and one measurement after the crawl moved
    # the ratios by as much. Rounds alternate ceiling and crawl (each crawl between two
    # ceilings), and the medians of the rounds are the figures: one round's ratio moved
    # by 0.1 from run to run of the same code (docs/performance.md, "Tenth round").
    ceilings = [trafilatura_alone(pages, processes)]
    rounds: list[Round] = []
    for number in range(args.rounds):
        run = crawl(pages, args.workers, pss=False)
        ceilings.append(trafilatura_alone(pages, processes))
        rounds.append(Round(run, ceilings[-2], ceilings[-1]))
        if number == 0:
            print(run.output)
        print(rounds[-1].line(number + 1))
    cores = os.cpu_count() or 1
    per_page = median(r.cpu_ms for r in rounds)
    crawl_ms = median(r.crawl_ms for r in rounds)
    crawl_rate = median(r.run.rate for r in rounds)
    seconds = median(r.run.seconds for r in rounds)
    ceiling_rate = median(r.ceiling_rate for r in rounds)
    ceiling_cpu = median(r.ceiling_cpu_ms for r in rounds)
    cores_busy = median(r.run.cpu / r.run.seconds for r in rounds)
    label = "median of " + (f"{len(rounds)} rounds" if len(rounds) > 1 else "1 round")
    print(f"{label}:")
    print(f"crawl:               {crawl_rate:7.1f} pages/s ({seconds:.1f} s wall)")
    print(
        f"cpu per page:        {per_page:7.1f} ms (crawl process {crawl_ms:.1f} ms, "
        f"extraction workers {per_page - crawl_ms:.1f} ms)"
    )
    print(f"core utilisation:    {cores_busy:7.2f} of {cores} cores ({cores_busy / cores:.0%})")
    # A run of its own: reading every process's PSS every 50 ms costs ~0.1 core, which
    # the speed runs above would lose to the sampler.
    memory = crawl(pages, args.workers)
    print(
        f"peak memory:         {memory.peak_kib / 1024:7.1f} MiB RSS summed over the process "
        f"tree, {memory.peak_pss_kib / 1024:.1f} MiB PSS (a run of its own)"
    )
    print(
        f"trafilatura alone:   {ceiling_rate:7.1f} pages/s in {processes} processes, "
        f"{ceiling_cpu:.1f} ms CPU per page (measured {len(ceilings)} times: "
        f"{min(c[1] for c in ceilings) * 1000:.1f}-{max(c[1] for c in ceilings) * 1000:.1f} ms)"
    )
    ratio = median(r.ratio for r in rounds)
    cpu_ratio = median(r.cpu_ratio for r in rounds)
    print(f"ratio to ceiling:    {ratio:7.2f} pages/s, {cpu_ratio:.2f} CPU per page")
    figures.update(
        pages=len(pages),
        rounds=len(rounds),
        pages_per_s=crawl_rate,
        cpu_ms_per_page=per_page,
        crawl_process_cpu_ms_per_page=crawl_ms,
        cores_busy=cores_busy,
        peak_mib=memory.peak_kib / 1024,
        peak_pss_mib=memory.peak_pss_kib / 1024,
        ceiling_pages_per_s=ceiling_rate,
        ceiling_cpu_ms_per_page=ceiling_cpu,
        ratio=ratio,
        cpu_ratio=cpu_ratio,
        round_ratios=[r.ratio for r in rounds],
        round_cpu_ratios=[r.cpu_ratio for r in rounds],
    )

    if not args.no_single:
        single = crawl(pages[:1], args.workers, pss=False)
        print(f"one feed, one article: {single.seconds:5.2f} s wall")
        figures["one_article_s"] = single.seconds

    if args.big_pages:
        big = crawl(repeated(sources, args.big_pages), args.workers)
        print(
            f"{big.pages} pages:         {big.rate:7.1f} pages/s, peak memory "
            f"{big.peak_kib / 1024:.1f} MiB RSS, {big.peak_pss_kib / 1024:.1f} MiB PSS, "
            f"{big.cpu / big.pages * 1000:.1f} ms CPU per page"
        )
        figures.update(
            big_pages=big.pages,
            big_pages_per_s=big.rate,
            big_peak_mib=big.peak_kib / 1024,
            big_peak_pss_mib=big.peak_pss_kib / 1024,
        )

    if args.peers:
        rate = trafilatura_cli(pages, processes)
        if rate is not None:
            print(
                f"trafilatura CLI:     {rate:7.1f} pages/s, "
                f"{rate / ceiling_rate:.2f} of the ceiling"
            )
            figures["trafilatura_cli_ratio"] = rate / ceiling_rate
        for name in PEERS:
            rate = peer(name, pages, processes, args.peers_python)
            if rate is not None:
                print(
                    f"{name + ':':20} {rate:7.1f} pages/s, {rate / ceiling_rate:.2f} of the ceiling"
                )
                figures[f"{name.replace('-', '_')}_ratio"] = rate / ceiling_rate
    print(f"load average after:  {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
