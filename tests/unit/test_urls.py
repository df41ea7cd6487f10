from __future__ import annotations

import pytest

from scraper.urls import article_id, normalize_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://WWW.President.GOV.UA/en/news/a-1", "https://www.president.gov.ua/en/news/a-1"),
        ("https://x.gov:443/a", "https://x.gov/a"),
        ("http://x.gov:80/a", "http://x.gov/a"),
        ("https://x.gov/a#comments", "https://x.gov/a"),
        ("https://x.gov/a?utm_source=rss&utm_medium=feed&id=7", "https://x.gov/a?id=7"),
        ("https://x.gov/a?fbclid=abc&gclid=def", "https://x.gov/a"),
        ("https://x.gov/a?oc=5", "https://x.gov/a"),
        ("https://x.gov", "https://x.gov/"),
        ("  https://x.gov/a  ", "https://x.gov/a"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_meaningful_query_is_kept() -> None:
    assert normalize_url("https://x.gov/news.php?id=42") == "https://x.gov/news.php?id=42"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ftp://x.gov/a",
        "javascript:alert(1)",
        "/relative/path",
        "https://",
        "http://exa mple.com/x",
    ],
)
def test_not_http_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(bad)


def test_same_article_same_id_whatever_the_tracking() -> None:
    a = normalize_url("https://x.gov/a?utm_source=tw#top")
    b = normalize_url("https://X.gov/a")
    assert article_id(a) == article_id(b)
    assert len(article_id(a)) == 16 and article_id(a) == article_id(a).lower()
