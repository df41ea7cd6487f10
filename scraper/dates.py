"""Publication dates: reading them, choosing one, converting it (DESIGN section 2).

One parser reads every machine-written date the service meets (feed and sitemap
entries, Google News, JSON Feed, page metadata). Its value keeps what the text stated:

- an aware ``datetime``: an instant, with the offset it was written in;
- a naive ``datetime``: a wall-clock time without zone. It is read in the source's zone
  when the source configures one (``timezone:``), else in the output zone;
- a ``date``: only a calendar day. It stays that day, at 00:00:00 in the output zone.

Rules: an instant with an offset is converted to the output zone, midnight included
(``2023-12-06T00:00:00+02:00`` and ``Wed, 06 Dec 2023 00:00:00 GMT`` are instants). A
zone-less midnight (``2023-12-06T00:00:00``, ``Wed, 06 Dec 2023 00:00:00``) is a bare
day: generators write it for a value that only ever had a day, and reading it as a time
in some zone could only move it into another day.

A page usually states its date several times (JSON-LD, meta tags, ``<time>`` elements,
the URL, a date line under the headline); ``choose_date`` weighs these candidates by
evidence (see there).
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from lxml.html import HtmlElement

log = logging.getLogger(__name__)

DateValue = datetime | date
# Where a publication date came from (stored with the article, issue 8).
DateSource = Literal[
    "feed", "sitemap", "jsonld", "meta", "time", "url", "text", "htmldate", "crawl"
]
# What a candidate claims to be: the publication, a later modification, or a date whose
# meaning the page does not say (a bare <meta name="date">, a <time> without label).
Role = Literal["published", "modified", "date"]

# Nothing on the web predates this; older values are template placeholders (1970, 1900).
EARLIEST_PLAUSIBLE = date(1995, 1, 1)
# Publishers' clocks and time zones run a little ahead; more than this is a wrong value.
FUTURE_TOLERANCE = timedelta(days=1)

# --------------------------------------------------------------------------- parsing

_DAY_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLASHED = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
# "12:30:00 UTC" and "GMT+02:00" name an offset in words that the parsers below miss.
_ZONE_WORD = re.compile(r"\s*(?:UTC|GMT)\s*(?:([+-])(\d{1,2}):?(\d{2})?)?$", re.IGNORECASE)
_MERIDIEM = re.compile(r"\d\s*([AP])\.?M\.?(?:\s|$)", re.IGNORECASE)
_CLOCK = re.compile(r"\d{1,2}:\d{2}")
_SPACED_OFFSET = re.compile(r"(\d:\d\d(?::\d\d(?:\.\d+)?)?)\s+([+-]\d\d:?\d\d)$")
# A numeric offset stated after a clock time ("10:00:00 +0200", "T1000+02") or after
# GMT or UTC ("GMT+5:30"), wherever it stands in the text.
_STATED_OFFSET = re.compile(
    r"(?:\d:\d\d(?::\d\d)?(?:[.,]\d+)?|T\d\d(?:\d\d){0,2}(?:[.,]\d+)?|\b(?:GMT|UTC))"
    r"\s*([+-])(\d\d?)(?::?(\d\d))?(?!\d)",
    re.IGNORECASE,
)
# A trailing zone abbreviation ("EET", "CEST"), which email.utils may not know.
_ZONE_NAME = re.compile(r"\d\s+(?!AM\b|PM\b)([A-Z]{2,5})$", re.IGNORECASE)


def parse_date(text: str | None) -> DateValue | None:
    """A date or time as machines write it (ISO 8601, RFC 822/2822, ``YYYY/MM/DD``).

    The value keeps its stated offset; zone-less times stay naive; a day, or a zone-less
    midnight, is a ``date``. None when ``text`` is none of these, or states an offset
    no clock shows ("+0575" is no UTC+06:15, "+15:00" is east of every clock).
    """
    if text is None:
        return None
    text = " ".join(text.split())
    if not text or _impossible_offset(text):
        return None
    if _DAY_ONLY.fullmatch(text):
        return _in_range(_safe_date(int(text[:4]), int(text[5:7]), int(text[8:10])))
    value = _parse_iso(text) or _parse_rfc822(text) or _parse_slashed(text)
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is not None and not _WESTMOST <= offset <= _EASTMOST:
            return None
        return _in_range(_day_if_zoneless_midnight(value))
    return _in_range(value)


def parse_feed_date(text: str | None, parsed: Any = None) -> DateValue | None:
    """A feed entry's date: ``text`` by parse_date, else feedparser's own parse of it
    (``parsed``, a UTC struct_time) for the formats only feedparser knows. A time
    followed by a zone abbreviation that parse_date does not know is read without it and
    given the offset feedparser's table names ("MEST": UTC+2); one that table does not
    know either ("EET", which feedparser would read as UTC) stays a zone-less time.
    feedparser reads a text without clock time as midnight UTC: that is a day, kept as
    such."""
    value = parse_date(text)
    zone = _ZONE_NAME.search(text or "")
    if text is not None and zone is not None and (value is None or _is_zone_less(value)):
        local = value if value is not None else parse_date(text[: zone.start(1)])
        hours = _feedparser_zone_hours(zone.group(1))
        if hours is None or not _is_zone_less(local):
            return local
        assert isinstance(local, datetime)
        return local.replace(tzinfo=timezone(timedelta(hours=hours)))
    if not parsed or value is not None:
        return value
    if text is not None and _impossible_offset(text):
        return None  # parse_date refused it; feedparser would apply it
    try:
        year, month, day, hour, minute, second = (int(v) for v in parsed[:6])
        instant = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    if text is not None and _misread_year(text, instant):
        return None
    if text is not None and not _CLOCK.search(text):
        return _in_range(instant.date())
    return _in_range(instant)


def _is_zone_less(value: DateValue | None) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


def _feedparser_zone_hours(zone: str) -> int | None:
    """The offset in hours of the zone abbreviation ``zone`` in feedparser's table of
    them, or None when it is not there (feedparser then takes it for UTC)."""
    from feedparser.datetimes.rfc822 import timezone_names

    hours = timezone_names.get(zone.lower())
    return hours if isinstance(hours, int) else None


def _impossible_offset(text: str) -> bool:
    """Whether ``text`` states a numeric offset that no clock on Earth shows (beyond
    UTC-12:00 or UTC+14:00, or 60 minutes or more). The parsers apply it all the same
    (feedparser reads "+2500" as a day back, "+9900" as four days; email.utils "+0575"
    as UTC+06:15): such a date is unreadable, not a date to trust."""
    for match in _STATED_OFFSET.finditer(text):
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        offset = timedelta(hours=hours, minutes=minutes)
        if sign == "-":
            offset = -offset
        if minutes >= 60 or not _WESTMOST <= offset <= _EASTMOST:
            return True
    return False


def in_safe_years(value: date) -> bool:
    """Whether ``value`` lies after the first and before the last year Python's dates can
    hold. No page was published in either ("0001-01-01T00:00:00+01:00" is a .NET empty
    date), and a time there moved to another zone, or a day on, overflows
    (OverflowError)."""
    return MINYEAR < value.year < MAXYEAR


def _in_range(value: DateValue | None) -> DateValue | None:
    """``value``, unless it lies outside the safe years: such a clue is dropped, where
    its overflow later would fail the whole page."""
    if value is None or in_safe_years(value):
        return value
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day_if_zoneless_midnight(value: datetime) -> DateValue:
    if value.tzinfo is None and value.time() == time(0, 0):
        return value.date()
    return value


def _parse_iso(text: str) -> datetime | None:
    if text.isdigit() and len(text) != 8:  # a Unix timestamp is no ISO date
        return None
    zone, text = _zone_word(text)
    text = _SPACED_OFFSET.sub(r"\1\2", text)  # "2023-12-06 08:00:00 +0200"
    for candidate in (text, re.sub(r"(\.\d{6})\d+", r"\1", text)):
        try:
            value = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if zone is not None and value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value
    return None


def _zone_word(text: str) -> tuple[tzinfo | None, str]:
    """The offset that a trailing "UTC", "GMT" or "GMT+02:00" names, and the text without it."""
    match = _ZONE_WORD.search(text)
    if match is None or match.start() == 0:
        return None, text
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    if offset >= timedelta(hours=24):
        return None, text
    return timezone(-offset if sign == "-" else offset), text[: match.start()]


def _parse_rfc822(text: str) -> datetime | None:
    zone, bare = _zone_word(text)
    try:
        value = parsedate_to_datetime(bare)
    except (TypeError, ValueError, IndexError):
        return None
    if _misread_year(bare, value):
        return None
    if zone is not None and value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    # email.utils reads a trailing "PM" ("Sat, Dec 16 2023 02:02:33 PM") as an unknown
    # zone and drops it, which would put the article twelve hours early.
    if (meridiem := _MERIDIEM.search(text)) and value.hour <= 12:
        hour = value.hour % 12 + (12 if meridiem.group(1).upper() == "P" else 0)
        value = value.replace(hour=hour)
    return value


# A year written with four digits, not part of a clock time or an offset ("+0000").
_FOUR_DIGIT_YEAR = re.compile(r"(?<![+\-\d:])(\d{4})(?![\d:])")


def _misread_year(text: str, value: datetime) -> bool:
    """Whether a parser gave ``value`` another year than the four digits ``text`` wrote.
    email.utils (and feedparser) read a year below 100 as RFC 2822's two-digit years,
    however it is written: "Mon, 01 Jan 0001 00:00:00 +0000", the zero date Hugo writes
    for undated posts, became 1 January 2001, and beat the page's own date."""
    year = _FOUR_DIGIT_YEAR.search(text)
    return year is not None and int(year.group(1)) != value.year


