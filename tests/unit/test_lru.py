"""BoundedCache: an LRU mapping with a fixed capacity and an eviction counter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.lru import BoundedCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache["a"] == 1  # "a" is now newer than "b"
    cache["c"] = 3

    assert "b" not in cache
    assert dict(cache) == {"a": 1, "c": 3}
    assert len(cache) == 2 and cache.evictions == 1


def test_get_counts_as_a_use_and_contains_does_not() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.get("a") == 1
    cache["c"] = 3
    assert "a" in cache and "b" not in cache

    assert "a" in cache  # not a use: "a" stays the oldest
    cache["d"] = 4
    assert list(cache) == ["c", "d"] and cache.evictions == 2


def test_updating_a_key_marks_it_used_without_evicting() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 10
    assert cache.evictions == 0 and len(cache) == 2
    cache["c"] = 3

    assert dict(cache) == {"a": 10, "c": 3}


def test_get_and_pop_with_and_without_defaults() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    cache["a"] = 1
    cache["b"] = 2

    assert cache.get("missing") is None
    assert cache.get("missing", 0) == 0
    assert cache.pop("a") == 1
    assert cache.pop("a", -1) == -1
    with pytest.raises(KeyError):
        cache.pop("a")
    with pytest.raises(KeyError):
        cache["a"]
    del cache["b"]
    assert len(cache) == 0 and cache.evictions == 0  # removals are not evictions


def test_mapping_helpers_work() -> None:
    cache: BoundedCache[int, str] = BoundedCache(2)
    cache.update({1: "one", 2: "two", 3: "three"})
    assert cache.setdefault(3, "x") == "three"
    assert dict(cache.items()) == {2: "two", 3: "three"}
    assert cache.evictions == 1
    cache.clear()
    assert len(cache) == 0
    assert "capacity=2" in repr(cache)


@pytest.mark.parametrize("capacity", [0, -1])
def test_a_capacity_below_one_is_refused(capacity: int) -> None:
    with pytest.raises(ValueError):
        BoundedCache(capacity)


@given(
    capacity=st.integers(1, 8),
    operations=st.lists(st.tuples(st.sampled_from("sgp"), st.integers(0, 12)), max_size=200),
)
def test_behaves_like_a_reference_lru(capacity: int, operations: list[tuple[str, int]]) -> None:
    cache: BoundedCache[int, int] = BoundedCache(capacity)
    model: list[tuple[int, int]] = []  # least recently used first
    evictions = 0
    for op, key in operations:
        found = [pair for pair in model if pair[0] == key]
        if op == "s":
            model = [pair for pair in model if pair[0] != key] + [(key, key * 7)]
            if len(model) > capacity:
                model.pop(0)
                evictions += 1
            cache[key] = key * 7
        elif op == "g":
            if found:
                model = [pair for pair in model if pair[0] != key] + found
            assert cache.get(key) == (found[0][1] if found else None)
        else:
            model = [pair for pair in model if pair[0] != key]
            assert cache.pop(key, None) == (found[0][1] if found else None)
        assert list(cache.items()) == model
        assert len(cache) <= capacity
    assert cache.evictions == evictions
