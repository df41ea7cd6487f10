"""Extraction in worker processes, off the crawl's event loop.

Extraction (HTML parsing, trafilatura, date and language detection) is CPU-bound and runs
on pages written by strangers; run on the event loop it would stall every download. It
runs in a pool of worker processes instead, one per CPU the process may use (affinity and
cgroup quota, at most 8: ``usable_cpus``). Workers are never forked from the crawl
process (forking a process that runs a Twisted reactor and threads is unsafe): on Linux
they are forked from a fork server, a clean process started for them that has imported
the extraction code and loaded the language model once (``scraper.worker_boot``), so a
worker starts in milliseconds and shares those ~150 MB with its siblings instead of
holding its own copy; elsewhere they are started with "spawn".

Why pebble (``pebble.ProcessPool``) rather than our own recycling on
``concurrent.futures.ProcessPoolExecutor``:

- Per-task timeouts that count a page's own run time, not its wait in the queue (pebble
  starts the clock when a worker acknowledges the task), and end the hung worker, which
  pebble then replaces. An executor has no per-task timeout: we timed the wait (queue
  included) and, on expiry, had to terminate the whole executor.
- Crash isolation: a worker that dies fails only the task it was running
  (``ProcessExpired``); the executor marks the whole pool broken and fails every page in
  flight.
- Recycling built in (``max_tasks``), in place of swapping whole executors by hand
  (``max_tasks_per_child`` deadlocks on Python 3.11, CPython gh-115634).
loky was the other candidate: it isolates crashes and recycles, but has no per-task
timeout, which is the part we need most.

What this module adds on top:

- A page whose worker died is retried once, on a fresh process (a small second pool
  whose worker runs a single task); a second death is reported as "extraction crashed".
  A page that runs past the timeout is "extraction timed out" (not retried: a hang
  repeats).
- A memory cap per worker (``RLIMIT_AS``, setting ``worker_memory_limit``). A page that
  hits it gets MemoryError in the worker and is "extraction memory limit" (a little
  address space is held in reserve so the answer can still be sent); a worker left full
  by such a page is replaced before its next one. A worker that dies outright cannot
  tell us why, so that case takes the crash path above.
- Workers die with the pool's owner. A worker forked by the fork server watches the
  owner through a pidfd (a thread blocked on it exits the worker when the owner ends:
  the fork server itself only exits once no worker holds its "owner alive" pipe) and has
  ``PR_SET_PDEATHSIG`` for the fork server's death; the owner is checked right after, for
  the race. A spawned worker has ``PR_SET_PDEATHSIG`` (Linux), plus the same check;
  elsewhere a watchdog thread polls the parent pid. A SIGKILLed crawl or daemon leaves
  no orphans. PDEATHSIG fires when the *thread* that started a worker ends, so pools are
  started from a thread owned by the ExtractionPool that lives as long as it does (pebble
  starts the replacement workers from its own manager thread, which lives as long as the
  pool; the fork server forks from its only thread).
- Known pebble weakness (noxdafox/pebble#163, #97): a worker killed while it holds the
  pool's channel lock leaves the pool stuck without failing it, and a pool that breaks
  strands the tasks it had not dispatched. Every task a worker starts ends within the
  timeout, so a pool with work outstanding that completes nothing for ``timeout +
  stall_grace`` is stuck: it is replaced and its pages resubmitted, as after a break.

``ExtractionPool.extract`` never raises (except CancelledError) and never blocks the event
loop: pebble's futures are awaited through ``asyncio.wrap_future``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import math
import mmap
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from scraper.forkserver import start_context
from scraper.memory import trim_heap
from scraper.models import ExtractionOutcome, FetchedPage, Skip

log = logging.getLogger(__name__)

TASKS_PER_WORKER = 500
EXTRACTION_TIMEOUT = 120.0
DEFAULT_MEMORY_LIMIT = 1024**3  # 1 GiB of address space per worker
MAX_DEFAULT_WORKERS = 8
# A worker gives its free heap back to the system after a page at least this large (its
# tree and trafilatura's copies of it leave the largest holes); 0.1 ms a page on average.
TRIM_AFTER_BYTES = 256 * 1024
# Added to the timeout before a pool that completes nothing is declared stuck: room for
# killing a hung worker and starting its replacement on a busy machine.
STALL_GRACE = 30.0

TIMED_OUT = "extraction timed out"
CRASHED = "extraction crashed"
MEMORY_LIMIT = "extraction memory limit"
STOPPED = "extraction stopped"

# How often a waiting page checks that its pool is still sound.
_WATCH_INTERVAL = 0.5
# Times one page may be resubmitted because its pool broke or stalled (not its fault).
_MAX_POOL_FAILURES = 2
# Address space a worker keeps in reserve, released to report a MemoryError.
_HEADROOM = 16 * 1024**2
# After a page hit the cap, a worker that cannot map its reserve plus this much before
# its next task is still full (a leak, a cache): it exits with _EXIT_EXHAUSTED and the
# task is resubmitted, not charged with a crash.
_SPARE = 64 * 1024**2
_EXIT_EXHAUSTED = 86
# What scraper.normalize.process_page makes of a MemoryError it catches.
_SWALLOWED_MEMORY_ERROR = f"extraction error: {MemoryError.__name__}"
_PR_SET_PDEATHSIG = 1

Task = Callable[[FetchedPage], ExtractionOutcome]


# --- how many workers ---------------------------------------------------------------


def usable_cpus(
    cap: int = MAX_DEFAULT_WORKERS,
    *,
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    proc_cgroup: Path = Path("/proc/self/cgroup"),
) -> int:
    """CPUs this process may use: its affinity mask, lowered by any cgroup v2 ``cpu.max``
    quota on its cgroup or an ancestor (rounded up: a 1.5-CPU quota gets 2 workers that
    share it), within 1..``cap``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, min(cap, cpus))


