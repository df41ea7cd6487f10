"""Publication dates: the one parser, conversion to the output zone, choosing by evidence."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.dates import (
    Candidate,
    ChosenDate,
    DateClue,
    choose_date,
    htmldate_candidates,
    parse_date,
    parse_feed_date,
    parse_visible_date,
    read_clues,
    stated_text,
    to_output_zone,
    url_candidates,
)
from scraper.discovery import parse_date as discovery_parse_date
from scraper.extract import read_metadata

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
KYIV = ZoneInfo("Europe/Kyiv")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))
# Zones far apart on both sides of UTC, where a wrong conversion would change the day.
ZONES = ["America/Sao_Paulo", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Tokyo", "UTC"]


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # feed values (RSS pubDate, Atom, JSON Feed, Google News)
        ("Wed, 06 Dec 2023 08:00:00 GMT", datetime(2023, 12, 6, 8, 0, tzinfo=UTC)),
        ("Mon, 13 Nov 2023 17:30:00 +0200", datetime(2023, 11, 13, 17, 30, tzinfo=PLUS_2)),
        ("Wed, 29 Jun 2011 00:01:37 GMT+00:00", datetime(2011, 6, 29, 0, 1, 37, tzinfo=UTC)),
        ("Sat, Dec 16 2023 02:02:33 PM", datetime(2023, 12, 16, 14, 2, 33)),
        ("Sat, Dec 16 2023 12:10:00 AM", datetime(2023, 12, 16, 0, 10)),
        ("2020/1/10 14:33:00", datetime(2020, 1, 10, 14, 33)),
        # page values (JSON-LD, meta tags, <time datetime>)
        ("2023-12-06T10:46:00+02:00", datetime(2023, 12, 6, 10, 46, tzinfo=PLUS_2)),
        ("2023-12-06T08:00:00Z", datetime(2023, 12, 6, 8, 0, tzinfo=UTC)),
        ("2020-04-28T10:27:29+0200", datetime(2020, 4, 28, 10, 27, 29, tzinfo=PLUS_2)),
        ("2024-03-31T16:59:00.1234567Z", datetime(2024, 3, 31, 16, 59, 0, 123456, tzinfo=UTC)),
        ("2023-12-06 08:00:00 UTC", datetime(2023, 12, 6, 8, 0, tzinfo=UTC)),
        ("2026-04-20T14:09:42", datetime(2026, 4, 20, 14, 9, 42)),
        # a day, and the forms a day takes
        ("2023-12-06", date(2023, 12, 6)),
        ("  2023-12-06\n", date(2023, 12, 6)),
        ("2020/1/10", date(2020, 1, 10)),
        ("2024-04-22T00:00:00", date(2024, 4, 22)),  # zone-less midnight: a bare day
        ("Wed, 06 Dec 2023 00:00:00", date(2023, 12, 6)),  # likewise, in RFC 822
        # midnight with an explicit offset is an instant
        ("2023-12-06T00:00:00+02:00", datetime(2023, 12, 6, 0, 0, tzinfo=PLUS_2)),
        ("Wed, 06 Dec 2023 00:00:00 GMT", datetime(2023, 12, 6, 0, 0, tzinfo=UTC)),
    ],
)
def test_parse_date_keeps_what_the_text_states(text: str, expected: datetime | date) -> None:
    value = parse_date(text)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, datetime) and isinstance(expected, datetime):
        assert value.utcoffset() == expected.utcoffset()  # the stated offset is kept


@pytest.mark.parametrize(
    "text",
    [None, "", "  ", "yesterday", "2023-13-45", "1761135952", "soon", "32/13/2020", "© 2025"],
)
def test_parse_date_rejects_what_is_not_a_date(text: str | None) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    "text", ["Mon, 01 Jan 0001 00:00:00 +0000", "Mon, 01 Jan 0001 00:00:00 EET"]
)
def test_a_year_written_with_four_digits_is_not_read_as_a_two_digit_one(text: str) -> None:
    # Hugo's zero date for undated posts: email.utils and feedparser read year 1 as
    # 2001, which beat the page's own date (the article filed under 2000-12-31).
    assert parse_date(text) is None
    assert parse_feed_date(text, (2001, 1, 1, 0, 0, 0, 0, 1, 0)) is None
    # Two-digit years are still RFC 2822's.
    assert parse_date("Thu, 02 May 24 09:30:00 +0200") == datetime(
        2024, 5, 2, 9, 30, tzinfo=timezone(timedelta(hours=2))
    )


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",  # .NET's empty date with a local offset
        "0001-01-01",
        "9999-12-31T23:59:59-12:00",
        "Fri, 31 Dec 9999 23:59:59 -1200",
    ],
)
def test_parse_date_rejects_times_no_zone_can_hold(text: str) -> None:
    # Each overflowed when moved to UTC or to the output zone.
    assert parse_date(text) is None
    assert parse_feed_date(text, (9999, 12, 31, 23, 59, 59, 4, 365, 0)) is None


def test_feeds_and_pages_share_the_one_parser() -> None:
    assert discovery_parse_date is parse_date


def feedparser_date(text: str) -> Any:
    """feedparser's own parse of ``text`` as an RSS pubDate (a UTC struct_time)."""
    feed = feedparser.parse(f"<rss><channel><item><pubDate>{text}</pubDate></item></channel></rss>")
    return feed.entries[0].get("published_parsed")


