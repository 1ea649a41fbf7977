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
        ("2026-11-25 17:00:00.125z", MOMENT),
        (str(round(MOMENT * 1000)), MOMENT),  # numeric text is read like a number
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
        (-5, "non-negative"),
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
