"""The extraction pool: real pages, recycling, timeouts that ignore queue time, killed and
crashing workers, the memory cap, the parent-death signal, a stuck pool, and the default
number of workers.

Most tests run ``probe`` instead of the real extraction: a page's body is a JSON order
(sleep, hang, crash, allocate, report a limit) and a finished page answers
``Skip(url, "ok <worker pid>")``. Workers import this module by name to run it.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import mmap
import os
import resource
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scraper import workers
from scraper.config import Settings
from scraper.document import Document
from scraper.models import Discovery, ExtractionOutcome, FetchedPage, Skip, SourceDefaults
from scraper.workers import (
    CRASHED,
    MEMORY_LIMIT,
    TIMED_OUT,
    ExtractionPool,
    extract_page,
    usable_cpus,
)
from tests.support.pages import article_page, article_paragraphs

pytestmark = pytest.mark.timeout(60)

DEFAULTS = SourceDefaults("s", "Site", "https://site.example", "en", "Notícias", False)
MiB = 1024**2
T = TypeVar("T")
HOARD: list[mmap.mmap] = []  # in a worker: what a leaky page keeps


def page(n: int) -> FetchedPage:
    url = f"https://site.example/news/{n}"
    body = article_page(f"Story {n}", article_paragraphs(n)).encode()
    return FetchedPage(
        Discovery(url, "s", "feed", "RSS"), DEFAULTS, url, body, "utf-8", "America/Sao_Paulo"
    )


def order(name: str, **what: Any) -> FetchedPage:
    url = f"https://site.example/{name}"
    body = json.dumps(what).encode()
    return FetchedPage(
        Discovery(url, "s", "feed", "RSS"), DEFAULTS, url, body, "utf-8", "America/Sao_Paulo"
    )


def probe(page: FetchedPage) -> ExtractionOutcome:
    """A stand-in for extraction that does what the page's body orders (in a worker)."""
    what = json.loads(page.body)
    if "pid_file" in what:  # first attempt: announce the pid, then run until killed
        pid_file = Path(what["pid_file"])
        if not pid_file.exists():
            pid_file.write_text(str(os.getpid()))
            time.sleep(60)
    if what.get("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    if what.get("hang"):
        time.sleep(3600)
    time.sleep(what.get("sleep", 0))
    if "allocate" in what:
        block = bytearray(what["allocate"])
        return Skip(page.url, f"allocated {len(block)}")
    if what.get("hoard"):  # fill the address space for good, then fail an allocation
        while True:
            try:
                HOARD.append(mmap.mmap(-1, 16 * MiB))  # address space, not memory
            except OSError:
                break
        bytearray(16 * MiB)
    if what.get("swallow_memory_error"):  # as scraper.normalize.process_page does
        try:
            bytearray(what["swallow_memory_error"])
        except Exception as exc:
            return Skip(page.url, f"extraction error: {type(exc).__name__}", failure=True)
    if what.get("raise"):
        raise ValueError("a bug in extraction")
    if what.get("rlimit"):
        return Skip(page.url, f"rlimit {resource.getrlimit(resource.RLIMIT_AS)[0]}")
    if what.get("main"):  # which script is this worker's __main__?
        script = getattr(sys.modules["__main__"], "__file__", None)
        return Skip(page.url, f"main script: {script}")
    if what.get("pdeathsig"):
        found = ctypes.c_int(0)
        ctypes.CDLL(None).prctl(2, ctypes.byref(found), 0, 0, 0)  # PR_GET_PDEATHSIG
        return Skip(page.url, f"pdeathsig {found.value}")
    return Skip(page.url, f"ok {os.getpid()}")


def worker_pid(outcome: ExtractionOutcome) -> int:
    assert isinstance(outcome, Skip), outcome
    assert outcome.reason.startswith("ok "), outcome
    return int(outcome.reason.split()[1])


def run(awaitable: Awaitable[T], timeout: float = 45) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(awaitable, timeout)

    return asyncio.run(bounded())


async def extract_all(pool: ExtractionPool, pages: list[FetchedPage]) -> list[ExtractionOutcome]:
    return list(await asyncio.gather(*(pool.extract(p) for p in pages)))


@pytest.fixture
def make_pool() -> Iterator[Callable[..., ExtractionPool]]:
    pools: list[ExtractionPool] = []

    def make(workers: int = 2, **options: Any) -> ExtractionPool:
        options.setdefault("task", probe)
        pools.append(ExtractionPool(workers, **options))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- real pages and recycling -------------------------------------------------------


def test_real_pages_become_documents_while_workers_are_recycled(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=60, tasks_per_worker=3, task=extract_page)
    outcomes = run(extract_all(pool, [page(n) for n in range(8)]))
    assert [o.title for o in outcomes if isinstance(o, Document)] == [
        f"Story {n}" for n in range(8)
    ]


def test_start_readies_the_workers_before_the_first_page(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(2, timeout=30)
    pool.start()
    pool.start()  # a second call finds them started
    assert pool.pools_started == 1
    assert {worker_pid(o) for o in run(extract_all(pool, [order("a"), order("b")]))}
    assert pool.pools_started == 1


def test_workers_are_replaced_after_tasks_per_worker(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=30, tasks_per_worker=3)
    outcomes = run(extract_all(pool, [order(f"p{n}") for n in range(7)]))
    per_worker = Counter(worker_pid(o) for o in outcomes)
    assert sorted(per_worker.values()) == [1, 3, 3]  # 7 pages, 3 per worker
    assert pool.pools_started == 1  # recycled inside the one pool, nothing lost


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is Linux only")
def test_forked_workers_do_not_run_the_owners_main_script_again(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    # multiprocessing would run it as __mp_main__ in every worker: for `scraper crawl`,
    # the whole command line with Scrapy and Twisted (scraper.worker_boot).
    pool = make_pool(1, timeout=30)
    outcome = run(pool.extract(order("main", main=True)))
    assert outcome == Skip("https://site.example/main", "main script: None")


def test_a_worker_trims_its_heap_after_a_large_page_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[str] = []
    monkeypatch.setattr(workers, "trim_heap", lambda: trims.append("trim") or True)
    small, large = order("small"), order("large")
    large = replace(large, body=json.dumps({"pad": "x" * workers.TRIM_AFTER_BYTES}).encode())
    assert workers._run(probe, small) == Skip(small.url, f"ok {os.getpid()}")
    assert trims == []
    assert workers._run(probe, large) == Skip(large.url, f"ok {os.getpid()}")
    assert trims == ["trim"]


# --- timeouts -----------------------------------------------------------------------


def test_waiting_in_the_queue_does_not_count_toward_the_timeout(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=2.0)
    started = time.monotonic()
    outcomes = run(extract_all(pool, [order(f"p{n}", sleep=0.8) for n in range(6)]))
    elapsed = time.monotonic() - started
    assert all(worker_pid(o) for o in outcomes)  # none timed out
    assert elapsed > 4.8  # the last page waited far longer than the timeout


def test_a_hung_page_times_out_and_only_it_fails(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(2, timeout=1.5)
    started = time.monotonic()
    hung, *others = run(
        extract_all(pool, [order("hung", hang=True)] + [order(f"p{n}") for n in range(4)])
    )
    assert hung == Skip("https://site.example/hung", TIMED_OUT, failure=True)
    assert all(worker_pid(o) for o in others)
    assert time.monotonic() - started < 12
    assert worker_pid(run(pool.extract(order("after"))))  # the hung worker was replaced


def test_cancelling_extract_ends_the_page_in_its_worker(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=60)

    async def scenario() -> ExtractionOutcome:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.extract(order("hung", hang=True)), 1.0)
        # Had the hung page kept the only worker, this would wait for the 60 s timeout.
        return await asyncio.wait_for(pool.extract(order("next")), 10)

    assert worker_pid(run(scenario()))


# --- crashes ------------------------------------------------------------------------


def test_a_killed_worker_fails_only_its_page_which_is_retried_on_a_fresh_worker(
    make_pool: Callable[..., ExtractionPool], tmp_path: Path
) -> None:
    pool = make_pool(2, timeout=30)
    pid_file = tmp_path / "victim.pid"
    pages = [order("victim", pid_file=str(pid_file))] + [
        order(f"p{n}", sleep=0.3) for n in range(6)
    ]

    async def scenario() -> tuple[int, list[ExtractionOutcome]]:
        extraction = asyncio.gather(*(pool.extract(p) for p in pages))
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.05)
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)  # while the other pages are in flight
        return killed, list(await extraction)

    killed, (victim, *others) = run(scenario())
    other_workers = {worker_pid(o) for o in others}  # every other page succeeded
    retried_on = worker_pid(victim)  # the victim succeeded on its second attempt
    assert retried_on != killed
    assert retried_on not in other_workers  # a fresh process, not a used worker


def test_a_page_that_kills_its_worker_twice_is_skipped_as_crashed(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(2, timeout=30)
    crash, *others = run(
        extract_all(pool, [order("crash", crash=True)] + [order(f"p{n}") for n in range(4)])
    )
    assert crash == Skip("https://site.example/crash", CRASHED, failure=True)
    assert all(worker_pid(o) for o in others)
    assert worker_pid(run(pool.extract(order("after"))))


def test_extract_never_raises_on_a_bug_in_the_task(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=30)
    outcome = run(pool.extract(order("bug", **{"raise": True})))
    assert outcome == Skip("https://site.example/bug", "extraction error: ValueError", True)
    assert worker_pid(run(pool.extract(order("after"))))


# --- memory cap and parent death ------------------------------------------------------


def test_each_worker_has_the_memory_cap_and_a_page_over_it_is_skipped(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=30, memory_limit=512 * MiB)
    limit, big, swallowed, small, after = run(
        extract_all(
            pool,
            [
                order("limit", rlimit=True),
                order("big", allocate=1024 * MiB),
                order("swallowed", swallow_memory_error=1024 * MiB),
                order("small", allocate=16 * MiB),
                order("after"),
            ],
        )
    )
    assert limit == Skip("https://site.example/limit", f"rlimit {512 * MiB}")
    assert big == Skip("https://site.example/big", MEMORY_LIMIT, failure=True)
    assert swallowed == Skip("https://site.example/swallowed", MEMORY_LIMIT, failure=True)
    assert small == Skip("https://site.example/small", f"allocated {16 * MiB}")
    assert worker_pid(after)  # the worker that hit the cap carries on


def test_a_worker_left_full_by_a_page_is_replaced_before_the_next_one(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=30, memory_limit=512 * MiB)
    first = worker_pid(run(pool.extract(order("first"))))
    hoard = run(pool.extract(order("hoard", hoard=True)))
    assert hoard == Skip("https://site.example/hoard", MEMORY_LIMIT, failure=True)
    # The full worker gives the next page up unstarted and is replaced; the page is not
    # charged with a crash.
    assert worker_pid(run(pool.extract(order("next")))) != first


@pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux-only")
def test_workers_are_killed_when_their_parent_dies(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    pool = make_pool(1, timeout=30)
    outcome = run(pool.extract(order("pdeathsig", pdeathsig=True)))
    assert outcome == Skip("https://site.example/pdeathsig", f"pdeathsig {int(signal.SIGKILL)}")


def test_close_ends_every_worker(make_pool: Callable[..., ExtractionPool]) -> None:
    pool = make_pool(2, timeout=30)
    pids = {worker_pid(o) for o in run(extract_all(pool, [order(f"p{n}") for n in range(6)]))}
    assert pids and all(alive(pid) for pid in pids)
    pool.close()
    assert not any(alive(pid) for pid in pids)


# --- a stuck pool ---------------------------------------------------------------------


def test_a_stuck_pool_is_replaced_and_its_pages_resubmitted(
    make_pool: Callable[..., ExtractionPool],
) -> None:
    # A frozen idle worker never takes the next page, so pebble's timeout (which starts
    # when a worker takes a page) never fires; the pool-level watchdog must.
    pool = make_pool(1, timeout=1.0, stall_grace=1.5)
    frozen = worker_pid(run(pool.extract(order("first"))))
    time.sleep(0.3)  # let the worker go back to waiting for work
    os.kill(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        outcome = run(pool.extract(order("second")))
        assert worker_pid(outcome) != frozen
        assert 2.5 <= time.monotonic() - started < 15
        assert pool.pools_started == 2
    finally:
        if alive(frozen):
            os.kill(frozen, signal.SIGKILL)


# --- how many workers -----------------------------------------------------------------


@pytest.fixture
def sixteen_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)), raising=False)


def cpus_under(cpu_max: dict[str, str], tmp_path: Path, own: str = "/") -> int:
    """usable_cpus() with these cgroup v2 cpu.max files, the process's cgroup at ``own``."""
    root = tmp_path / "cgroup"
    for folder, text in cpu_max.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "cpu.max").write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{own}\n")
    return usable_cpus(cgroup_root=root, proc_cgroup=proc)