def _cgroup_cpu_quota(root: Path, proc_cgroup: Path) -> float | None:
    """The tightest ``cpu.max`` quota (in CPUs) from this process's cgroup up to ``root``;
    None when there is none."""
    folders = [root]
    try:
        for line in proc_cgroup.read_text().splitlines():
            if line.startswith("0::"):  # the cgroup v2 hierarchy
                relative = line[3:].strip().strip("/")
                folder = root
                for part in relative.split("/") if relative else []:
                    folder = folder / part
                    folders.append(folder)
    except OSError:
        pass
    quotas = [q for q in (_read_cpu_max(f / "cpu.max") for f in folders) if q is not None]
    return min(quotas) if quotas else None


def _read_cpu_max(path: Path) -> float | None:
    """``"200000 100000"`` -> 2.0; ``"max 100000"``, a missing or odd file -> None."""
    try:
        fields = path.read_text().split()
        if len(fields) != 2 or fields[0] == "max":
            return None
        quota, period = int(fields[0]), int(fields[1])
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


# --- inside a worker process --------------------------------------------------------

_headroom: mmap.mmap | None = None


def extract_page(page: FetchedPage) -> ExtractionOutcome:
    """The production task: the Document of ``page`` or a Skip."""
    from scraper.normalize import process_page

    return process_page(page)


def _init_worker(parent_pid: int, memory_limit: int | None) -> None:
    """Run once in each new worker, before its first task."""
    _die_with_parent(parent_pid)
    # A spawned worker loads the heavy imports and the language model itself, before
    # its first page (pools start when a crawl starts, so this overlaps with discovery);
    # a forked one has them from the fork server already.
    import scraper.worker_boot  # noqa: F401

    if memory_limit is not None:
        _limit_address_space(memory_limit)
    _reserve_headroom()


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the pool's owner ends. A worker's parent is the owner
    (spawn) or the owner's fork server, which exits as soon as the owner is gone."""
    armed = False
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    parent = os.getppid()
    if parent != parent_pid:
        # Forked by the fork server. It exits when the owner does, but only once no
        # process holds the pipe that tells it so, and its workers inherit that pipe:
        # so each worker watches the owner itself (and the signal then ends it).
        if _parent_of(parent) != parent_pid or not _watch_owner(parent_pid):
            os._exit(1)  # the owner died before we could watch it
        return
    # (Spawned by the owner itself.)
    if not armed:
        threading.Thread(
            target=_watch_parent, args=(parent,), name="parent-watch", daemon=True
        ).start()


def _watch_owner(owner_pid: int) -> bool:
    """Exit this process as soon as ``owner_pid`` ends (a thread blocked on a pidfd,
    else one polling every second); False when it has ended already."""
    try:
        fd = os.pidfd_open(owner_pid)
    except OSError:
        return False  # no such process
    except AttributeError:  # a Python or kernel without pidfd_open
        try:
            os.kill(owner_pid, 0)
        except OSError:
            return False
        fd = None
    threading.Thread(
        target=_exit_with, args=(owner_pid, fd), name="owner-watch", daemon=True
    ).start()
    return True


def _exit_with(owner_pid: int, pidfd: int | None) -> None:
    if pidfd is not None:
        select.select([pidfd], [], [])  # readable once the process has ended
    else:
        while True:
            try:
                os.kill(owner_pid, 0)
            except OSError:
                break
            time.sleep(1.0)
    os._exit(1)


