"""Google News link resolution (scraper.gnews): id decoding and the batchexecute helpers."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from scraper.discovery import parse_gnews_feed
from scraper.gnews import (
    BATCHEXECUTE_PATH,
    DecodingParams,
    article_id_from_link,
    batchexecute_body,
    batchexecute_url,
    decode_article_id,
    is_current_article_id,
    legacy_redirect_target,
    parse_batchexecute_response,
    parse_signature_page,
    resolve_offline,
    search_feed_url,
    signature_page_url,
)
from spiders.gnews import usable_home

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gnews"


# --- building ids, the way Google does (our own encoder, for synthetic fixtures) -------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def make_article_id(url_or_token: str, amp_url: str | None = None, *, field_4: bool = True) -> str:
    """base64url(protobuf): field 1 = 19 (varint), field 4 = URL, optional field 26 = AMP."""
    message = bytes([0x08, 0x13])
    if field_4:
        message += _field(4, url_or_token.encode())
    if amp_url is not None:
        message += _field(26, amp_url.encode())
    return base64.urlsafe_b64encode(message).decode().rstrip("=")


def make_current_id(seed: str) -> str:
    return make_article_id("AU_yqL" + seed * 30)


# --- URLs ------------------------------------------------------------------------------


def test_search_feed_url_is_encoded_like_googles_own() -> None:
    url = search_feed_url(
        "https://news.google.com/", '"Bears Ears" monument', "en-US", "US", "US:en"
    )
    assert url == (
        "https://news.google.com/rss/search?q=%22Bears+Ears%22+monument&hl=en-US&gl=US&ceid=US:en"
    )
    url = search_feed_url(
        "http://127.0.0.1:8080", "site:president.gov.ua & more", "uk", "UA", "UA:uk"
    )
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "q": ["site:president.gov.ua & more"],
        "hl": ["uk"],
        "gl": ["UA"],
        "ceid": ["UA:uk"],
    }


def test_step_urls() -> None:
    assert signature_page_url("https://news.google.com/", "CBMiX") == (
        "https://news.google.com/rss/articles/CBMiX"
    )
    assert batchexecute_url("http://127.0.0.1:9") == "http://127.0.0.1:9" + BATCHEXECUTE_PATH


@pytest.mark.parametrize(
    ("link", "article_id"),
    [
        ("https://news.google.com/rss/articles/CBMiAbc_-1?oc=5", "CBMiAbc_-1"),
        ("https://news.google.com/__i/rss/rd/articles/CBMiXyz?oc=5", "CBMiXyz"),
        ("https://news.google.com/articles/CBMiQ", "CBMiQ"),
        ("https://news.google.com/read/CBMiR?hl=en", "CBMiR"),
        ("http://127.0.0.1:8000/rss/articles/CBMiLocal", "CBMiLocal"),
        ("https://news.google.com/topics/CAAqJggK", None),
        ("https://publisher.example/articles/", None),
        ("not a url", None),
    ],
)
def test_article_id_from_link(link: str, article_id: str | None) -> None:
    assert article_id_from_link(link) == article_id


def test_legacy_redirect_target() -> None:
    link = (
        "http://news.google.com/news/url?sa=t&fd=R&usg=AFQj&"
        "url=http://www.example.com/2011/06/29/business/29trade.html"
    )
    assert legacy_redirect_target(link) == "http://www.example.com/2011/06/29/business/29trade.html"
    assert legacy_redirect_target("http://news.google.com/news/url?sa=t&url=javascript:x") is None
    assert legacy_redirect_target("http://news.google.com/news/story?url=http://a.example/") is None


# --- offline decoding --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://short.example/a",  # 1-byte length
        "https://www.example.com/politics/" + "long-path-segment/" * 10 + "story.html",  # 2 bytes
        "https://www.example.com/" + "x" * 20000,  # 3-byte varint length
    ],
)
def test_decode_offline_ids(url: str) -> None:
    assert decode_article_id(make_article_id(url)) == url


def test_decode_prefers_the_canonical_url_over_the_amp_one() -> None:
    article = "https://www.example.com/story.html"
    amp = "https://www.example.com/story.html?outputType=amp"
    assert decode_article_id(make_article_id(article, amp)) == article
    assert decode_article_id(make_article_id("", amp, field_4=False)) == amp


def test_current_ids_are_not_decodable_offline() -> None:
    article_id = make_current_id("Q")
    assert decode_article_id(article_id) is None
    assert is_current_article_id(article_id)
    assert not is_current_article_id(make_article_id("https://short.example/a"))


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "!!!not base64!!!",
        "CBMi",  # header only
        make_article_id("https://short.example/a")[:-12],  # truncated inside the URL
        base64.urlsafe_b64encode(b"\x08\x13\x22\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").decode(),
        base64.urlsafe_b64encode(b"\x08\x13\x22\x05\xff\xfe\xfd\xfc\xfb").decode(),  # not UTF-8
        make_article_id("ftp://files.example/a"),
    ],
)
def test_junk_ids_decode_to_none(junk: str) -> None:
    assert decode_article_id(junk) is None
    assert not is_current_article_id(junk)


def test_resolve_offline() -> None:
    url = "https://www.example.com/story.html"
    assert (
        resolve_offline(f"https://news.google.com/rss/articles/{make_article_id(url)}?oc=5") == url
    )
    assert resolve_offline(f"http://news.google.com/news/url?sa=t&url={url}") == url
    assert (
        resolve_offline("https://publisher.example/direct-link")
        == "https://publisher.example/direct-link"
    )
    assert resolve_offline(f"https://news.google.com/rss/articles/{make_current_id('Z')}") is None
    assert resolve_offline("https://news.google.com/stories/abc") is None


# --- the online flow's helpers ---------------------------------------------------------------


def test_signature_page() -> None:
    html = (FIXTURES / "article_page.html").read_text()
    page = html.replace("{id}", "CBMiX").replace("{ts}", "1700000000").replace("{sig}", "AV_sig-1")
    assert parse_signature_page(page.encode()) == DecodingParams("AV_sig-1", 1700000000)


@pytest.mark.parametrize(
    "page",
    [
        (FIXTURES / "article_page_without_signature.html").read_bytes(),
        b"",
        b"\x00\x01garbage",
        b'<div data-n-a-sg="sig" data-n-a-ts="not-a-number"></div>',
        b'<div data-n-a-sg="" data-n-a-ts="17"></div>',
    ],
)
def test_pages_without_a_usable_signature(page: bytes) -> None:
    assert parse_signature_page(page) is None


def test_batchexecute_body() -> None:
    body = batchexecute_body("CBMiX", DecodingParams("AV_sig", 1700000000))
    form = parse_qs(body.decode("ascii"), strict_parsing=True)
    assert list(form) == ["f.req"]
    ((call,),) = json.loads(form["f.req"][0])
    assert call[0] == "Fbv4je" and call[2] is None and call[3] == "generic"
    inner = json.loads(call[1])
    assert inner[0] == "garturlreq"
    assert inner[1][0][7] == "US:en" and len(inner[1]) == 12
    assert inner[2:] == ["CBMiX", 1700000000, "AV_sig"]


def test_batchexecute_response() -> None:
    body = (FIXTURES / "batchexecute_response.txt").read_bytes()
    assert parse_batchexecute_response(body) == (
        "https://herald.example/2023/11/14/harbour-bridge-opens.html"
    )
    chunked = (FIXTURES / "batchexecute_chunked.txt").read_bytes()
    assert (
        parse_batchexecute_response(chunked) == "https://daily.example/politics/budget-vote?src=gn"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b")]}'",
        b")]}'\n\nnot json",
        b'\xff\xfe)]}\'\n\n[["wrb.fr"]]',
        b')]}\'\n\n[["wrb.fr","Fbv4je",null,null,null,[3],"generic"]]',  # an error answer
        b')]}\'\n\n[["wrb.fr","OtherRpc","[\\"garturlres\\",\\"https://a.example/\\",1]"]]',
        b')]}\'\n\n[["wrb.fr","Fbv4je","[\\"garturlres\\",\\"javascript:alert(1)\\",1]"]]',
        b')]}\'\n\n[["wrb.fr","Fbv4je","{broken"]]',
        b"[" * 10000,
        # Past Python's limit on an integer's digits: a plain ValueError, which ended
        # the channel's resolution chain and lost every item after it.
        b")]}'\n\n[" + b"9" * 5000 + b"]",
        b')]}\'\n\n[["wrb.fr","Fbv4je","[' + b"9" * 5000 + b']"]]',
    ],
)
def test_batchexecute_junk_gives_none(body: bytes) -> None:
    assert parse_batchexecute_response(body) is None


# --- the real captures ----------------------------------------------------------------------------


@pytest.mark.corpus
def test_corpus_2011_redirect_links_resolve_offline(corpus: Path) -> None:
    body = (corpus / "feeds/googlenews__legacy_congress_2011.xml").read_bytes()
    items = parse_gnews_feed(body, "http://news.google.com/news?output=rss")
    urls = [resolve_offline(item.link) for item in items]
    assert all(u and u.startswith("http") and "news.google.com" not in u for u in urls)
    assert urls[0] == "http://www.nytimes.com/2011/06/29/business/29trade.html"


@pytest.mark.corpus
def test_corpus_2019_ids_decode_offline(corpus: Path) -> None:
    body = (corpus / "feeds/googlenews__topstories_en-US_2019-11.xml").read_bytes()
    items = parse_gnews_feed(body, "https://news.google.com/rss")
    urls = [resolve_offline(item.link) for item in items]
    assert all(u and u.startswith("http") and "google" not in u for u in urls)
    assert urls[0] == (
        "https://www.washingtonpost.com/politics/impeachment-hearings-live-updates/"
        "2019/11/14/703b27da-0660-11ea-8292-c46ee8cb3dce_story.html"
    )
    # The publisher named by <source> is the host the id decodes to, for most items.
    same_host = [
        u
        for u, i in zip(urls, items, strict=True)
        if i.publisher_url and urlsplit(i.publisher_url).hostname == urlsplit(u or "").hostname
    ]
    assert len(same_host) >= len(items) // 2


@pytest.mark.corpus
def test_corpus_2026_ids_need_the_online_flow(corpus: Path) -> None:
    body = (corpus / "feeds/googlenews__search_bears-ears_2026-07.xml").read_bytes()
    items = parse_gnews_feed(body, "https://news.google.com/rss/search")
    ids = [article_id_from_link(item.link) for item in items]
    assert all(ids)
    assert all(resolve_offline(item.link) is None for item in items)
    assert all(is_current_article_id(i or "") for i in ids)


@pytest.mark.parametrize(
    ("named", "expected"),
    [
        ("https://pub.example", "https://pub.example"),
        (" http://pub.example/news ", "http://pub.example/news"),
        ("javascript:alert(1)", None),
        ("ftp://pub.example/", None),
        ("http://[::1", None),
        ("/relative/home", None),
        (None, None),
    ],
)
def test_only_an_absolute_http_url_is_taken_for_the_publishers_home(
    named: str | None, expected: str | None
) -> None:
    # It becomes the record's "Origem" link (the article's own host otherwise).
    assert usable_home(named) == expected