def _parse_slashed(text: str) -> DateValue | None:
    match = _SLASHED.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second = match.groups()
    if hour is None:
        return _safe_date(int(year), int(month), int(day))
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None


def stated_text(value: DateValue) -> str:
    """``value`` in ISO 8601 as it was stated: with its own offset, zone-less, or a day."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def stated_day(value: DateValue) -> date:
    """The calendar day ``value`` names in its own offset (not converted)."""
    return value.date() if isinstance(value, datetime) else value


# --------------------------------------------------------------------------- conversion


def to_output_zone(value: DateValue, zone: tzinfo, local_zone: tzinfo | None = None) -> datetime:
    """``value`` as an aware datetime in ``zone``.

    - a ``date`` becomes 00:00:00 of that same calendar day in ``zone``;
    - an aware ``datetime`` is the same instant, expressed in ``zone``;
    - a naive ``datetime`` is wall-clock time in ``local_zone`` (the source's configured
      zone) when given, else in ``zone``. A zone-less time is the publisher's local time,
      which only the source's configuration can know; without it, reading it in the
      output zone keeps the calendar day and clock time the page shows (so the date never
      jumps to another day, the mistake a reader notices), at the cost of an error of the
      publisher's offset from the output zone. Assuming UTC instead would err as much for
      most publishers and could also move the day.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=local_zone or zone).astimezone(zone)
        return value.astimezone(zone)
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def is_plausible(value: DateValue, now: datetime) -> bool:
    """Not before the web, not (much) after ``now``."""
    day = stated_day(value)
    if day < EARLIEST_PLAUSIBLE:
        return False
    if isinstance(value, datetime) and value.utcoffset() is not None and now.tzinfo is not None:
        return value <= now + FUTURE_TOLERANCE
    return day <= (now + FUTURE_TOLERANCE).date()


