"""crawl_runs rows that a killed process left ``running``.

A process killed mid-run (SIGKILL, OOM killer, power loss) never closes its runs. Each
run records its process as ``worker`` (``host:pid``), so a process starting on the same
host can tell the dead from the living: a run is orphaned when its process is gone, when
the pid now belongs to a process that started after the run did (pids are reused,
in containers especially), or when it is this very process's pid (it has not started a
run yet). Rows from before crawl_runs had a ``worker`` (NULL) are orphans too: no process
of this version wrote them. Runs of other hosts are left alone: in a fleet their own
worker's job is recovered through the job engine (scraper.fleet).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scraper.storage.base import Database

log = logging.getLogger(__name__)

ABANDONED = "abandoned"


def process_started_at(pid: int) -> float | None:
    """Unix time the process ``pid`` started (Linux /proc), or None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        ticks = int(fields[19])  # field 22 of /proc/<pid>/stat: start time in clock ticks
    except (IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def is_orphan(
    row: Mapping[str, Any],
    host: str,
    own_pid: int,
    alive: Callable[[int], bool] = process_alive,
    started_at: Callable[[int], float | None] = process_started_at,
) -> bool:
    worker = row.get("worker")
    if not worker:
        return True
    run_host, _, pid_text = str(worker).rpartition(":")
    if run_host != host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == own_pid or not alive(pid):
        return True
    began = started_at(pid)
    run_started = row.get("started_at")
    if began is not None and isinstance(run_started, datetime):
        return began > run_started.timestamp() + 1.0  # the pid was reused since
    return False


def orphaned_runs(
    rows: Iterable[Mapping[str, Any]], host: str, own_pid: int, **checks: Any
) -> list[int]:
    """Ids of the ``running`` rows whose process is gone."""
    return [int(row["id"]) for row in rows if is_orphan(row, host, own_pid, **checks)]


async def close_orphaned_runs(database: Database, finished: datetime | None = None) -> int:
    """Close as ``abandoned`` the runs that a killed process of this host left
    ``running`` (see the module's docstring); returns how many. The daemon does it when
    it starts, a manual crawl before it records its own runs."""
    try:
        rows = await asyncio.to_thread(database.running_runs)
        ids = orphaned_runs(rows, socket.gethostname(), os.getpid())
        when = finished or datetime.now().astimezone()
        for run_id in ids:
            counts = {"errors": {"abandoned: its process was gone": 1}}
            await asyncio.to_thread(database.finish_run, run_id, when, ABANDONED, counts)
    except Exception as exc:
        log.warning("cannot close the runs a killed process left running: %s", exc)
        return 0
    if ids:
        log.warning("closed %d run(s) a killed process left running as abandoned", len(ids))
    return len(ids)
