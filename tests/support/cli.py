"""Running the ``scraper`` command as a user would: a subprocess with a config folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scraper.document import Document, parse


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


def run_scraper(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    environment.update(env or {})
    return subprocess.run(
        [*scraper_command(), *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