def _parent_of(pid: int) -> int | None:
    """The parent process of ``pid`` (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def _limit_address_space(limit: int) -> None:
    try:
        import resource
    except ImportError:  # not POSIX: no cap
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _reserve_headroom() -> bool:
    """Map (not touch) some address space to give back when a page exhausts the cap, so
    the worker can still build and send its answer."""
    global _headroom
    if _headroom is None:
        try:
            _headroom = mmap.mmap(-1, _HEADROOM)
        except (OSError, MemoryError, ValueError):
            return False
    return True


def _release_headroom() -> None:
    global _headroom
    headroom, _headroom = _headroom, None
    if headroom is not None:
        headroom.close()


def _has_room() -> bool:
    try:
        mmap.mmap(-1, _SPARE).close()
    except (OSError, ValueError):
        return False
    return _reserve_headroom()


def _run(task: Task, page: FetchedPage) -> ExtractionOutcome:
    """What a worker runs for one page (a top-level function: pebble pickles it)."""
    if _headroom is None and not _has_room():
        os._exit(_EXIT_EXHAUSTED)  # still full from an earlier page: be replaced
    exhausted = False
    try:
        outcome = task(page)
    except MemoryError:
        exhausted = True  # leaving the except block frees what the page had built
    if len(page.body) >= TRIM_AFTER_BYTES:
        trim_heap()  # the page's tree is gone: give its pages back (scraper.memory)
    if exhausted or (isinstance(outcome, Skip) and outcome.reason == _SWALLOWED_MEMORY_ERROR):
        _release_headroom()
        return Skip(page.url, MEMORY_LIMIT, failure=True)
    return outcome


# --- in the crawl process -----------------------------------------------------------


class _PoolFailure(Exception):
    """The pool a page was sent to broke, stalled or was closed: not the page's fault."""


class _Generation:
    """One pebble pool and what the pages waiting on it know about its health."""

    def __init__(self, pool: ProcessPool, starter: concurrent.futures.ThreadPoolExecutor):
        self.pool = pool
        # Started from the long-lived starter thread: see PDEATHSIG in the module doc.
        self.started: concurrent.futures.Future[bool] = starter.submit(lambda: pool.active)
        self.outstanding = 0
        self.last_progress = time.monotonic()
        self.failed = False
        self.closed = False
        self._reaper: threading.Thread | None = None

    def begin(self) -> None:
        if self.outstanding == 0:
            self.last_progress = time.monotonic()
        self.outstanding += 1

    def end(self) -> None:
        self.outstanding -= 1

    def progressed(self, _future: object = None) -> None:
        self.last_progress = time.monotonic()  # a float store: safe from any thread

    def broken(self, stall_after: float) -> str | None:
        """Why this pool can no longer be trusted with its pages, or None."""
        if self.failed:
            return "replaced"
        if self.started.done() and (self.started.exception() or not self.pool.active):
            return "broken"
        if self.outstanding and time.monotonic() - self.last_progress > stall_after:
            return f"no task finished in {stall_after:.0f}s"
        return None

    def retire(self) -> threading.Thread:
        """Stop the pool (its workers are ended) in the background."""
        self.failed = True
        if self._reaper is None:
            self._reaper = threading.Thread(
                target=self._stop, name="extraction-pool-reaper", daemon=True
            )
            self._reaper.start()
        return self._reaper

    def _stop(self) -> None:
        with contextlib.suppress(Exception):
            self.started.result()
        try:
            self.pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves it untyped
            self.pool.join()
        except Exception:
            log.exception("stopping an extraction pool failed")