# --------------------------------------------------------------------------- visible dates

# Month names and their usual abbreviations in the languages of the sources and of most
# news pages; a visible date line ("6. Dezember 2023", "17 de Febrero 2020") names its
# month in words far more often than in digits.
_MONTH_WORDS = (
    "january jan januar jänner janvier janv enero ene janeiro gennaio gen januari stycznia"
    " января січня ledna يناير كانون_الثاني",
    "february feb februar février févr fevr febrero fevereiro fev febbraio februari lutego"
    " февраля лютого února فبراير شباط",
    "march mar märz maerz mrz mär mars marzo março marco maart mrt marca марта березня"
    " března مارس آذار",
    "april apr avril avr abril abr aprile kwietnia апреля квітня dubna أبريل ابريل نيسان",
    "may mai mayo maio maggio mag mei maja мая травня května مايو أيار",
    "june jun juni juin junio junho giugno giu czerwca июня червня června يونيو حزيران",
    "july jul juli juillet juil julio julho luglio lug lipca июля липня července يوليو تموز",
    "august aug août aout agosto ago augustus sierpnia августа серпня srpna أغسطس آب",
    "september sep sept septembre septiembre setiembre set setembro settembre września"
    " сентября вересня září سبتمبر أيلول",
    "october oct oktober okt octobre octubre outubro out ottobre ott października октября"
    " жовтня října أكتوبر تشرين_الأول",
    "november nov novembre noviembre novembro listopada ноября листопада نوفمبر تشرين_الثاني",
    "december dec dezember dez décembre déc diciembre dic dezembro dicembre grudnia"
    " декабря грудня prosince ديسمبر كانون_الأول",
)
# Separated by spaces; "_" stands for the space inside a name ("كانون الثاني").
_MONTHS = {
    word.replace("_", " "): month
    for month, words in enumerate(_MONTH_WORDS, 1)
    for word in words.split()
}
_MONTH = "(?P<month>" + "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True)) + ")"
_DAY = r"(?P<day>[0-3]?\d)"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_VISIBLE_PATTERNS = (
    # 2023-12-06, 2023/12/06, 2023.12.06
    re.compile(r"(?<!\d)(?P<year>(?:19|20)\d\d)([-/.])(?P<month>[01]?\d)\2(?P<day>[0-3]?\d)(?!\d)"),
    # 06.12.2023 (always day first), 06-12-2023
    re.compile(r"(?<![\d.])(?P<day>[0-3]?\d)([.-])\s?(?P<month>[01]?\d)\2\s?" + _YEAR + r"(?!\d)"),
    # 6 December 2023, 6. Dezember 2023, 6 de diciembre de 2023, 06 Novembre, 2023,
    # 24 نيسان / أبريل 2020 (two names of the month)
    re.compile(
        r"(?<!\d)"
        + _DAY
        + r"(?:\.|st|nd|rd|th|er|º)?\s*(?:de\s+)?"
        + _MONTH
        + r"\.?(?:\s*/\s*[^\W\d_]+)?,?\s*(?:de\s+|del\s+)?"
        + _YEAR
        + r"(?!\d)",
        re.IGNORECASE,
    ),
    # 2020年07月03日, 2020년 7월 3일
    re.compile(_YEAR + r"\s*[年년]\s*(?P<month>[01]?\d)\s*[月월]\s*(?P<day>[0-3]?\d)(?!\d)"),
    # December 6, 2023; Dec. 6 2023
    re.compile(
        r"(?<![^\W\d_])" + _MONTH + r"\.?\s+" + _DAY + r"(?:st|nd|rd|th)?,?\s+" + _YEAR + r"(?!\d)",
        re.IGNORECASE,
    ),
)
# 12/06/2023: day or month first depends on the page's country.
_SLASHED_DAY = re.compile(r"(?<![\d/])([01]?\d|[23]\d)/([01]?\d|[23]\d)/((?:19|20)\d\d)(?!\d)")
_COPYRIGHT = re.compile(r"©|\(c\)|copyright", re.IGNORECASE)