def test_feedparser_parse_is_the_fallback_for_formats_only_it_knows() -> None:
    assert parse_feed_date("6 Dec 2023 10:46 MEST", feedparser_date("6 Dec 2023 10:46 MEST")) == (
        datetime(2023, 12, 6, 8, 46, tzinfo=UTC)
    )
    # feedparser reads a text without clock time as midnight UTC: that is a day.
    assert parse_feed_date("December 6th, 2023", (2023, 12, 6, 0, 0, 0, 2, 340, 0)) == date(
        2023, 12, 6
    )
    assert parse_feed_date("garbage", None) is None
    assert parse_feed_date("garbage", (2023, 13, 40, 0, 0, 0, 0, 0, 0)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # feedparser reads "EET" (UTC+2) as UTC: the article was stored two hours late.
        ("6 Dec 2023 10:46 EET", datetime(2023, 12, 6, 10, 46)),
        ("2023-12-06T10:46:00 MSK", datetime(2023, 12, 6, 10, 46)),
        # A zone feedparser knows, after a time only parse_date reads: feedparser took
        # the day alone, as midnight UTC.
        ("2023-12-06 10:46 MEST", datetime(2023, 12, 6, 10, 46, tzinfo=PLUS_2)),
        ("Wed, 06 Dec 2023 10:46:00 mest", datetime(2023, 12, 6, 10, 46, tzinfo=PLUS_2)),
    ],
)
def test_a_zone_name_is_read_as_feedparser_names_it_or_the_time_stays_local(
    text: str, expected: datetime
) -> None:
    value = parse_feed_date(text, feedparser_date(text))
    assert value == expected
    assert isinstance(value, datetime) and value.tzinfo == expected.tzinfo


