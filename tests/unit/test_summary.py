from __future__ import annotations

import pytest

from scraper.summary import CrawlSummary


def test_counts_and_reasons_merge() -> None:
    a = CrawlSummary("a")
    a.add("discovered", 3)
    a.add("new")
    a.skip("no publication date")
    a.fail("article: HTTP 500", 2)
    b = CrawlSummary("b")
    b.add("discovered")
    b.fail("article: HTTP 500")
    b.note("feed: not modified since the last run (304)")
    a.merge(b)
    assert a.discovered == 4 and a.new == 1 and a.stored == 1
    assert a.failed["article: HTTP 500"] == 3
    data = a.as_dict()
    assert data["skipped"] == {"no publication date": 1} and data["source_id"] == "a"
    assert data["notes"] == {"feed: not modified since the last run (304)": 1}


def test_unknown_counter_is_an_error() -> None:
    with pytest.raises(KeyError):
        CrawlSummary("a").add("fetchd")