class ExtractionPool:
    """Extraction worker processes; ``await extract(page)`` from the event loop."""

    def __init__(
        self,
        workers: int,
        timeout: float = EXTRACTION_TIMEOUT,
        memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
        tasks_per_worker: int = TASKS_PER_WORKER,
        *,
        task: Task = extract_page,
        stall_grace: float = STALL_GRACE,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.tasks_per_worker = tasks_per_worker
        self.task = task  # a top-level function: workers receive it by reference
        self.stall_after = timeout + stall_grace
        self.pools_started = 0
        self._main: _Generation | None = None
        self._retry: _Generation | None = None
        self._starter: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker processes in the background, if they are not running: each
        takes a second or more to import the extraction code, which a crawl overlaps
        with its discovery by calling this when it starts. Returns at once."""
        self._generation(retry=False)

    async def extract(self, page: FetchedPage) -> ExtractionOutcome:
        """The Document of ``page``, or a Skip with the reason; never raises."""
        try:
            return await self._extract(page)
        except Exception as exc:  # a bug in extraction must not stop the crawl
            log.error("extraction failed on %s: %r", page.url, exc, exc_info=exc)
            return Skip(page.url, f"extraction error: {type(exc).__name__}", failure=True)

    async def _extract(self, page: FetchedPage) -> ExtractionOutcome:
        crashed = False  # the page's worker died once: next attempt on a fresh process
        pool_failures = 0
        while True:
            generation = self._generation(retry=crashed)
            try:
                return await self._attempt(generation, page)
            except _PoolFailure as failure:
                if generation.closed:
                    return Skip(page.url, STOPPED, failure=True)
                generation.retire()
                pool_failures += 1
                if pool_failures > _MAX_POOL_FAILURES:
                    log.error("extraction pool keeps failing (%s) on %s", failure, page.url)
                    return Skip(page.url, CRASHED, failure=True)
                log.warning("extraction pool %s; resubmitting %s", failure, page.url)
            except ProcessExpired as died:
                if died.exitcode == _EXIT_EXHAUSTED:
                    pool_failures += 1  # the worker was full before this page started
                    if pool_failures <= _MAX_POOL_FAILURES:
                        log.info("a full extraction worker left; resubmitting %s", page.url)
                        continue
                    return Skip(page.url, MEMORY_LIMIT, failure=True)
                if crashed:
                    log.error(
                        "extraction worker died again (exit code %s) on %s",
                        died.exitcode,
                        page.url,
                    )
                    return Skip(page.url, CRASHED, failure=True)
                log.warning(
                    "extraction worker %s died (exit code %s) on %s; retrying it once",
                    died.pid,
                    died.exitcode,
                    page.url,
                )
                crashed = True
            except TimeoutError as exc:
                if getattr(exc, "traceback", None) is not None:
                    raise  # raised by the page's own code, not pebble's timeout
                log.warning("extraction timed out after %.0fs: %s", self.timeout, page.url)
                return Skip(page.url, TIMED_OUT, failure=True)
            except MemoryError:  # e.g. building the answer in the worker
                return Skip(page.url, MEMORY_LIMIT, failure=True)

    async def _attempt(self, generation: _Generation, page: FetchedPage) -> ExtractionOutcome:
        if not generation.started.done():
            # asyncio.wait, unlike awaiting the future itself, leaves the shared start
            # alone when this page is cancelled.
            starting = asyncio.wrap_future(generation.started)
            starting.add_done_callback(_consume)
            await asyncio.wait([starting])
        try:
            generation.started.result()
            future: ProcessFuture[ExtractionOutcome] = generation.pool.schedule(
                _run, args=(self.task, page), timeout=self.timeout
            )
        except Exception as exc:  # could not start, or broke since
            first_line = (str(exc).strip().splitlines() or [""])[0]
            raise _PoolFailure(f"unusable ({type(exc).__name__}: {first_line})") from exc
        generation.begin()
        # Recorded in pebble's thread, so a busy event loop cannot make a pool look stuck.
        future.add_done_callback(generation.progressed)
        waiter = asyncio.wrap_future(future)
        waiter.add_done_callback(_consume)
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=_WATCH_INTERVAL)
                if done:
                    if waiter.cancelled():
                        raise _PoolFailure("cancelled the task")
                    return waiter.result()
                reason = generation.broken(self.stall_after)
                if reason is not None:
                    generation.failed = True
                    raise _PoolFailure(reason)
        finally:
            generation.end()
            if not future.done():
                # pebble's cancel (untyped) also ends the worker running the page.
                future.cancel()  # type: ignore[no-untyped-call]

    def _generation(self, retry: bool) -> _Generation:
        current = self._retry if retry else self._main
        if current is not None and not current.failed:
            return current
        if current is not None:
            current.retire()
        if self._starter is None:
            self._starter = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="extraction-pool-starter"
            )
        pool = ProcessPool(
            # Retries each get a process of their own: one worker that runs one task.
            max_workers=1 if retry else self.workers,
            max_tasks=1 if retry else self.tasks_per_worker,
            initializer=_init_worker,
            initargs=(os.getpid(), self.memory_limit),
            context=start_context(),
        )
        generation = _Generation(pool, self._starter)
        self.pools_started += 1
        if retry:
            self._retry = generation
        else:
            self._main = generation
        return generation

    def close(self, timeout: float = 10.0) -> None:
        """End the workers (pages still waiting get a Skip). The pool can be used again:
        new workers start on the next page."""
        generations = [g for g in (self._main, self._retry) if g is not None]
        self._main = self._retry = None
        for generation in generations:
            generation.closed = True
        reapers = [generation.retire() for generation in generations]
        deadline = time.monotonic() + timeout
        for reaper in reapers:
            reaper.join(max(0.0, deadline - time.monotonic()))
        starter, self._starter = self._starter, None
        if starter is not None:
            starter.shutdown(wait=False)


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned future's exception as seen (no "never retrieved" warning)."""
    if not future.cancelled():
        future.exception()
