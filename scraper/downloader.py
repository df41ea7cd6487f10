"""Scrapy's downloader, made to keep a source's per-host concurrency with any delay.

Scrapy (2.19, asyncio reactor) dispatches a queued request by scheduling an asyncio task
(``_wait_for_download``) and counts the request as "transferring" only once that task
first runs. Until then the slot still shows free room, so every request that reaches
the slot before the event loop's next turn is dispatched as well: with
``DOWNLOAD_DELAY = 0`` nothing else stops that burst, and ``concurrency: 1`` sent 10
requests to one host at once. (With a delay, the delay hides it: one request per delay.)
``PoliteDownloader`` counts a request against its slot from the moment it is
dispatched.

It also keys slots by the host a request really goes to: Scrapy's redirect middleware
copies the request's meta, slot name included, so a redirect to another host was
counted against the first host's slot and the second host's limit did not hold.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred


class PoliteDownloader(Downloader):
    """Scrapy's Downloader; settings key DOWNLOADER = "scraper.downloader.PoliteDownloader"."""

    def get_slot_key(self, request: Request) -> str:
        # The service sets no slot names of its own: a slot is the host a request goes
        # to (after the host map), whatever meta a redirect or retry carried over.
        return urlparse_cached(request).hostname or ""

    def _wait_for_download(
        self, slot: Slot, request: Request, queue_dfd: Deferred[Response]
    ) -> Coroutine[Any, Any, None]:
        # Called by _process_queue when it dispatches ``request``, before the task that
        # runs the download is scheduled: count it now, so the next pass over the queue
        # sees the slot as full. _download adds it again (a no-op on a set) and removes
        # it when the download ends.
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)
