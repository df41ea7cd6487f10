"""robots.txt read the way RFC 9309 asks a crawler to read it: its first 500 KiB only,
and a server error as "nothing may be fetched".

The crawl checks every request against its site's rules on the event loop, and a check
costs Protego (Scrapy's parser, which we keep) time in proportion to the number of
rules. A 10 MB robots.txt of 420,000 rules took 2.3 s to parse and 67 ms per check:
a thousand articles of that site would have held every crawl of the process still for
over a minute. RFC 9309 (section 2.5) asks crawlers to impose a parsing limit of at
least 500 KiB, which is Google's; within it the same rules cost 0.08 s and 1.6 ms.

The body is cut after its last complete line within the limit, so that no rule is read
half (a path cut short would match other URLs than the site meant).

Scrapy reads whatever body a robots.txt request brings back as rules, whatever its
status, and a robots.txt that brought nothing back (a timeout, a refused or reset
connection, a failed DNS lookup) as no rules at all. Either way a site whose robots.txt
could not be read was crawled as if it allowed everything: the opposite of what RFC 9309
(section 2.3.1.4) asks, complete disallow while the file is unreachable "due to server
or network errors". ``ServerErrorRobotsTxtMiddleware`` does that, after the retries,
for the crawl of one channel; each refusal is counted as a failure (``robots.txt
unreachable (HTTP 503)``, ``robots.txt unreachable (timeout)``), so the pages are
fetched by a later crawl once the file answers. A 429 (too many requests) counts as a
server error, as Google reads it: the server cannot answer now, it does not say there
are no rules. Any other 4xx still means no rules, as the RFC says (section 2.3.1.3), and
a robots.txt request the crawl itself refused (the address guard), or could not even make
(a host with a space), leaves the decision to the refusal or failure of each page.
"""

from __future__ import annotations

import logging

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.robotstxt import ProtegoRobotParser, RobotParser
from scrapy.utils.httpobj import urlparse_cached

log = logging.getLogger(__name__)

PARSE_LIMIT = 500 * 1024  # bytes


def within_parse_limit(body: bytes) -> bytes:
    """The part of a robots.txt body that is read: all of it up to PARSE_LIMIT bytes,
    else its complete lines within the first PARSE_LIMIT bytes."""
    if len(body) <= PARSE_LIMIT:
        return body
    head = body[:PARSE_LIMIT]
    end = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return head[: end + 1]


class LimitedRobotParser(ProtegoRobotParser):
    """Scrapy's Protego parser, given only what ``within_parse_limit`` keeps (the
    crawl's ``ROBOTSTXT_PARSER``)."""

    def __init__(self, robotstxt_body: bytes, spider: Spider | None) -> None:
        super().__init__(within_parse_limit(robotstxt_body), spider)


def disallows_site(status: int) -> bool:
    """Whether a robots.txt answered with ``status`` disallows its whole site."""
    return status == 429 or 500 <= status < 600


def unreachable_reason(cause: str) -> str:
    """The failure counted for a page of a site whose robots.txt is unreachable for
    ``cause`` ("HTTP 503", "timeout")."""
    return f"robots.txt unreachable ({cause})"


class RobotsUnreachable(IgnoreRequest):
    """A request not sent because its site's robots.txt could not be read: ``cause`` is
    the status it answered with, or the error that kept it from answering (worded by the
    spiders as any failed request is)."""

    def __init__(self, cause: int | BaseException, url: str) -> None:
        super().__init__(f"robots.txt unreachable: {url}")
        self.cause = cause
        self.url = url


class ServerErrorRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, except that a robots.txt answered with a 5xx or a
    429, or not answered at all (after the retries), refuses every request to its site
    in this crawl (RobotsUnreachable), instead of reading the error page as rules or the
    silence as none."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        # netloc -> why its robots.txt is unreachable (status or error).
        self._unreachable: dict[str, int | BaseException] = {}

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if disallows_site(response.status):
            self._unreachable[netloc] = response.status
            log.warning(
                "robots.txt of %s answered HTTP %d: nothing of that site is fetched in "
                "this crawl (RFC 9309)",
                netloc,
                response.status,
            )
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        # Not for a refusal (the address guard's) or a URL no request can be made of (a
        # host with a space): each page then fails or is refused for that itself.
        if not isinstance(exc, (IgnoreRequest, ValueError)):
            self._unreachable[netloc] = exc
            log.warning(
                "robots.txt of %s could not be fetched (%s): nothing of that site is "
                "fetched in this crawl (RFC 9309)",
                netloc,
                type(exc).__name__,  # Twisted's messages are lists of Failures' reprs
            )
        super()._robots_error(exc, netloc)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        cause = self._unreachable.get(urlparse_cached(request).netloc)
        if cause is not None:
            raise RobotsUnreachable(cause, request.url)
        super().process_request_2(rp, request)
