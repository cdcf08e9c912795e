"""The one rule for a time a person types (CLI --from/--to/--at, the screen's search, hold requests):
firmware.clock.parse_typed_time, tested on its own and through each entry point's wrapper."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

import pytest

from firmware.clock import TimeTextError, parse_typed_time
from firmware.retention.periods import parse_when
from firmware.screen.fields import BadInput, utc_time

UTC = timezone.utc


@pytest.mark.parametrize("typed, end_of_day, expected", [
    ("2026-11-30", False, datetime(2026, 11, 30, tzinfo=UTC)),
    ("2026-11-30", True, datetime(2026, 12, 1, tzinfo=UTC)),                 # a date as an end: the whole day
    ("  2026-11-30  ", False, datetime(2026, 11, 30, tzinfo=UTC)),
    ("2026-11-30T14:00:00Z", False, datetime(2026, 11, 30, 14, tzinfo=UTC)),
    ("2026-11-30T14:00:00Z", True, datetime(2026, 11, 30, 14, tzinfo=UTC)),  # a time is that moment
    ("2026-11-30T09:00:00-05:00", False, datetime(2026, 11, 30, 14, tzinfo=UTC)),
    ("2026-11-30T14:00:00.250+00:00", False, datetime(2026, 11, 30, 14, 0, 0, 250_000, tzinfo=UTC)),
    ("2026-12-31", True, datetime(2027, 1, 1, tzinfo=UTC)),
])
def test_a_typed_time_is_read_as_utc(typed, end_of_day, expected):
    got = parse_typed_time(typed, end_of_day=end_of_day)
    assert got == expected and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("typed, words", [
    ("2026-11-30T14:00:00", "give a time zone"),          # local time of which zone: refused, never guessed
    ("2026-11-30 14:00", "give a time zone"),
    ("yesterday", "not a date"),
    ("2026-13-01", "not a date"),
    ("", "not a date"),
    ("0001-01-01T00:00:00+01:00", "out of range"),        # before the first UTC instant Python holds
    ("9999-12-31T23:59:59-01:00", "out of range"),
])
def test_a_time_that_cannot_be_read_is_refused_with_words(typed, words):
    with pytest.raises(TimeTextError, match=words):
        parse_typed_time(typed)


def test_the_last_day_as_an_end_is_out_of_range_not_a_crash():
    with pytest.raises(TimeTextError, match="out of range"):
        parse_typed_time("9999-12-31", end_of_day=True)
    assert parse_typed_time("9999-12-31") == datetime(9999, 12, 31, tzinfo=UTC)


def test_where_dates_are_not_taken_a_date_asks_for_a_time_with_its_zone():
    with pytest.raises(TimeTextError, match="give a time zone") as refused:
        parse_typed_time("2026-11-30", dates=False)
    assert "YYYY-MM-DD" not in str(refused.value)


def test_the_cli_and_the_screen_read_the_same_text_the_same_way():
    for typed in ("2026-11-30", "2026-11-30T09:00:00-05:00"):
        for end in (False, True):
            assert parse_when(typed, end) == utc_time({"t": typed}, "t", end_of_day=end) == \
                parse_typed_time(typed, end_of_day=end)
    with pytest.raises(argparse.ArgumentTypeError, match="give a time zone"):
        parse_when("2026-11-30T14:00:00")
    with pytest.raises(BadInput, match="^to: give a time zone"):
        utc_time({"to": "2026-11-30T14:00:00"}, "to")
    assert utc_time({}, "from") is None and utc_time({"from": "  "}, "from") is None