def parse_visible_date(text: str, month_first: bool | None = None) -> date | None:
    """The first calendar day written for people in ``text`` ("Stand: 22.04.2024",
    "6 December 2023 - 10:46", "Mittwoch, 01. November 2023"); None when there is none.

    ``month_first`` settles "12/06/2023" (True in the US, False in most of the world);
    None leaves such an ambiguous date unread. A copyright notice is never a date."""
    found = find_visible_date(text, month_first)
    return found[1] if found else None


def find_visible_date(text: str, month_first: bool | None = None) -> tuple[int, date] | None:
    """Where in ``text`` parse_visible_date's day is written, and the day."""
    if _COPYRIGHT.search(text):
        return None
    found: list[tuple[int, date]] = []
    for pattern in _VISIBLE_PATTERNS:
        for match in pattern.finditer(text):
            month_text = match.group("month")
            month = int(month_text) if month_text.isdigit() else _MONTHS[month_text.lower()]
            day = _safe_date(int(match.group("year")), month, int(match.group("day")))
            if day is not None:
                found.append((match.start(), day))
                break
    for match in _SLASHED_DAY.finditer(text):
        first, second, year = (int(g) for g in match.groups())
        if first > 12 or (second <= 12 and month_first is False):
            day = _safe_date(year, second, first)
        elif second > 12 or month_first:
            day = _safe_date(year, first, second)
        else:
            continue
        if day is not None:
            found.append((match.start(), day))
            break
    return min(found) if found else None


