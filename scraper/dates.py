"""Publication dates: reading them from text, choosing one, converting it (DESIGN section 2).

A value is either a ``datetime`` (an instant, or a wall-clock time without zone) or a
``date`` (only a calendar day). The distinction matters in the output: a day stays that
calendar day at 00:00:00 in the output zone, whereas an instant is converted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from lxml.html import HtmlElement

log = logging.getLogger(__name__)

DateValue = datetime | date

# Nothing on the web predates this; older values are template placeholders (1970, 1900).
EARLIEST_PLAUSIBLE = date(1995, 1, 1)
# Publishers' clocks and time zones run a little ahead; more than this is a wrong value.
FUTURE_TOLERANCE = timedelta(days=1)
_DAY_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date_text(text: str) -> DateValue | None:
    """An ISO 8601 or RFC 2822 date/time as found in metadata; None when it is neither.

    ``"2023-12-06"`` gives a ``date``. So does a zone-less midnight such as
    ``"2023-12-06T00:00:00"``: CMSs write that for a value that only ever had a day, and
    treating it as a time would let the conversion move it into the previous day.
    """
    text = " ".join(text.split())
    if not text:
        return None
    if _DAY_ONLY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    value = _parse_iso_datetime(text) or _parse_rfc2822(text)
    if value is None:
        return None
    if value.tzinfo is None and value.time() == time(0, 0):
        return value.date()
    return value


def _parse_iso_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    # Fractions longer than microseconds ("...42.1234567Z") are valid ISO but not for
    # fromisoformat; drop the extra digits.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text)
    if trimmed != text:
        try:
            return datetime.fromisoformat(trimmed)
        except ValueError:
            return None
    return None


def _parse_rfc2822(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def is_day_only(value: DateValue) -> bool:
    return not isinstance(value, datetime)


def to_output_zone(value: DateValue, zone: ZoneInfo) -> datetime:
    """``value`` as an aware datetime in ``zone``.

    - a ``date`` becomes 00:00:00 of that same calendar day in ``zone``;
    - an aware ``datetime`` is the same instant, expressed in ``zone``;
    - a naive ``datetime`` is taken as wall-clock time in ``zone``. A zone-less page time
      is almost always the publisher's local time, which cannot be known here; reading
      it in the output zone keeps the calendar day and clock time the page shows (so the
      date never jumps to another day, the mistake a reader notices), at the cost of an
      error of the publisher's offset from the output zone. Assuming UTC instead would
      err as much for most publishers and could also move the day.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=zone)
        return value.astimezone(zone)
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def is_plausible(value: DateValue, now: datetime) -> bool:
    """Not before the web, not (much) after ``now``."""
    day = value.date() if isinstance(value, datetime) else value
    if day < EARLIEST_PLAUSIBLE:
        return False
    if isinstance(value, datetime) and value.tzinfo is not None and now.tzinfo is not None:
        return value <= now + FUTURE_TOLERANCE
    return day <= (now + FUTURE_TOLERANCE).date()


def best_metadata_date(candidates: Iterable[str], now: datetime) -> DateValue | None:
    """The first plausible value among ``candidates`` (in order of trust).

    A day-only first choice gives way to a later candidate that has a time on that same
    day (e.g. JSON-LD ``"2024-04-22"`` and ``DC.date`` ``"2024-04-22T06:00+02:00"``):
    same answer, more precise.
    """
    parsed = [
        value
        for value in (parse_date_text(text) for text in candidates)
        if value is not None and is_plausible(value, now)
    ]
    if not parsed:
        return None
    first = parsed[0]
    if is_day_only(first):
        for value in parsed[1:]:
            # The day as written on the page (its own offset), not converted.
            if isinstance(value, datetime) and value.date() == first:
                return value
    return first


def find_date_in_page(tree: HtmlElement, url: str | None, now: datetime) -> date | None:
    """htmldate's best guess of the original publication day (not the last update).

    Only a day: htmldate's times come from the same metadata already read, so a day is
    all it adds. ``tree`` is not modified (htmldate works on a copy of a passed tree).
    """
    from htmldate import find_date

    try:
        found = find_date(
            tree,
            url=url,
            original_date=True,
            extensive_search=True,
            outputformat="%Y-%m-%d",
            max_date=(now + FUTURE_TOLERANCE).strftime("%Y-%m-%d"),
        )
    except Exception:  # htmldate is heuristics over arbitrary pages; a crash means no date
        log.debug("htmldate failed on %s", url, exc_info=True)
        return None
    if not found:
        return None
    try:
        day = date.fromisoformat(str(found))
    except ValueError:
        return None
    return day if is_plausible(day, now) else None
