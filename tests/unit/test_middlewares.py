from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse

from scraper.middlewares import HostMapMiddleware, retry_after_seconds


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after_seconds(b"120") == 120
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= (retry_after_seconds(format_datetime(soon, usegmt=True).encode()) or 0) <= 31
    assert retry_after_seconds(b"whenever") is None
    assert retry_after_seconds(None) is None


@pytest.fixture
def host_map() -> HostMapMiddleware:
    return HostMapMiddleware({"https://www.example.gov/": "http://127.0.0.1:8080"})


def test_mapped_request_is_fetched_elsewhere_and_answers_with_the_original_url(
    host_map: HostMapMiddleware,
) -> None:
    original = Request("https://www.example.gov/news/1?x=2", meta={"keep": 1})
    mapped = host_map.process_request(original)
    assert mapped is not None and mapped.url == "http://127.0.0.1:8080/news/1?x=2"
    assert mapped.meta["keep"] == 1
    assert host_map.process_request(mapped) is None  # not mapped twice
    response = HtmlResponse(mapped.url, body=b"<html></html>", request=mapped)
    back = host_map.process_response(mapped, response)
    assert back.url == "https://www.example.gov/news/1?x=2"


def test_other_hosts_and_lookalikes_are_untouched(host_map: HostMapMiddleware) -> None:
    assert host_map.process_request(Request("https://news.example.org/a")) is None
    assert host_map.process_request(Request("https://www.example.gov.evil.com/a")) is None


def test_meta_refresh_pages_are_redirected_and_other_pages_left_undecoded() -> None:
    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from scraper.middlewares import HeadMetaRefreshMiddleware

    crawler = get_crawler(Spider)
    crawler.spider = Spider("test")
    middleware = HeadMetaRefreshMiddleware.from_crawler(crawler)
    request = Request("https://www.example.gov/old")
    moved = HtmlResponse(
        request.url,
        body=b'<html><head><meta http-equiv="Refresh" content="0; url=/new"></head></html>',
        request=request,
    )
    redirected = middleware.process_response(request, moved)
    assert isinstance(redirected, Request) and redirected.url == "https://www.example.gov/new"

    article = b"<html><head><title>News</title></head><body>" + b"<p>text</p>" * 5000
    plain = HtmlResponse(request.url, body=article, request=request)
    assert middleware.process_response(request, plain) is plain
    assert getattr(plain, "_cached_ubody", None) is None  # the body was never decoded

    wide = "<html><head><meta http-equiv='refresh' content='0; url=/utf16'></head></html>"
    utf16 = HtmlResponse(
        request.url,
        body=wide.encode("utf-16"),
        headers={"Content-Type": "text/html; charset=utf-16"},
        request=request,
    )
    redirected = middleware.process_response(request, utf16)
    assert isinstance(redirected, Request) and redirected.url == "https://www.example.gov/utf16"