# --------------------------------------------------------------------------- choosing


@dataclass(frozen=True)
class DateClue:
    """A date as found, not yet read: its text, where it was found and what it claims."""

    text: str
    source: DateSource
    role: Role = "published"


@dataclass(frozen=True)
class Candidate:
    """A read date with its provenance."""

    value: DateValue
    source: DateSource
    role: Role = "published"
    # Only the year and month are known (a URL's "/2019/10/"): ``value`` is the first of
    # that month; the candidate supports the days of that month that others state.
    month_only: bool = False


@dataclass(frozen=True)
class ChosenDate:
    """The publication date chosen for an article, as stated, and where it came from."""

    value: DateValue
    source: DateSource

    @property
    def original(self) -> str:
        return stated_text(self.value)


def read_clues(clues: Iterable[DateClue], month_first: bool | None = None) -> list[Candidate]:
    """The clues that read as dates: machine values by parse_date; visible text ("text",
    and a ``<time>`` element without a machine value) by parse_visible_date."""
    found = []
    for clue in clues:
        value = parse_date(clue.text)
        if value is None and clue.source in ("text", "time"):
            value = parse_visible_date(clue.text, month_first)
        if value is not None:
            found.append(Candidate(value, clue.source, clue.role))
    return found


# How often each kind of candidate alone names the right day, measured on the
# development set of hand-dated pages (benchmarks/dates.py, 300 pages). A vote weighs the
# log-odds of that precision, so independent votes add up as evidence does.
# - visible dates (a date line by the headline, a <time> element, the URL) and the
#   publication meta tags are right 97-98% of the time; JSON-LD 94% (often written in
#   UTC, off the page's own day); htmldate 92%; a <meta name="date"> of unsaid meaning 82%.
# - a modification date often falls on the day of publication, but where the two differ
#   it is the wrong one nine times in ten: its vote is that of a 60% guess.
# - a channel's entry date (feed, sitemap, Google News) has no development set; DESIGN
#   section 2 trusts it first: it outweighs any single page candidate, not two that
#   agree (a feed that dates every item with its own build time is common).
# A kind measured in one role weighs the same in the other ("url" has no label).
MEASURED_PRECISION: dict[tuple[DateSource, Role], float] = {
    ("text", "published"): 0.975,
    ("text", "date"): 0.975,
    ("time", "published"): 0.975,
    ("time", "date"): 0.975,
    ("url", "published"): 0.975,
    ("meta", "published"): 0.967,
    ("jsonld", "published"): 0.936,
    ("htmldate", "published"): 0.921,
    ("meta", "date"): 0.815,
}
MODIFIED_PRECISION = 0.6
CHANNEL_WEIGHT = 6.0
# htmldate reads the same metadata, URL and <time> elements: agreeing with one of them,
# it adds no independent evidence, only settles a tie.
ECHO_WEIGHT = 0.1
_PAGE_SOURCES = frozenset(("jsonld", "meta", "time", "text", "url"))


