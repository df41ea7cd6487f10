"""A mapping that holds at most ``capacity`` entries, dropping the least recently used.

The daemon runs for weeks; its in-memory caches (redirects, Google News ids, feed
validators) must not grow with every URL it ever saw. A dropped entry only
costs a fetch or a database read later, so forgetting the oldest is safe.

    cache: BoundedCache[str, str] = BoundedCache(10_000)
    cache["a"] = "x"          # insert, or update and mark as used
    cache.get("a")            # a read marks the entry as used too
    len(cache), cache.evictions

Reads and writes both count as a use; ``in``, iteration and the views do not. Not thread-safe (one
event loop uses it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import ItemsView, Iterator, MutableMapping, ValuesView
from typing import TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

_MISSING = object()


class BoundedCache(MutableMapping[K, V]):
    """An LRU mapping of at most ``capacity`` entries; ``evictions`` counts the dropped."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self.evictions = 0
        self._data: OrderedDict[K, V] = OrderedDict()  # least recently used first

    def __getitem__(self, key: K) -> V:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)
            self.evictions += 1

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data  # a membership test is not a use

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)  # least recently used first

    def __len__(self) -> int:
        return len(self._data)

    # Views over the entries as they are: looking through them is not a use (and the
    # inherited ones would reorder the entries while iterating them).
    def items(self) -> ItemsView[K, V]:
        return self._data.items()

    def values(self) -> ValuesView[V]:
        return self._data.values()

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, /, default: V | D) -> V | D: ...
    def get(self, key: K, /, default: object = None) -> object:
        if key not in self._data:
            return default
        return self[key]

    @overload
    def pop(self, key: K, /) -> V: ...
    @overload
    def pop(self, key: K, /, default: V | D) -> V | D: ...
    def pop(self, key: K, /, default: object = _MISSING) -> object:
        if default is _MISSING:
            return self._data.pop(key)
        return self._data.pop(key, default)

    def clear(self) -> None:
        self._data.clear()

    def __repr__(self) -> str:
        return (
            f"BoundedCache(capacity={self.capacity}, size={len(self)}, evictions={self.evictions})"
        )
