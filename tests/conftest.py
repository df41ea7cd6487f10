"""Shared fixtures: where the shared reference material lives, and skipping without it."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
RECORD = SHARED / "format" / "000_27fad4cbe759321a.txt"
CORPUS = SHARED / "corpus"


@pytest.fixture
def record_text() -> str:
    """The real record of the system this project replaces (skips when absent)."""
    if not RECORD.is_file():
        pytest.skip(f"{RECORD} is absent")
    return RECORD.read_text(encoding="utf-8")


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent")
    return CORPUS