def _log_odds(precision: float) -> float:
    return math.log(precision / (1 - precision))


VOTE_WEIGHT: dict[tuple[DateSource, Role], float] = {
    key: _log_odds(precision) for key, precision in MEASURED_PRECISION.items()
}


def _weight(candidate: Candidate) -> float:
    if candidate.source in ("feed", "sitemap"):
        return CHANNEL_WEIGHT
    if candidate.role == "modified":
        return _log_odds(MODIFIED_PRECISION)
    for role in (candidate.role, "published", "date"):
        if (candidate.source, role) in VOTE_WEIGHT:
            return VOTE_WEIGHT[(candidate.source, role)]
    return 0.0  # the crawl time: no evidence


# Preference among the candidates naming the chosen day, for the value written: the
# channel's (DESIGN order), then the page's machine-readable statements.
SOURCE_ORDER: tuple[DateSource, ...] = (
    "feed",
    "sitemap",
    "jsonld",
    "meta",
    "time",
    "text",
    "url",
    "htmldate",
    "crawl",
)
# The offsets in use on Earth: a UTC timestamp names, in its publisher's own calendar,
# a day between UTC-12:00 and UTC+14:00 of it.
_WESTMOST = timedelta(hours=-12)
_EASTMOST = timedelta(hours=14)
_OFFSET_STEP = timedelta(minutes=15)
# A vote this strong, unopposed, needs no second opinion from htmldate.
SETTLED_SCORE = 3.0


def choose_date(
    candidates: Sequence[Candidate],
    now: datetime,
    more: Callable[[], Sequence[Candidate]] | None = None,
) -> ChosenDate | None:
    """The publication date the candidates' evidence points to; None when there is none.

    Each kind of candidate (the channel, JSON-LD, meta tags, ``<time>`` elements, the URL,
    a date line by the headline, htmldate) votes for the calendar day it states, with
    the weight of its kind and role (MEASURED_PRECISION): only its first, most trusted
    value of each role votes; implausible values (before 1995, after ``now``) have none.
    Independent candidates that agree outweigh a single trusted one, and a publication
    date outweighs a modification. A UTC timestamp is machine time: it also supports the
    neighbouring day that another candidate states, when some real offset puts it on
    that day (a page dated "17 February" whose JSON-LD says 2020-02-18T02:18Z).

    A date of unsaid meaning that repeats, to the second, the page's modification time
    is that modification (the BBC shows its update time in a bare <time>). A month
    (a URL's "/2019/10/") supports the days of that month that others state.

    ``more`` gives further, costlier candidates (htmldate); it is called only when the
    first ones leave the choice open (no candidate, a contest, or a weak winner).

    The value written is the most precise candidate stating the chosen day in its own
    calendar (an instant before a wall-clock time before a bare day), by SOURCE_ORDER.
    """
    plausible = _first_of_each_kind(_with_roles_by_value(candidates), now)
    ranking = _rank_days(plausible)
    if more is not None and not _settled(ranking):
        plausible = _first_of_each_kind([*plausible, *more()], now)
        ranking = _rank_days(plausible)
    if not ranking:
        return None
    return _representative(_localized(plausible), ranking[0][0])


def _first_of_each_kind(candidates: Iterable[Candidate], now: datetime) -> list[Candidate]:
    """The first plausible candidate of each source and role."""
    first: dict[tuple[DateSource, Role], Candidate] = {}
    for candidate in candidates:
        key = (candidate.source, candidate.role)
        if key not in first and is_plausible(candidate.value, now):
            first[key] = candidate
    return list(first.values())


