"""One page fetched outside a crawl (``scraper extract URL``): the same rules as a crawl's
requests, without starting Scrapy for a single download.

http(s) only, on every redirect hop; connections only to addresses the address guard
permits (``allow_private_addresses``); ``host_map`` applied, so a page of a mapped site
is fetched where the crawl would fetch it and named by its public URL; the size and time
limits of the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scraper.config import Settings
from scraper.guard import AddressGuard, AddressRefused, guarded_opener
from scraper.middlewares import swap_prefix

CUT_SHORT = "connection closed before the end of the answer"


class FetchError(Exception):
    """The page could not be fetched; the message is one line. ``status`` is the HTTP
    status of an error answer, None when no answer came (refused, timeout, too large).
    ``unanswered``: the server or the network failed (no connection, a timeout, a reset
    connection), as opposed to an answer too large or a refusal of the address guard."""

    def __init__(self, message: str, status: int | None = None, unanswered: bool = False):
        super().__init__(message)
        self.status = status
        self.unanswered = unanswered


@dataclass(frozen=True)
class FetchedBody:
    url: str  # the final URL after redirects, by its public name (host_map undone)
    body: bytes
    charset: str | None  # from the Content-Type header
    content_type: str | None = None  # the whole Content-Type header, when sent


def fetch_page(
    url: str,
    settings: Settings,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchedBody:
    """``url``'s body, or FetchError saying why not. With ``data`` the request is a POST
    of it (``headers`` give its Content-Type)."""
    import http.client
    import urllib.error
    import urllib.request

    forward = {k.rstrip("/"): v.rstrip("/") for k, v in settings.host_map.items()}
    backward = {v: k for k, v in forward.items()}
    target = swap_prefix(url, forward) or url
    opener = guarded_opener(AddressGuard(settings.allow_private_addresses))
    try:
        request = urllib.request.Request(
            target, data=data, headers={**(headers or {}), "User-Agent": settings.user_agent}
        )
        with opener.open(request, timeout=settings.download_timeout) as response:
            body = response.read(settings.max_download_size + 1)
            final_url = response.geturl()
            charset = response.headers.get_content_charset()
            content_type = response.headers.get("Content-Type")
            # urllib returns a body cut short by a closed connection as if it were all
            # (only its chunked reading says so): the bytes its Content-Length promised
            # and that never came are still counted.
            cut_short = bool(response.length) and len(body) <= settings.max_download_size
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code}", exc.code) from exc
    except urllib.error.URLError as exc:
        reason = str(exc.reason)  # a refusal by the guard names the URL already
        unanswered = isinstance(exc.reason, OSError) and not isinstance(exc.reason, AddressRefused)
        message = reason if target in reason else f"{url}: {reason}"
        raise FetchError(message, unanswered=unanswered) from exc
    except OSError as exc:  # while reading the answer: a timeout, a reset connection
        raise FetchError(f"{url}: {exc}", unanswered=True) from exc
    except http.client.IncompleteRead as exc:  # a chunked answer cut short
        raise FetchError(f"{url}: {CUT_SHORT}", unanswered=True) from exc
    except http.client.HTTPException as exc:  # not HTTP at all (a bad status line...)
        message = f"{url}: not an HTTP answer ({type(exc).__name__})"
        raise FetchError(message, unanswered=True) from exc
    except ValueError as exc:
        raise FetchError(f"{url}: {exc}") from exc
    if len(body) > settings.max_download_size:
        raise FetchError(f"{url}: response larger than {settings.max_download_size} bytes")
    if cut_short:
        raise FetchError(f"{url}: {CUT_SHORT}", unanswered=True)
    public_url = swap_prefix(final_url, backward) or final_url
    return FetchedBody(public_url, body, charset, content_type)
