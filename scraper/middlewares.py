"""Scrapy downloader middlewares of the service.

- HostMapMiddleware fetches configured origins from another origin (a mirror, or a local
  server in tests) while every URL the rest of the crawl sees stays the original one.
- BackoffRetryMiddleware retries 429/5xx and network errors like Scrapy's RetryMiddleware,
  but waits before each retry (Retry-After when given, else exponential backoff), so a
  struggling server is not hammered.
- HeadMetaRefreshMiddleware is Scrapy's MetaRefreshMiddleware without decoding every
  page to look for a refresh tag it rarely has.
"""

from __future__ import annotations

import asyncio
import random
from email.utils import parsedate_to_datetime
from typing import Any, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, Response

_ORIGINAL_URL = "host_map_original_url"


def _strip_slash(origin: str) -> str:
    return origin.rstrip("/")


def swap_prefix(url: str, mapping: dict[str, str]) -> str | None:
    for prefix, replacement in mapping.items():
        if url == prefix or url.startswith(prefix + "/") or url.startswith(prefix + "?"):
            return replacement + url[len(prefix) :]
    return None


class HostMapMiddleware:
    """Settings key HOST_MAP: {"https://www.example.gov": "http://127.0.0.1:8080"}."""

    def __init__(self, host_map: dict[str, str]) -> None:
        if not host_map:
            raise NotConfigured
        self.forward = {_strip_slash(k): _strip_slash(v) for k, v in host_map.items()}
        self.backward = {v: k for k, v in self.forward.items()}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings.getdict("HOST_MAP"))

    def process_request(self, request: Request) -> Request | None:
        if _ORIGINAL_URL in request.meta:
            return None
        mapped = swap_prefix(request.url, self.forward)
        if mapped is None:
            return None
        meta = {**request.meta, _ORIGINAL_URL: request.url}
        return request.replace(url=mapped, meta=meta, dont_filter=True)

    def process_response(self, request: Request, response: Response) -> Response:
        if _ORIGINAL_URL not in request.meta:
            return response
        original = swap_prefix(response.url, self.backward)
        return response if original is None else response.replace(url=original)


def retry_after_seconds(value: bytes | None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware plus a wait before each retry: BACKOFF_BASE * 2**attempt (with
    jitter), or the server's Retry-After, capped at BACKOFF_MAX seconds."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base: float = settings.getfloat("BACKOFF_BASE", 1.0)
        self.cap: float = settings.getfloat("BACKOFF_MAX", 60.0)

    def _delay(self, request: Request, response: Response | None) -> float:
        attempt = int(request.meta.get("retry_times", 0))
        asked = retry_after_seconds(response.headers.get(b"Retry-After")) if response else None
        if asked is not None:
            return min(asked, self.cap)
        backoff: float = self.base * (2**attempt) * random.uniform(0.5, 1.5)
        return min(backoff, self.cap)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await asyncio.sleep(self._delay(request, response))
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await asyncio.sleep(self._delay(request, None))
        return result


# Scrapy reads a refresh tag in the first 4,096 characters of the text: at most four
# times as many bytes in an ASCII-compatible encoding.
_REFRESH_WINDOW_BYTES = 4 * 4096
_WIDE_TEXT_MARKS = (b"\xff\xfe", b"\xfe\xff", b"\x00")


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware decodes the whole body of every HTML response
    (``response.text``, kept on the response while it waits for extraction) to search
    its first 4,096 characters for ``<meta http-equiv="refresh">``: about a tenth of the
    crawl process's time per article page, and the decoded copy doubles the page's
    memory. A page whose first bytes do not even spell "refresh" has no such tag, and
    is passed on untouched; any other page (UTF-16 included) goes through Scrapy's own
    code."""

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if isinstance(response, HtmlResponse):
            head = response.body[:_REFRESH_WINDOW_BYTES]
            if b"refresh" not in head.lower() and not any(m in head for m in _WIDE_TEXT_MARKS):
                return response
        return super().process_response(request, response)
