"""The config folder of a long-running process: loaded, watched, reloaded.

A valid change is applied without a restart (the caller decides what applying means: the
daemon reschedules, a fleet worker swaps its source table). Invalid settings refuse the
whole reload with one line per problem and the running config stays. An invalid source
file never stops the others: it is reported (log, /healthz, /metrics), and a source that
was running when its file became invalid keeps its last good config.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scraper.config import (
    ConfigError,
    Settings,
    Source,
    SourcesLoad,
    load_settings,
    load_sources_report,
)
from scraper.metrics import DaemonMetrics
from scraper.schedule import SourceChanges

CONFIG_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class ConfigLocation:
    """Where the config lives and the command-line overrides applied on every load."""

    folder: Path
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # The command-line flag of each override, named in its errors ("--database").
    flags: Mapping[str, str] = field(default_factory=dict)

    def load(self) -> tuple[Settings, SourcesLoad]:
        """Settings and sources; ConfigError (one line per problem) when the settings are
        invalid or the sources folder is missing. Invalid source files are in the result."""
        settings = load_settings(self.folder, flags=self.flags, **dict(self.overrides))
        return settings, load_sources_report(self.folder)

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Names, mtimes and sizes of the config files: changes when any file does."""
        paths = [self.folder / "settings.yaml"]
        sources = self.folder / "sources"
        if sources.is_dir():
            paths += sorted([*sources.glob("*.yaml"), *sources.glob("*.yml")])
        entries = []
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(entries)


def changed_settings(old: Settings, new: Settings) -> list[str]:
    return [name for name in Settings.model_fields if getattr(old, name) != getattr(new, name)]


def now_local() -> datetime:
    return datetime.now().astimezone()


# Applies a reloaded set of sources (valid ones, plus running ones kept with their last
# good config) and says what changed.
Applier = Callable[[dict[str, Source]], SourceChanges]


class LiveConfig:
    """The running config of a process and its reloads."""

    def __init__(
        self,
        location: ConfigLocation,
        settings: Settings,
        sources: Mapping[str, Source],
        metrics: DaemonMetrics,
        logger: logging.Logger,
        invalid_sources: Mapping[Path, list[str]] | None = None,
        process: str = "daemon",
    ) -> None:
        self.location = location
        self.settings = settings
        self.sources: dict[str, Source] = dict(sources)
        self.metrics = metrics
        self.log = logger
        self.process = process  # named in "take effect when the <process> restarts"
        # Source files that failed validation (path -> one line per problem).
        self.invalid_sources: dict[str, list[str]] = {}
        self.last_reload: datetime | None = None
        self.last_reload_error: str | None = None
        self.set_invalid(invalid_sources or {})
        self._fingerprint = location.fingerprint()
        self._lock = asyncio.Lock()

    async def changed(self) -> bool:
        """True when a config file changed since the last (re)load."""
        fingerprint = await asyncio.to_thread(self.location.fingerprint)
        return fingerprint != self._fingerprint

    async def reload(self, reason: str, apply: Applier) -> SourceChanges | None:
        """Load the config again and ``apply`` it; refuse it (keeping the running config)
        when it is invalid. Returns what changed, or None when refused."""
        async with self._lock:
            self._fingerprint = await asyncio.to_thread(self.location.fingerprint)
            try:
                settings, loaded = await asyncio.to_thread(self.location.load)
            except ConfigError as exc:
                self.last_reload_error = str(exc)
                self.metrics.reloads.labels("refused").inc()
                for problem in str(exc).splitlines():
                    self.log.error("config reload refused, the running config stays: %s", problem)
                return None
            self.last_reload, self.last_reload_error = now_local(), None
            self.metrics.reloads.labels("applied").inc()
            # A running source whose file became invalid runs on with its last good config.
            kept = {
                path.stem: self.sources[path.stem]
                for path in loaded.invalid
                if path.stem in self.sources and path.stem not in loaded.sources
            }
            self.set_invalid(loaded.invalid)
            self.log_invalid(kept)
            changes = apply({**loaded.sources, **kept})
            restart = changed_settings(self.settings, settings)
            if restart:
                self.log.warning(
                    "settings changed (%s): they take effect when the %s restarts",
                    ", ".join(restart),
                    self.process,
                )
            self.log.info("config reloaded (%s): %s", reason, changes.describe())
            return changes

    async def watch(self, every: float, apply: Applier) -> None:
        """Reload whenever a config file changes, checked every ``every`` seconds."""
        while True:
            await asyncio.sleep(every)
            if await self.changed():
                await self.reload("config files changed", apply)

    def set_invalid(self, invalid: Mapping[Path, list[str]]) -> None:
        self.invalid_sources = {str(path): list(problems) for path, problems in invalid.items()}
        self.metrics.invalid_source_files.set(len(invalid))

    def log_invalid(self, kept: Collection[str]) -> None:
        for path, problems in self.invalid_sources.items():
            source_id = Path(path).stem
            what = "runs on with its last good config" if source_id in kept else "not scheduled"
            for problem in problems:
                self.log.error(
                    "invalid source file: %s (%s %s)",
                    problem,
                    source_id,
                    what,
                    extra={"source": source_id},
                )

    def health(self) -> dict[str, Any]:
        """The ``config`` part of /healthz."""
        return {
            "last_reload": iso(self.last_reload),
            "last_reload_error": self.last_reload_error,
            "invalid_sources": self.invalid_sources,
        }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