@pytest.mark.parametrize(
    "text",
    [
        "Mon, 02 Dec 2024 10:00:00 +2500",  # feedparser: a day back
        "2024-12-02T10:00:00+25:00",
        "Mon, 02 Dec 2024 10:00:00 +9900",  # feedparser: four days back
        "Mon, 02 Dec 2024 10:00:00 +0575",  # read as UTC+06:15
        "Mon, 02 Dec 2024 10:00:00 -1300",  # west of any clock
        "Mon, 02 Dec 2024 10:00:00 GMT+0575",  # the offset after GMT
        "Mon, 02 Dec 2024 10:00:00 UTC+5:75",
        "Mon, 02 Dec 2024 10:00:00 GMT+1500",
        "2024-12-02T10:00:00+15",  # ISO 8601 with hours only
        "20241202T100000+2000",  # ISO 8601's basic format
        "2024-12-02T10:00:00,123+20:00",
        "Mon Dec 02 10:00:00 +2000 2024",  # not at the end
        "Mon, 02 Dec 2024 10:00:00 +9900 GMT",  # feedparser: four days back
        "Mon, 02 Dec 2024 10:00:00 +2500 (XYZ)",
    ],
)
def test_an_offset_no_clock_shows_makes_the_date_unreadable(text: str) -> None:
    assert parse_date(text) is None
    assert parse_feed_date(text, feedparser_date(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "Mon, 02 Dec 2024 10:00:00 +1400",
        "Mon, 02 Dec 2024 10:00:00 -1200",
        "Mon, 02 Dec 2024 10:00:00 +1345",
    ],
)
def test_the_offsets_at_the_edges_of_the_clocks_in_use_are_read(text: str) -> None:
    value = parse_date(text)
    assert isinstance(value, datetime) and value.utcoffset() is not None
    assert parse_feed_date(text, feedparser_date(text)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2023, 12, 6, 0, 0, tzinfo=PLUS_2), "2023-12-06T00:00:00+02:00"),
        (datetime(2023, 12, 6, 8, 0, tzinfo=UTC), "2023-12-06T08:00:00+00:00"),
        (datetime(2023, 12, 6, 8, 0, 1, 500), "2023-12-06T08:00:01"),
        (date(2023, 12, 6), "2023-12-06"),
    ],
)
def test_stated_text_is_iso_8601_with_the_stated_offset(value: datetime | date, text: str) -> None:
    assert stated_text(value) == text


# --------------------------------------------------------------------------- conversion


def test_google_news_time_becomes_sao_paulo_time() -> None:
    # DESIGN section 2: a pubDate of 08:00 GMT is written as 05:00:00-03:00.
    value = parse_date("Wed, 06 Dec 2023 08:00:00 GMT")
    assert value is not None
    assert to_output_zone(value, SAO_PAULO).isoformat(sep=" ") == "2023-12-06 05:00:00-03:00"


def test_midnight_with_an_offset_is_converted_like_any_instant() -> None:
    value = parse_date("2023-12-06T00:00:00+02:00")
    assert value is not None
    assert to_output_zone(value, SAO_PAULO).isoformat(sep=" ") == "2023-12-05 19:00:00-03:00"


def test_day_only_value_stays_on_its_day_at_midnight() -> None:
    converted = to_output_zone(date(2023, 12, 6), SAO_PAULO, KYIV)
    assert converted.isoformat(sep=" ") == "2023-12-06 00:00:00-03:00"


def test_zone_less_time_is_read_in_the_output_zone_without_source_zone() -> None:
    converted = to_output_zone(datetime(2026, 4, 20, 14, 9, 42), SAO_PAULO)
    assert converted.isoformat(sep=" ") == "2026-04-20 14:09:42-03:00"


def test_zone_less_time_is_read_in_the_source_zone_when_configured() -> None:
    converted = to_output_zone(datetime(2026, 4, 20, 14, 9, 42), SAO_PAULO, KYIV)
    assert converted.isoformat(sep=" ") == "2026-04-20 08:09:42-03:00"


@given(day=st.dates(min_value=date(1995, 1, 1), max_value=date(2100, 12, 31)))
@pytest.mark.parametrize("zone_name", ZONES)
def test_day_only_values_never_change_day(zone_name: str, day: date) -> None:
    converted = to_output_zone(day, ZoneInfo(zone_name), KYIV)
    assert converted.date() == day
    assert converted.time() == time(0, 0)
    assert converted.utcoffset() is not None


@given(day=st.dates(min_value=date(1995, 1, 1), max_value=date(2100, 12, 31)))
def test_day_only_strings_never_change_day(day: date) -> None:
    for text in (day.isoformat(), f"{day.isoformat()}T00:00:00", day.strftime("%Y/%m/%d")):
        value = parse_date(text)
        assert value is not None
        assert to_output_zone(value, SAO_PAULO, KYIV).date() == day


