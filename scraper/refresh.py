"""Whether a stored article is fetched again: the decision, apart from the crawl.

A stored article is fetched again when

- its channel gives a modification time later than its last fetch (a sitemap's
  lastmod, a feed entry's updated), whatever its age; or
- it was published within its source's refresh window (``refresh.window`` before now)
  and its last fetch is at least ``refresh.every`` old: news pages are corrected and
  updated mostly in their first days, and no channel says so reliably.

Everything else is left alone, unless ``scraper crawl --refresh`` asks for all of it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from scraper.config import RefreshPolicy
from scraper.dates import to_output_zone
from scraper.storage.checks import ArticleCheck
from scraper.storage.files import DATE_FOLDER


def refresh_due(
    policy: RefreshPolicy, published: datetime, last_fetched: datetime, now: datetime
) -> bool:
    """True when an article published at ``published`` and last fetched at
    ``last_fetched`` is due for a fetch by ``policy``: within the window (a window of 0
    is none) and stale. All three times carry their offsets."""
    if policy.window <= timedelta(0) or now - published > policy.window:
        return False
    return now - last_fetched >= policy.every


def changed_since(
    modified: datetime | date | None,
    last_fetched: datetime,
    zone: tzinfo,
    source_zone: tzinfo | None = None,
) -> bool:
    """True when a channel's modification time is later than the last fetch. The time
    is read as scraper.dates reads every date: a day is its start in the output
    ``zone``, a zone-less time is in the source's zone (else the output zone)."""
    if modified is None:
        return False
    return to_output_zone(modified, zone, source_zone) > last_fetched


def publication_time(
    check: ArticleCheck | None,
    listed: datetime | date | None,
    path: Path,
    zone: tzinfo,
    source_zone: tzinfo | None = None,
) -> datetime | None:
    """When a stored article was published, from what is at hand without reading its
    file: the time it was stored with, else the channel's (read as ``changed_since``
    reads it), else the start of the day its file's folder names (in the output zone
    ``zone``, as the folder is)."""
    if check is not None and check.published is not None:
        return check.published
    if listed is not None:
        return to_output_zone(listed, zone, source_zone)
    if DATE_FOLDER.match(path.parent.name):
        return to_output_zone(date.fromisoformat(path.parent.name), zone)
    return None
