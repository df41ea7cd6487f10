"""SIGKILL of the process that owns an ExtractionPool leaves no extraction worker behind.

A Python subprocess (standing in for ``scraper crawl`` or the daemon: they own their
workers through the same ExtractionPool) starts two workers and keeps both busy with
pages that never finish, so nothing but the parent-death signal can end them: an idle
pebble worker would also leave on its own when its task pipe closes. Every process of
that tree carries a marker in its environment; after the SIGKILL none may remain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]

TASK_MODULE = '''
import os
import time
from pathlib import Path

from scraper.models import Skip


def busy(page):
    """Announce this worker, then never finish the page."""
    (Path(os.environ["BUSY_DIR"]) / str(os.getpid())).write_text(page.url)
    time.sleep(3600)
    return Skip(page.url, "unreachable")
'''

OWNER = """
import asyncio

from orphan_task import busy
from scraper.models import Discovery, FetchedPage, SourceDefaults
from scraper.workers import ExtractionPool

DEFAULTS = SourceDefaults("s", "Site", "https://site.example", "en", "Notícias", False)


def page(n):
    url = f"https://site.example/news/{n}"
    return FetchedPage(Discovery(url, "s", "feed", "RSS"), DEFAULTS, url, b"", "utf-8", "UTC")


async def main():
    pool = ExtractionPool(2, timeout=3600, task=busy)
    await asyncio.gather(*(pool.extract(page(n)) for n in range(3)))


asyncio.run(main())
"""


def marked(marker: bytes) -> dict[int, str]:
    """Live processes whose environment carries ``marker``: pid -> state letter."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state != "Z":
            found[int(entry.name)] = state
    return found


def parent_of(pid: int) -> int | None:
    try:
        return int((Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())[1])
    except (OSError, ValueError, IndexError):
        return None


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigkill_of_the_pool_owner_leaves_no_worker(tmp_path: Path) -> None:
    (tmp_path / "orphan_task.py").write_text(TASK_MODULE)
    busy_dir = tmp_path / "busy"
    busy_dir.mkdir()
    marker = f"extraction-orphan-test-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "BUSY_DIR": str(busy_dir),
        "ORPHAN_MARKER": marker,
    }
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(OWNER)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(list(busy_dir.iterdir())) < 2:  # both workers inside a page
            assert owner.poll() is None, owner.communicate()[1].decode(errors="replace")
            assert time.monotonic() < deadline, "the workers never started their pages"
            time.sleep(0.1)
        workers = {int(p.name) for p in busy_dir.iterdir()}
        # Forked by the owner's fork server (Linux), or spawned by the owner itself.
        parents = {parent_of(pid) for pid in workers}
        assert all(p == owner.pid or parent_of(p) == owner.pid for p in parents if p)
        assert workers <= marked(marker.encode()).keys()

        owner.send_signal(signal.SIGKILL)
        owner.wait(10)

        deadline = time.monotonic() + 5
        while (left := marked(marker.encode())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == {}, f"left behind after SIGKILL of {owner.pid}: {left}"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        for pid in marked(marker.encode()):
            os.kill(pid, signal.SIGKILL)