def _instant_key(value: DateValue) -> tuple[bool, datetime] | None:
    """What two time values must share to be the same statement: the instant of an
    aware time, the wall-clock time of a zone-less one (to the second)."""
    if not isinstance(value, datetime):
        return None
    if value.utcoffset() is None:
        return False, value.replace(microsecond=0)
    return True, value.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _with_roles_by_value(candidates: Sequence[Candidate]) -> list[Candidate]:
    """``candidates``, each of unsaid role that repeats a time stated as the publication
    or the modification taking that role."""
    stated: dict[tuple[bool, datetime], Role] = {}
    for candidate in candidates:
        key = _instant_key(candidate.value)
        if key is not None and candidate.role != "date":
            # A time stated as both (a page never modified) stays a publication.
            stated[key] = "published" if stated.get(key) == "published" else candidate.role
    result = []
    for candidate in candidates:
        key = _instant_key(candidate.value)
        if candidate.role == "date" and key in stated:
            candidate = replace(candidate, role=stated[key])
        result.append(candidate)
    return result


def _settled(ranking: list[tuple[date, float, float]]) -> bool:
    if not ranking:
        return False
    best = ranking[0][1]
    return best >= SETTLED_SCORE and (len(ranking) == 1 or ranking[1][1] <= best / 3)


def _is_utc(value: DateValue) -> bool:
    return isinstance(value, datetime) and value.utcoffset() == timedelta(0)


def _could_be_on(value: datetime, day: date) -> bool:
    """True when some offset in use puts the instant ``value`` on ``day``."""
    utc = value.astimezone(UTC).replace(tzinfo=None)
    start = datetime.combine(day, time(0, 0))
    return start - _EASTMOST <= utc < start + timedelta(days=1) - _WESTMOST


def _rank_days(candidates: Sequence[Candidate]) -> list[tuple[date, float, float]]:
    """``(day, score, own score)`` for each day a candidate states, best first: by
    score, then by the votes that state that very day, then the earlier day (a
    modification comes after the publication)."""
    days = [c for c in candidates if not c.month_only]
    read_from_page = {stated_day(c.value) for c in days if c.source in _PAGE_SOURCES}
    own: dict[date, dict[DateSource, float]] = defaultdict(dict)
    for candidate in days:
        day = stated_day(candidate.value)
        weight = _weight(candidate)
        if candidate.source == "htmldate" and day in read_from_page:
            weight = ECHO_WEIGHT  # what htmldate read in the same metadata: no new evidence
        votes = own[day]
        votes[candidate.source] = max(votes.get(candidate.source, 0.0), weight)
    scores: dict[date, dict[DateSource, float]] = {day: dict(v) for day, v in own.items()}
    for candidate in candidates:
        if candidate.month_only:
            month = (candidate.value.year, candidate.value.month)
            for day, votes in scores.items():
                if (day.year, day.month) == month and candidate.source not in votes:
                    votes[candidate.source] = _weight(candidate)
    for candidate in days:
        value = candidate.value
        if candidate.role == "modified" or not isinstance(value, datetime) or not _is_utc(value):
            continue
        for day in (stated_day(value) - timedelta(days=1), stated_day(value) + timedelta(days=1)):
            supported_elsewhere = any(
                source != candidate.source and weight > 0
                for source, weight in own.get(day, {}).items()
            )
            if supported_elsewhere and _could_be_on(value, day):
                votes = scores[day]
                votes[candidate.source] = max(votes.get(candidate.source, 0.0), _weight(candidate))
    ranking = [
        (day, sum(votes.values()), sum(own[day].values()))
        for day, votes in scores.items()
        if sum(votes.values()) > 0
    ]
    ranking.sort(key=lambda item: (-item[1], -item[2], item[0]))
    return ranking


