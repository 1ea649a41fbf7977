from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.timestamps import parse_timestamp, to_rfc3339

MOMENT = datetime(2026, 11, 25, 17, 0, 0, 125000, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (MOMENT, MOMENT),  # epoch seconds, float
        (int(MOMENT), int(MOMENT)),  # epoch seconds, int
        (round(MOMENT * 1000), MOMENT),  # epoch milliseconds
        (round(MOMENT * 1_000_000), MOMENT),  # epoch microseconds
        (round(MOMENT * 1_000_000_000), MOMENT),  # epoch nanoseconds
        ("2026-11-25T17:00:00.125Z", MOMENT),
        ("2026-11-25T18:00:00.125+01:00", MOMENT),
        ("2026-11-25t17:00:00.125z", MOMENT),  # RFC 3339 allows either case
        ("2026-11-25T17:00:00.1250009Z", MOMENT),  # any number of fraction digits
        ("2028-02-29T00:00:00Z", 1835395200.0),  # a leap day
        ("2000-02-29T00:00:00Z", 951782400.0),  # divisible by 400: a leap year
    ],
)
def test_accepted_forms(raw: object, expected: float) -> None:
    assert parse_timestamp(raw) == pytest.approx(expected, abs=1e-3)


@given(st.floats(min_value=1e9, max_value=4e9))
def test_milliseconds_are_never_read_as_seconds(seconds: float) -> None:
    as_ms = seconds * 1000
    assert parse_timestamp(as_ms) == pytest.approx(seconds, rel=1e-12)
    assert parse_timestamp(seconds) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("yesterday", "RFC 3339"),
        ("2026-11-25T17:00:00", "UTC offset"),
        (str(round(MOMENT * 1000)), "JSON number, not a string"),  # the schema says number
        (" 1795626000.5", "JSON number, not a string"),
        ("2026-11-25 17:00:00.125Z", "'T' between"),  # RFC 3339's date-time has a T
        ("2026-02-29T00:00:00Z", "a real date"),  # not a leap year
        ("2100-02-29T00:00:00Z", "a real date"),  # divisible by 100, not by 400
        ("2026-04-31T00:00:00Z", "a real date"),
        ("2026-11-25T17:00:60Z", "RFC 3339"),  # a leap second: Python has none
        ("0000-01-01T00:00:00Z", "RFC 3339"),  # Python has no year 0
        ("2026-11-25T17:00:00Z\n", "RFC 3339"),
        ("2026-11-25T17:00:00+0100", "RFC 3339"),
        ("20261125T170000Z", "RFC 3339"),
        ("２０２６-11-25T17:00:00Z", "RFC 3339"),  # full-width digits are not [0-9]
        (-5, "non-negative"),
        (253_402_300_800 * 10**9, "year 9999"),  # the first number too late even as ns
        (10**400, "year 9999"),  # no OverflowError
        (float("nan"), "finite"),
        (True, "boolean"),
        (None, "RFC 3339 text or a number"),
    ],
)
def test_rejected_forms_say_why(raw: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_timestamp(raw)


def test_rfc3339_round_trip() -> None:
    text = to_rfc3339(MOMENT)
    assert text == "2026-11-25T17:00:00.125Z"
    assert parse_timestamp(text) == pytest.approx(MOMENT, abs=1e-6)


def test_the_last_nanosecond_before_the_year_10000_is_accepted() -> None:
    assert parse_timestamp(253_402_300_800 * 10**9 - 10**6) == pytest.approx(253_402_300_799.999)