@given(
    moment=st.datetimes(
        min_value=datetime(1995, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
@pytest.mark.parametrize("zone_name", ZONES)
def test_instants_are_converted_not_shifted(zone_name: str, moment: datetime) -> None:
    converted = to_output_zone(moment, ZoneInfo(zone_name), KYIV)
    assert converted == moment
    assert converted.tzinfo == ZoneInfo(zone_name)


# --------------------------------------------------------------------------- visible dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6 December 2023 - 10:46", date(2023, 12, 6)),
        ("Mittwoch, 01. November 2023", date(2023, 11, 1)),
        ("Stand: 28.04.2020 18:00 Uhr", date(2020, 4, 28)),
        ("17 de Febrero 2020", date(2020, 2, 17)),
        ("November 8, 2023 at 11:30 p.m.", date(2023, 11, 8)),
        ("Apr 7, 2009", date(2009, 4, 7)),
        ("6 déc. 2023", date(2023, 12, 6)),
        ("2020年07月03日", date(2020, 7, 3)),
        ("6 грудня 2023", date(2023, 12, 6)),
        ("24 نيسان / أبريل 2020", date(2020, 4, 24)),
        ("Published on 2023-10-02", date(2023, 10, 2)),
        ("13/06/2023", date(2023, 6, 13)),  # day first: 13 is no month
        ("12/06/2023", None),  # June or December: unknown country, unread
        ("© 2023 Ministry of Transport, 6 December 2023", None),
        ("Page 3 of 12", None),
    ],
)
def test_visible_dates(text: str, expected: date | None) -> None:
    assert parse_visible_date(text) == expected


def test_slashed_visible_date_follows_the_page_country() -> None:
    assert parse_visible_date("12/06/2023", month_first=True) == date(2023, 12, 6)
    assert parse_visible_date("12/06/2023", month_first=False) == date(2023, 6, 12)


def test_clues_read_machine_values_and_visible_text() -> None:
    clues = [
        DateClue("2023-12-06T10:46:00+02:00", "jsonld"),
        DateClue("6 December 2023", "text", "date"),
        DateClue("6 December 2023", "jsonld"),  # machine fields hold machine values
        DateClue("nonsense", "meta"),
    ]
    assert read_clues(clues) == [
        Candidate(datetime(2023, 12, 6, 10, 46, tzinfo=PLUS_2), "jsonld"),
        Candidate(date(2023, 12, 6), "text", "date"),
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/2023/12/06/title/", [Candidate(date(2023, 12, 6), "url")]),
        ("https://a.example/news/2023-12-06-title", [Candidate(date(2023, 12, 6), "url")]),
        ("https://a.example/20231206/title.html", [Candidate(date(2023, 12, 6), "url")]),
        (
            "https://a.example/2019/10/title/",
            [Candidate(date(2019, 10, 1), "url", month_only=True)],
        ),
        (
            "https://web.archive.org/web/20160218174457/http://a.example/2010/05/title/",
            [Candidate(date(2010, 5, 1), "url", month_only=True)],
        ),
        ("https://a.example/article/25132278.html", []),
        ("https://a.example/news?date=2023-12-06", []),
        (None, []),
    ],
)
def test_url_candidates(url: str | None, expected: list[Candidate]) -> None:
    assert url_candidates(url) == expected


# --------------------------------------------------------------------------- choosing


def choose(*candidates: Candidate) -> ChosenDate | None:
    return choose_date(list(candidates), NOW)


def test_agreement_of_independent_candidates_outweighs_a_single_one() -> None:
    chosen = choose(
        Candidate(datetime(2022, 1, 4, 7, 29, tzinfo=UTC), "jsonld"),
        Candidate(date(2022, 1, 6), "text", "date"),
        Candidate(date(2022, 1, 6), "url"),
    )
    assert chosen == ChosenDate(date(2022, 1, 6), "text")


