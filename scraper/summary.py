"""Counts of one crawl, with the reason for every skip and failure."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

COUNTERS = ("discovered", "known", "fetched", "new", "updated", "unchanged")


@dataclass
class CrawlSummary:
    """Mutable, thread-safe tallies for one source's crawl.

    discovered: article URLs the channels listed (after de-duplication)
    known: already stored, so not fetched again
    fetched: article pages downloaded
    new / updated / unchanged: what storing the resulting documents did
    skipped / failed: reason -> count (a skip is expected, e.g. no date; a failure is not)
    notes: what a channel did that explains the counts ("feed not modified (304)")
    """

    source_id: str
    discovered: int = 0
    known: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str, n: int = 1) -> None:
        if counter not in COUNTERS:
            raise KeyError(counter)
        with self._lock:
            setattr(self, counter, getattr(self, counter) + n)

    def skip(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.skipped[reason] += n

    def fail(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.failed[reason] += n

    def note(self, text: str) -> None:
        with self._lock:
            self.notes[text] += 1

    @property
    def stored(self) -> int:
        return self.new + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        data["source_id"] = self.source_id
        data["skipped"] = dict(self.skipped)
        data["failed"] = dict(self.failed)
        data["notes"] = dict(self.notes)
        return data

    def merge(self, other: CrawlSummary) -> None:
        with self._lock:
            for name in COUNTERS:
                setattr(self, name, getattr(self, name) + getattr(other, name))
            self.skipped.update(other.skipped)
            self.failed.update(other.failed)
            self.notes.update(other.notes)