@pytest.mark.usefixtures("sixteen_cpus")
@pytest.mark.parametrize(
    ("cpu_max", "own", "expected"),
    [
        ({}, "/", 8),  # no cgroup file: the affinity, capped at 8
        ({".": "max 100000"}, "/", 8),  # no quota
        ({".": "200000 100000"}, "/", 2),
        ({".": "150000 100000"}, "/", 2),  # 1.5 CPUs: rounded up
        ({".": "50000 100000"}, "/", 1),  # less than one CPU: still one worker
        ({".": "garbage"}, "/", 8),  # unreadable: ignored
        ({".": "max 100000", "app": "400000 100000", "app/crawl": "max 100000"}, "/app/crawl", 4),
        ({".": "300000 100000", "app": "800000 100000"}, "/app", 3),  # tightest ancestor
    ],
)
def test_usable_cpus_follows_the_cgroup_quota(
    tmp_path: Path, cpu_max: dict[str, str], own: str, expected: int
) -> None:
    assert cpus_under(cpu_max, tmp_path, own) == expected


def test_usable_cpus_follows_the_affinity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3}, raising=False)
    assert cpus_under({".": "max 100000"}, tmp_path) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    assert cpus_under({}, tmp_path) == 3


def test_settings_default_workers_and_memory_limit() -> None:
    settings = Settings()
    assert settings.workers == usable_cpus()
    assert settings.worker_memory_limit == 1024**3
    assert Settings(worker_memory_limit=512 * MiB).worker_memory_limit == 512 * MiB
    with pytest.raises(ValueError, match="worker_memory_limit"):
        Settings(worker_memory_limit=64 * MiB)  # below what a worker needs to start
