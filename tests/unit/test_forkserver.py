"""The fork server a crawl starts early (scraper.forkserver) ends with the command, even
while it is still loading."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a fork server on Linux only")

# Starts the fork server with a preload that takes a minute, prints the server's pid once
# it is known, and exits.
PROGRAM = """
import sys, time
from multiprocessing import forkserver
import scraper.forkserver as early

def slow_context():
    context = early_context()
    context.set_forkserver_preload(["slow_boot"])
    return context

early_context, early.start_context = early.start_context, slow_context
early.start_fork_server()
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid is not None:
        break
    time.sleep(0.01)
print(pid, flush=True)
"""


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_fork_server_still_loading_ends_when_the_command_does(tmp_path: Path) -> None:
    (tmp_path / "slow_boot.py").write_text("import time\ntime.sleep(60)\n")
    # The server finds its preload on PYTHONPATH (Python 3.11's fork server ignores the
    # sys.path it is given).
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.strip())

    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid)