def test_publication_outweighs_modification() -> None:
    chosen = choose(
        Candidate(datetime(2023, 12, 9, 10, 0, tzinfo=UTC), "meta", "modified"),
        Candidate(datetime(2023, 12, 9, 10, 0, tzinfo=UTC), "jsonld", "modified"),
        Candidate(datetime(2023, 12, 6, 10, 0, tzinfo=UTC), "jsonld", "published"),
    )
    assert chosen == ChosenDate(datetime(2023, 12, 6, 10, 0, tzinfo=UTC), "jsonld")


def test_a_bare_time_repeating_the_modification_is_that_modification() -> None:
    # <time datetime=...> without label, the very instant of article:modified_time.
    modified = datetime(2026, 4, 24, 11, 16, 53, tzinfo=UTC)
    chosen = choose(
        Candidate(datetime(2012, 5, 10, 14, 29, 5, tzinfo=UTC), "meta", "published"),
        Candidate(modified, "meta", "modified"),
        Candidate(modified, "time", "date"),
    )
    assert chosen is not None and chosen.value == datetime(2012, 5, 10, 14, 29, 5, tzinfo=UTC)


def test_the_most_precise_value_on_the_chosen_day_is_written() -> None:
    chosen = choose(
        Candidate(date(2024, 4, 22), "text", "date"),
        Candidate(datetime(2024, 4, 22, 6, 0, tzinfo=PLUS_2), "meta"),
    )
    assert chosen == ChosenDate(datetime(2024, 4, 22, 6, 0, tzinfo=PLUS_2), "meta")
    assert chosen.original == "2024-04-22T06:00:00+02:00"


def test_a_utc_timestamp_supports_the_local_day_the_page_prints() -> None:
    # Printed "17 de Febrero 2020", URL /2020/02/17/, JSON-LD 2020-02-18T02:18:11Z:
    # one moment, 17 February on the publisher's clock (UTC-05:00).
    chosen = choose(
        Candidate(datetime(2020, 2, 18, 2, 18, 11, tzinfo=UTC), "jsonld"),
        Candidate(date(2020, 2, 17), "url"),
    )
    assert chosen == ChosenDate(date(2020, 2, 17), "url")


def test_a_utc_timestamp_alone_keeps_its_own_day() -> None:
    chosen = choose(Candidate(datetime(2020, 2, 18, 2, 18, 11, tzinfo=UTC), "jsonld"))
    assert chosen == ChosenDate(datetime(2020, 2, 18, 2, 18, 11, tzinfo=UTC), "jsonld")


def test_a_zone_less_time_takes_the_offset_a_matching_instant_reveals() -> None:
    chosen = choose(
        Candidate(datetime(2023, 11, 9, 5, 30, 59, tzinfo=UTC), "jsonld"),
        Candidate(datetime(2023, 11, 8, 23, 30, 59), "time", "date"),
        Candidate(date(2023, 11, 8), "url"),
    )
    local = timezone(timedelta(hours=-6))
    assert chosen == ChosenDate(datetime(2023, 11, 8, 23, 30, 59, tzinfo=local), "time")
    assert chosen.original == "2023-11-08T23:30:59-06:00"


def test_a_month_supports_the_days_of_that_month() -> None:
    chosen = choose(
        Candidate(date(2019, 10, 1), "meta"),
        Candidate(date(2019, 1, 18), "text", "date"),
        Candidate(date(2019, 10, 1), "url", month_only=True),
    )
    assert chosen == ChosenDate(date(2019, 10, 1), "meta")
    assert choose(Candidate(date(2019, 10, 1), "url", month_only=True)) is None


