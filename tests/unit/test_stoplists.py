"""jusText's stop lists from the user's cache: the same words, damaged copies rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
from trafilatura import external

from scraper import trafilatura_speedups
from scraper.stoplists import all_stopwords, cached_path


def jt_stoplist_init() -> tuple[str, ...]:
    """trafilatura's own gathering, without leaving its tuple in trafilatura's global
    (where the installed speed-ups keep a set for the other tests)."""
    kept = external.JT_STOPLIST
    try:
        return tuple(external.jt_stoplist_init())
    finally:
        external.JT_STOPLIST = kept


@pytest.fixture(scope="module")
def published() -> frozenset[str]:
    return frozenset(jt_stoplist_init())


def refuse() -> list[str]:
    raise AssertionError("gathered again instead of reading the cache")


def test_the_first_call_fills_the_cache_and_the_next_reads_it(
    tmp_path: Path, published: frozenset[str]
) -> None:
    first = all_stopwords(jt_stoplist_init, tmp_path)
    path = cached_path(tmp_path)
    assert path is not None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    assert first == published

    second = all_stopwords(refuse, tmp_path)
    assert second == published
    assert len(second) == len(published) > 100_000


def test_words_with_unusual_characters_survive_the_round_trip(tmp_path: Path) -> None:
    words = ["", "naïve", "a b", "tab\there", "\u2028", "zero\x0bwidth", "日本"]
    assert all_stopwords(lambda: words, tmp_path) == frozenset(words)
    assert all_stopwords(refuse, tmp_path) == frozenset(words)


def test_a_copy_cut_short_is_rebuilt(tmp_path: Path, published: frozenset[str]) -> None:
    all_stopwords(jt_stoplist_init, tmp_path)
    path = cached_path(tmp_path)
    assert path is not None
    path.write_bytes(path.read_bytes()[:50_000])

    assert all_stopwords(jt_stoplist_init, tmp_path) == published
    assert all_stopwords(refuse, tmp_path) == published  # the rebuilt copy is whole


def test_a_copy_that_is_not_text_is_rebuilt(tmp_path: Path, published: frozenset[str]) -> None:
    all_stopwords(jt_stoplist_init, tmp_path)
    path = cached_path(tmp_path)
    assert path is not None
    path.write_bytes(b"\xff\xfe not utf-8")

    assert all_stopwords(jt_stoplist_init, tmp_path) == published
    assert all_stopwords(refuse, tmp_path) == published


def test_an_unwritable_cache_still_gives_the_words(
    tmp_path: Path, published: frozenset[str]
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")

    assert all_stopwords(jt_stoplist_init, blocked / "scraper") == published
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_the_copy_is_named_after_the_stop_lists_and_versions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import justext
    import trafilatura

    package = tmp_path / "justext"
    (package / "stoplists").mkdir(parents=True)
    (package / "stoplists" / "English.txt").write_text("the\nof\n")
    monkeypatch.setattr(justext, "__file__", str(package / "__init__.py"))
    cache = tmp_path / "cache"
    named = cached_path(cache)
    assert named is not None and named.parent == cache
    assert named.name.startswith("justext-stoplists-") and named.name.endswith(".txt")
    assert cached_path(cache) == named  # the same lists, the same name

    (package / "stoplists" / "English.txt").write_text("the\nof\nand\n")
    changed_list = cached_path(cache)
    monkeypatch.setattr(trafilatura, "__version__", "0.0.1")
    changed_version = cached_path(cache)
    assert len({named, changed_list, changed_version}) == 3


def test_no_words_and_an_empty_word_are_told_apart(tmp_path: Path) -> None:
    assert all_stopwords(lambda: [], tmp_path / "none") == frozenset()
    assert all_stopwords(refuse, tmp_path / "none") == frozenset()
    assert all_stopwords(lambda: [""], tmp_path / "empty") == frozenset([""])
    assert all_stopwords(refuse, tmp_path / "empty") == frozenset([""])


def test_a_copy_without_its_last_line_break_is_rebuilt(
    tmp_path: Path, published: frozenset[str]
) -> None:
    all_stopwords(jt_stoplist_init, tmp_path)
    path = cached_path(tmp_path)
    assert path is not None
    path.write_bytes(path.read_bytes()[:-1])  # the last word without its line break

    assert all_stopwords(jt_stoplist_init, tmp_path) == published
    assert all_stopwords(refuse, tmp_path) == published


def test_trafilatura_hands_jus_text_the_published_words(published: frozenset[str]) -> None:
    assert trafilatura_speedups.install()
    assert isinstance(external.JT_STOPLIST, frozenset)
    assert published == external.JT_STOPLIST
