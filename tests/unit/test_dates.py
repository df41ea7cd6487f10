"""Publication dates: parsing, choosing, and conversion to the output time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.dates import (
    best_metadata_date,
    find_date_in_page,
    parse_date_text,
    to_output_zone,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
# Zones far apart on both sides of UTC, where a wrong conversion would change the day.
ZONES = ["America/Sao_Paulo", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Tokyo", "UTC"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-12-06T08:00:00Z", datetime(2023, 12, 6, 8, 0, tzinfo=UTC)),
        (
            "2023-12-06T10:46:00+02:00",
            datetime(2023, 12, 6, 10, 46, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2024-03-31T16:59:00.1234567Z",
            datetime(2024, 3, 31, 16, 59, 0, 123456, tzinfo=UTC),
        ),
        ("Wed, 06 Dec 2023 08:00:00 GMT", datetime(2023, 12, 6, 8, 0, tzinfo=UTC)),
        ("2026-04-20T14:09:42", datetime(2026, 4, 20, 14, 9, 42)),
        ("2023-12-06", date(2023, 12, 6)),
        # A zone-less midnight is a day in disguise: kept as a day, so it cannot move.
        ("2024-04-22T00:00:00", date(2024, 4, 22)),
        ("  2023-12-06\n", date(2023, 12, 6)),
    ],
)
def test_parse_date_text_reads_metadata_formats(text: str, expected: datetime | date) -> None:
    assert parse_date_text(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2023-13-45", "1761135952", "soon"])
def test_parse_date_text_rejects_what_is_not_a_date(text: str) -> None:
    assert parse_date_text(text) is None


def test_google_news_time_becomes_sao_paulo_time() -> None:
    # DESIGN section 2: a pubDate of 08:00 GMT is written as 05:00:00-03:00.
    converted = to_output_zone(datetime(2023, 12, 6, 8, 0, tzinfo=UTC), SAO_PAULO)
    assert converted.isoformat(sep=" ") == "2023-12-06 05:00:00-03:00"


def test_day_only_value_stays_on_its_day_at_midnight() -> None:
    converted = to_output_zone(date(2023, 12, 6), SAO_PAULO)
    assert converted.isoformat(sep=" ") == "2023-12-06 00:00:00-03:00"


def test_naive_page_time_is_read_as_wall_clock_in_output_zone() -> None:
    converted = to_output_zone(datetime(2026, 4, 20, 14, 9, 42), SAO_PAULO)
    assert converted.isoformat(sep=" ") == "2026-04-20 14:09:42-03:00"


@given(day=st.dates(min_value=date(1995, 1, 1), max_value=date(2100, 12, 31)))
@pytest.mark.parametrize("zone_name", ZONES)
def test_day_only_values_never_change_day(zone_name: str, day: date) -> None:
    converted = to_output_zone(day, ZoneInfo(zone_name))
    assert converted.date() == day
    assert converted.time() == time(0, 0)
    assert converted.utcoffset() is not None


@given(day=st.dates(min_value=date(1995, 1, 1), max_value=date(2100, 12, 31)))
def test_day_only_strings_never_change_day(day: date) -> None:
    for text in (day.isoformat(), f"{day.isoformat()}T00:00:00"):
        value = parse_date_text(text)
        assert value is not None
        assert to_output_zone(value, SAO_PAULO).date() == day


@given(
    moment=st.datetimes(
        min_value=datetime(1995, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
@pytest.mark.parametrize("zone_name", ZONES)
def test_instants_are_converted_not_shifted(zone_name: str, moment: datetime) -> None:
    converted = to_output_zone(moment, ZoneInfo(zone_name))
    assert converted == moment
    assert converted.tzinfo == ZoneInfo(zone_name)


def test_first_plausible_candidate_wins() -> None:
    chosen = best_metadata_date(["1970-01-01T00:00:00Z", "2024-01-30T14:13:12Z"], NOW)
    assert chosen == datetime(2024, 1, 30, 14, 13, 12, tzinfo=UTC)


def test_dates_in_the_future_are_not_believed() -> None:
    assert best_metadata_date(["2030-05-01T10:00:00Z"], NOW) is None


def test_a_day_gives_way_to_a_time_on_the_same_day() -> None:
    chosen = best_metadata_date(["2024-04-22", "2024-04-22T06:00+02:00"], NOW)
    assert chosen == datetime(2024, 4, 22, 6, 0, tzinfo=timezone(timedelta(hours=2)))


def test_a_day_keeps_precedence_over_a_time_on_another_day() -> None:
    assert best_metadata_date(["2024-04-22", "2024-05-02T06:00+02:00"], NOW) == date(2024, 4, 22)


def test_htmldate_finds_a_date_printed_in_the_page() -> None:
    tree = lxml.html.fromstring(
        "<html><body><h1>Roadworks</h1><p class='date'>Published 2023-10-02</p>"
        "<p>The bridge closes for repairs next week, the council said.</p></body></html>"
    )
    assert find_date_in_page(tree, None, NOW) == date(2023, 10, 2)


def test_htmldate_does_not_invent_a_date() -> None:
    tree = lxml.html.fromstring(
        "<html><body><p>The bridge closes for repairs next week.</p></body></html>"
    )
    assert find_date_in_page(tree, None, NOW) is None
