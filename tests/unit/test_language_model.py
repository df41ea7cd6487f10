"""The language model's uncompressed cache: same guesses, mapped tables, safe fallbacks."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from scraper.language_model import (
    cache_folder,
    cache_root,
    load_identifier,
    published_model,
    read_published,
    write_cached,
)

TEXTS = [
    "The minister announced a new budget for public schools on Tuesday.",
    "O ministério anunciou nesta terça-feira um novo orçamento para as escolas.",
    "Министерство объявило о новом бюджете для государственных школ.",
    "교육부는 화요일 공립학교를 위한 새 예산을 발표했다.",
    "政府は火曜日、公立学校の新しい予算を発表した。",
    "Regjeringen la fram et nytt budsjett for skolene tirsdag.",
    "x",
    "",
]


@pytest.fixture(scope="module")
def published() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def guesses(identifier: LanguageIdentifier) -> list[tuple[str, float]]:
    return [identifier.classify(text) for text in TEXTS]


def mapped(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, mmap.mmap)


def test_the_first_load_fills_the_cache_and_the_next_maps_it(
    tmp_path: Path, published: LanguageIdentifier
) -> None:
    first = load_identifier(tmp_path)
    folder = cache_folder(published_model(), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["nextmove.npy", "ptc.npy", "tables.npz"]
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary left
    assert not mapped(first.nb_ptc)  # decompressed from the published model

    second = load_identifier(tmp_path)
    assert mapped(second.nb_ptc)
    assert isinstance(second.tk_nextmove, memoryview) and second.tk_nextmove.readonly
    assert guesses(first) == guesses(published)
    assert guesses(second) == guesses(published)


def test_a_damaged_cache_falls_back_to_the_published_model_and_is_replaced(
    tmp_path: Path, published: LanguageIdentifier, caplog: pytest.LogCaptureFixture
) -> None:
    load_identifier(tmp_path)
    table = cache_folder(published_model(), tmp_path) / "nextmove.npy"
    table.write_bytes(table.read_bytes()[:1000])  # a copy cut short

    identifier = load_identifier(tmp_path)
    assert not mapped(identifier.nb_ptc)
    assert guesses(identifier) == guesses(published)
    assert "language model cache" in caplog.text and "unusable" in caplog.text
    # ... and put a whole copy in its place for the next start.
    assert mapped(load_identifier(tmp_path).nb_ptc)
    assert [p.name for p in tmp_path.iterdir()] == [table.parent.name]


def test_a_copy_another_process_just_wrote_is_left_in_place(tmp_path: Path) -> None:
    load_identifier(tmp_path)
    folder = cache_folder(published_model(), tmp_path)
    inode = folder.stat().st_ino
    # A start that found no copy writes its own, after another start wrote one.
    write_cached(folder, read_published(published_model()))
    assert folder.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert mapped(load_identifier(tmp_path).nb_ptc)


def test_without_a_writable_cache_the_published_model_is_used(
    tmp_path: Path, published: LanguageIdentifier
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    identifier = load_identifier(blocked / "scraper")
    assert guesses(identifier) == guesses(published)
    assert blocked.read_text() == "not a folder"


def test_the_cache_lives_where_xdg_says(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "scraper"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, per XDG
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "scraper"