def _localized(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates, a zone-less time given the offset that another candidate reveals.

    A page that writes "2023-11-08 23:30:59" beside "2023-11-09T05:30:59Z" states one
    instant twice: its local time is UTC-06:00. The zone-less value then becomes that
    instant in its own offset (exact to the second, whole quarter hours, an offset in use).
    """
    instants = [
        c.value.astimezone(UTC).replace(tzinfo=None)
        for c in candidates
        if isinstance(c.value, datetime) and c.value.utcoffset() is not None
    ]
    if not instants:
        return list(candidates)
    result = []
    for candidate in candidates:
        value = candidate.value
        if isinstance(value, datetime) and value.utcoffset() is None:
            for instant in instants:
                offset = value - instant
                if _WESTMOST <= offset <= _EASTMOST and offset % _OFFSET_STEP == timedelta(0):
                    value = value.replace(tzinfo=timezone(offset))
                    break
        result.append(replace(candidate, value=value))
    return result


def _precision(value: DateValue) -> int:
    if not isinstance(value, datetime):
        return 2
    return 0 if value.utcoffset() is not None else 1


def _representative(candidates: Sequence[Candidate], day: date) -> ChosenDate | None:
    stating = [c for c in candidates if stated_day(c.value) == day and not c.month_only]
    if not stating:
        return None
    best = min(
        stating,
        key=lambda c: (
            c.role == "modified",
            _precision(c.value),
            SOURCE_ORDER.index(c.source),
        ),
    )
    return ChosenDate(best.value, best.source)


# --------------------------------------------------------------------------- page-only


_URL_DAY = (
    # /2023/12/06/, /2023-12-06-title, /2023_12_06
    re.compile(
        r"(?<!\d)(?P<year>(?:19|20)\d\d)(?P<sep>[/_-])(?P<month>0?[1-9]|1[0-2])(?P=sep)"
        r"(?P<day>0?[1-9]|[12]\d|3[01])(?!\d)"
    ),
    # /20231206/ or /20231206-title: eight digits as a whole path segment or its start
    re.compile(
        r"/(?P<year>(?:19|20)\d\d)(?P<month>0[1-9]|1[0-2])(?P<day>0[1-9]|[12]\d|3[01])"
        r"(?=[/_.-]|$)"
    ),
)
# /2019/10/slug: a month folder
_URL_MONTH = re.compile(r"/(?P<year>(?:19|20)\d\d)/(?P<month>0?[1-9]|1[0-2])/")
# An archived copy's own address leads to the page's original one.
_ARCHIVE_PREFIX = re.compile(r"^https?://web\.archive\.org/web/\d+[a-z_]*/", re.IGNORECASE)


def url_candidates(url: str | None) -> list[Candidate]:
    """The day a URL's path names ("/2023/12/06/" gives 2023-12-06), else the month it
    names ("/2019/10/slug"), as a candidate."""
    if not url:
        return []
    url = _ARCHIVE_PREFIX.sub("", url)
    path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", url, flags=re.IGNORECASE).split("#")[0]
    path = path.split("?")[0]
    for pattern in _URL_DAY:
        for match in pattern.finditer(path):
            year, month, day = (int(g) for g in match.group("year", "month", "day"))
            found = _safe_date(year, month, day)
            if found is not None:
                return [Candidate(found, "url")]
    folder = _URL_MONTH.search(path)
    if folder:
        year, month = int(folder.group("year")), int(folder.group("month"))
        return [Candidate(date(year, month, 1), "url", month_only=True)]
    return []


def htmldate_candidates(tree: HtmlElement, url: str | None, now: datetime) -> list[Candidate]:
    """htmldate's guess of the original publication day (not the last update), without
    its extensive search: that search reads any date in the text, and takes an undated
    page's "© 2025" footer for 2025-01-01. Only a day: htmldate's times come from the
    same metadata already read. ``tree`` is not modified (htmldate works on a copy)."""
    from htmldate import find_date

    try:
        found = find_date(
            tree,
            url=url,
            original_date=True,
            extensive_search=False,
            outputformat="%Y-%m-%d",
            max_date=(now + FUTURE_TOLERANCE).strftime("%Y-%m-%d"),
        )
    except Exception:  # htmldate is heuristics over arbitrary pages; a crash means no date
        log.debug("htmldate failed on %s", url, exc_info=True)
        return []
    value = parse_date(str(found)) if found else None
    return [Candidate(value, "htmldate")] if value is not None else []
