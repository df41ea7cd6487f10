"""Giving free heap memory back to the system (scraper.memory)."""

from __future__ import annotations

import sys

import pytest

from scraper import memory
from scraper.config import Settings
from scraper.crawl import scrapy_settings


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_trim_heap_trims_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_last_trim", 0.0)
    assert memory.trim_heap() is True
    assert memory.trim_heap(min_interval=3600) is False  # trimmed a moment ago
    assert memory.trim_heap() is True  # no interval asked: always


def test_trim_heap_does_nothing_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_loaded", True)
    monkeypatch.setattr(memory, "_trim", None)
    assert memory.trim_heap() is False


def test_scrapy_starts_one_item_task_per_response() -> None:
    # An article's response yields one page; pages run in parallel across responses.
    assert scrapy_settings(Settings())["CONCURRENT_ITEMS"] == 1