@pytest.mark.parametrize(
    "value",
    [date(1970, 1, 1), datetime(1900, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)],
)
def test_implausible_values_have_no_vote(value: datetime | date) -> None:
    assert choose(Candidate(value, "jsonld")) is None
    chosen = choose(Candidate(value, "jsonld"), Candidate(date(2024, 1, 30), "meta"))
    assert chosen == ChosenDate(date(2024, 1, 30), "meta")


def test_the_channel_outweighs_a_single_page_candidate_but_not_two() -> None:
    feed = Candidate(datetime(2023, 12, 6, 8, 0, tzinfo=UTC), "feed")
    page = [Candidate(date(2023, 10, 2), "meta"), Candidate(date(2023, 10, 2), "text", "date")]
    assert choose(feed, page[0]) == ChosenDate(feed.value, "feed")
    assert choose(feed, *page) == ChosenDate(date(2023, 10, 2), "meta")


def test_costly_candidates_are_asked_only_when_the_choice_is_open() -> None:
    asked: list[bool] = []

    def htmldate() -> list[Candidate]:
        asked.append(True)
        return [Candidate(date(2023, 10, 2), "htmldate")]

    settled = [Candidate(datetime(2023, 12, 6, 8, 0, tzinfo=UTC), "meta")]
    assert choose_date(settled, NOW, more=htmldate) == ChosenDate(settled[0].value, "meta")
    assert asked == []
    assert choose_date([], NOW, more=htmldate) == ChosenDate(date(2023, 10, 2), "htmldate")
    assert asked == [True]


def test_no_candidate_no_date() -> None:
    assert choose() is None


# --------------------------------------------------------------------------- pages


def page_date(html: str, url: str | None = None) -> ChosenDate | None:
    tree = lxml.html.document_fromstring(html)
    metadata = read_metadata(tree)
    candidates = [*read_clues(metadata.dates, metadata.month_first), *url_candidates(url)]
    return choose_date(candidates, NOW)


def test_the_date_line_by_the_headline_is_read() -> None:
    html = (
        "<html><head><title>Bridge closes | City</title></head><body>"
        "<nav><span>Today: 1 January 2026</span></nav><article><h1>Bridge closes</h1>"
        "<p class='meta'>By Ana Lima · 2 October 2023</p>"
        "<p>The bridge closes for repairs next week, the council said on 30 September "
        "2023.</p></article></body></html>"
    )
    assert page_date(html) == ChosenDate(date(2023, 10, 2), "text")


def test_an_undated_page_stays_undated_whatever_its_footer_says() -> None:
    html = (
        "<html><head><title>About the parks</title></head><body><h1>About the parks</h1>"
        "<p>The region manages nine parks with marked trails.</p>"
        "<footer>© 2025 Region. Last login 2025-01-01.</footer></body></html>"
    )
    assert page_date(html) is None


def test_htmldate_finds_a_date_printed_in_the_page() -> None:
    tree = lxml.html.fromstring(
        "<html><body><h1>Roadworks</h1><p class='date'>Published 2023-10-02</p>"
        "<p>The bridge closes for repairs next week, the council said.</p></body></html>"
    )
    assert htmldate_candidates(tree, None, NOW) == [Candidate(date(2023, 10, 2), "htmldate")]


def test_htmldate_does_not_invent_a_date() -> None:
    tree = lxml.html.fromstring(
        "<html><body><p>The bridge closes for repairs next week.</p>"
        "<footer>Copyright 2025</footer></body></html>"
    )
    assert htmldate_candidates(tree, None, NOW) == []


def test_choosing_is_cheap() -> None:
    candidates = [
        Candidate(datetime(2023, 12, 6, 8, 0, tzinfo=UTC), "jsonld"),
        Candidate(datetime(2023, 12, 7, 8, 0, tzinfo=UTC), "jsonld", "modified"),
        Candidate(date(2023, 12, 6), "text", "date"),
        Candidate(date(2023, 12, 6), "url"),
    ]
    started = clock.perf_counter()
    for _ in range(1000):
        choose_date(candidates, NOW)
    assert clock.perf_counter() - started < 1.0
