from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.urls import (
    TRACKING_KEYS,
    article_id,
    identity,
    is_tracking_key,
    legacy_identity,
    listed_url,
    normalize_url,
    same_site,
)

# Fourteen different articles told apart only by their query or path parameters: the
# rule before issue 8 stored them under 10 identities (4 articles overwritten).
DISTINCT_ARTICLES = [
    "https://x.gov/spip.php?article101",
    "https://x.gov/spip.php?article102",
    "https://x.gov/?article103",
    "https://x.gov/news.php?1001",
    "https://x.gov/news.php?1002",
    "https://x.gov/mnews.asp?pk_no=2001",
    "https://x.gov/mnews.asp?pk_no=2002",
    "https://x.gov/ref.php?ref=3001",
    "https://x.gov/show?source=4001",
    "https://x.gov/show?source=4002",
    "https://x.gov/a;id=5",
    "https://x.gov/a;id=6",
    "https://x.gov/item.jsp?oc=9",
    "https://x.gov/lire.php?n=12&lang=pt",
]


@pytest.mark.parametrize("url", DISTINCT_ARTICLES)
def test_every_parameter_that_may_name_an_article_stays(url: str) -> None:
    assert identity(url) == url
    assert identity(identity(url)) == identity(url)  # a fixed point


def test_fourteen_articles_keep_fourteen_identities() -> None:
    assert len({identity(u) for u in DISTINCT_ARTICLES}) == 14
    assert len({article_id(identity(u)) for u in DISTINCT_ARTICLES}) == 14
    # What issue 8 is about: the old rule made 10 of them.
    assert len({legacy_identity(u) for u in DISTINCT_ARTICLES}) == 10


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://WWW.President.GOV.UA/en/news/a-1", "https://www.president.gov.ua/en/news/a-1"),
        ("https://x.gov:443/a", "https://x.gov/a"),
        ("http://x.gov:80/a", "http://x.gov/a"),
        ("http://x.gov:8080/a", "http://x.gov:8080/a"),
        ("https://x.gov:/a", "https://x.gov/a"),
        ("https://x.gov", "https://x.gov/"),
        ("https://x.gov?article1", "https://x.gov/?article1"),
        ("  https://x.gov/a  ", "https://x.gov/a"),
        ("https://x.gov/a#comments", "https://x.gov/a"),
        ("https://x.gov/spip.php?article101#forum", "https://x.gov/spip.php?article101"),
        ("https://x.gov/a?", "https://x.gov/a"),
        ("http://[2001:DB8::1]:80/a", "http://[2001:db8::1]/a"),
        # The path is not the host: its case stays.
        ("https://x.gov/News/Item-7", "https://x.gov/News/Item-7"),
    ],
)
def test_scheme_host_port_and_fragment(raw: str, expected: str) -> None:
    assert identity(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://x.gov/a?utm_source=rss&utm_medium=feed&id=7", "https://x.gov/a?id=7"),
        ("https://x.gov/a?id=7&UTM_Campaign=x", "https://x.gov/a?id=7"),
        ("https://x.gov/a?fbclid=abc&gclid=def", "https://x.gov/a"),
        ("https://x.gov/a?_ga=1&_gl=2&yclid=3&igshid=4&mc_cid=5&mc_eid=6", "https://x.gov/a"),
        ("https://x.gov/a?dclid=1&msclkid=2&ocid=3&cmpid=4&smid=5&at_medium=6", "https://x.gov/a"),
        ("https://x.gov/spip.php?article101&utm_source=x", "https://x.gov/spip.php?article101"),
        ("https://x.gov/spip.php?utm_source=x&article101", "https://x.gov/spip.php?article101"),
        ("https://x.gov/a?utm_source", "https://x.gov/a"),  # a bare tracking key too
        ("https://x.gov/a?utm%5Fsource=x&b=1", "https://x.gov/a?b=1"),  # escaped spelling
        ("https://x.gov/a?b=1&&c=2&", "https://x.gov/a?b=1&c=2"),  # empty pieces
    ],
)
def test_only_tracking_parameters_go(raw: str, expected: str) -> None:
    assert identity(raw) == expected


@pytest.mark.parametrize("key", ["ref", "source", "id", "oc", "ito", "pk_no", "page", "lang"])
def test_keys_that_may_name_content_are_not_tracking(key: str) -> None:
    assert not is_tracking_key(key)
    assert identity(f"https://x.gov/a?{key}=1") == f"https://x.gov/a?{key}=1"


def test_tracking_list_is_short_and_lower_case() -> None:
    assert len(TRACKING_KEYS) <= 20
    assert all(key == key.lower() for key in TRACKING_KEYS)


@pytest.mark.parametrize(
    "url",
    [
        "https://x.gov/list?b=2&a=1",  # order as listed, never sorted
        "https://x.gov/list?a=1&b=2",
        "https://x.gov/p?id=1&id=2",  # repeated keys stay, in order
        "https://x.gov/p?id=2&id=1",
        "https://x.gov/p?A=1&a=2",  # key case stays
        "https://x.gov/news.php?1001",  # a bare key stays bare, never "1001="
        "https://x.gov/news.php?1001=",  # ... and an empty value stays
        "https://x.gov/p?q=a+b",  # "+" and "%20" as given
        "https://x.gov/p?q=a%20b",
        "https://x.gov/p?x=1;y=2",  # ";" inside the query is not a separator here
        "https://x.gov/a/../b/./c",  # dot segments and doubled slashes as given
        "https://x.gov//a//b",
        "https://x.gov/a;id=5/b;v=2",  # path parameters stay
        "https://x.gov/%D1%81%D1%82",
    ],
)
def test_spelling_and_order_are_kept(url: str) -> None:
    assert identity(url) == url


