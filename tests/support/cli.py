"""Running the ``scraper`` command as a user would: a subprocess with a config folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scraper.document import Document, parse
from tests.support.processes import peak_resident_kib, process_tree


@dataclass
class Project:
    """A config folder and the data folders a crawl writes to, all under ``root``."""

    root: Path
    # allow_private_addresses of every settings file written: the local servers a test
    # serves its sites from, and nothing else.
    allowed: list[str] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def output(self) -> Path:
        return self.root / "data" / "articles"

    def write_settings(self, **settings: Any) -> None:
        self.config.mkdir(parents=True, exist_ok=True)
        values = {
            "output_dir": str(self.output),
            "sqlite_path": str(self.root / "data" / "scraper.db"),
            "download_timeout": 5,
            "retries": 1,
            "allow_private_addresses": list(self.allowed),
            **settings,
        }
        (self.config / "settings.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")

    def write_source(self, source: dict[str, Any]) -> None:
        folder = self.config / "sources"
        folder.mkdir(parents=True, exist_ok=True)
        source = {"crawl": {"delay": 0, "concurrency": 4, "robots": True}, **source}
        text = yaml.safe_dump(source, allow_unicode=True, sort_keys=False)
        (folder / f"{source['id']}.yaml").write_text(text, encoding="utf-8")

    def files(self) -> list[Path]:
        return sorted(self.output.rglob("*.txt")) if self.output.exists() else []

    def documents(self) -> list[Document]:
        return [parse(path.read_text(encoding="utf-8")) for path in self.files()]

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        """Every file's bytes and modification time, to prove a re-run changed nothing."""
        return {
            str(p.relative_to(self.output)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in self.files()
        }


def scraper_command() -> list[str]:
    installed = shutil.which("scraper", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, "-m", "scraper"]


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the service's own settings, plus ``extra``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    environment.update(extra or {})
    return environment


def run_scraper(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*scraper_command(), *map(str, args)],
        cwd=cwd,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_scraper_with_peak_memory(
    *args: str | Path, cwd: Path, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], int]:
    """``run_scraper``, and the largest peak resident memory in KiB (Linux's ``VmHWM``)
    of the command's process and its descendants (the extraction fork server, the
    workers), read from /proc every 20 ms while they run. Not ``RUSAGE_CHILDREN``'s
    ``ru_maxrss``: that is the largest of every child the test run has had, and Linux
    carries it over exec(), so a child starts at the RSS the test run had at its fork."""
    command = [*scraper_command(), *map(str, args)]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks: dict[int, int] = {}
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            for pid in process_tree(process.pid):
                peaks[pid] = max(peaks.get(pid, 0), peak_resident_kib(pid) or 0)
            finished.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    finally:
        finished.set()
        watcher.join()
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return result, max(peaks.values(), default=0)