def test_orders_are_different_identities() -> None:
    assert identity("https://x.gov/l?b=2&a=1") != identity("https://x.gov/l?a=1&b=2")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://x.gov/a%2fb?x=%7e", "https://x.gov/a%2Fb?x=%7E"),  # hex case only
        (
            "https://x.gov/новини?q=привіт",
            "https://x.gov/%D0%BD%D0%BE%D0%B2%D0%B8%D0%BD%D0%B8"
            "?q=%D0%BF%D1%80%D0%B8%D0%B2%D1%96%D1%82",
        ),
        ("https://x.gov/a b?c=d e", "https://x.gov/a%20b?c=d%20e"),
        ("https://x.gov/a;jsessionid=0AB12?id=1", "https://x.gov/a?id=1"),
        ("https://x.gov/a;JSESSIONID=0AB12;v=2", "https://x.gov/a;v=2"),
    ],
)
def test_escapes_and_session_ids(raw: str, expected: str) -> None:
    assert identity(raw) == expected


@pytest.mark.parametrize(
    ("raw", "listed", "expected"),
    [
        (
            "https://x.gov/lire.php?n=12&amp;lang=pt",
            "https://x.gov/lire.php?n=12&lang=pt",
            "https://x.gov/lire.php?n=12&lang=pt",
        ),
        (
            "https://x.gov/lire.php?n=12&amp;amp;lang=pt",  # escaped twice over
            "https://x.gov/lire.php?n=12&lang=pt",
            "https://x.gov/lire.php?n=12&lang=pt",
        ),
        (
            "https://x.gov/a?x=1&#38;y=2&#x26;z=3",
            "https://x.gov/a?x=1&y=2&z=3",
            "https://x.gov/a?x=1&y=2&z=3",
        ),
        (  # "&para=" is a parameter, not the entity "&para;" (no semicolon)
            "https://x.gov/a?x=1&para=2",
            "https://x.gov/a?x=1&para=2",
            "https://x.gov/a?x=1&para=2",
        ),
        (
            "https://x.gov/a?utm_source=rss&amp;id=7#top",
            "https://x.gov/a?utm_source=rss&id=7#top",
            "https://x.gov/a?id=7",
        ),
        (
            "\n https://x.gov/very/long\n/link?id=1\t",  # wrapped by a feed
            "https://x.gov/very/long/link?id=1",
            "https://x.gov/very/long/link?id=1",
        ),
    ],
)
def test_listed_url_decodes_entities(raw: str, listed: str, expected: str) -> None:
    assert listed_url(raw) == listed
    assert identity(raw) == expected


def test_listed_url_keeps_everything_else() -> None:
    raw = "HTTPS://X.gov:443/A?utm_source=x&b=2&a=1#frag"
    assert listed_url(raw) == raw


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ftp://x.gov/a",
        "javascript:alert(1)",
        "/relative/path",
        "https://",
        "http://exa mple.com/x",
        "http://exa\x00mple.com/x",
        "http://exa\x1bmple.com/x",
        "http://exa\x7fmple.com/x",
        "http://x.gov:port/a",
        "http://[::1/a",
    ],
)
def test_not_http_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        identity(bad)
    with pytest.raises(ValueError):
        listed_url(bad)


def test_normalize_url_is_the_identity() -> None:
    assert normalize_url is identity


def test_same_article_same_id_whatever_the_tracking() -> None:
    a = identity("https://x.gov/a?utm_source=tw#top")
    b = identity("https://X.gov/a")
    assert article_id(a) == article_id(b)
    assert len(article_id(a)) == 16 and article_id(a) == article_id(a).lower()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://www.x.gov/a", "http://x.gov/b", True),
        ("https://X.gov/a", "https://x.gov:8443/b", True),
        ("https://news.x.gov/a", "https://x.gov/a", False),
        ("https://x.gov/a", "https://y.gov/a", False),
        ("not a url", "not a url", False),
    ],
)
def test_same_site(a: str, b: str, same: bool) -> None:
    assert same_site(a, b) is same


def test_legacy_identity_is_the_rule_before_issue_8() -> None:
    assert legacy_identity("https://x.gov/show?source=4001&b=2&a=1") == "https://x.gov/show?a=1&b=2"
    assert legacy_identity("https://x.gov/a?oc=5&id=1") == "https://x.gov/a?id=1"
    with pytest.raises(ValueError):
        legacy_identity("ftp://x.gov/a")


_PIECE = st.lists(
    st.sampled_from([*"abcXYZ019-._~%2fF;=+&?#:@!$'()*,/ äщ<>\"", "&amp;", "utm_x=1"]),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(path=_PIECE, query=_PIECE, fragment=_PIECE)
def test_identity_is_idempotent(path: str, query: str, fragment: str) -> None:
    url = f"https://X.gov/{path}?{query}#{fragment}"
    try:
        first = identity(url)
    except ValueError:
        return
    assert identity(first) == first
    assert "#" not in first and " " not in first
