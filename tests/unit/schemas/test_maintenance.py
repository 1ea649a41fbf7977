"""Maintenance windows: Alertmanager's time_intervals semantics, one-off windows, services."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.maintenance import MaintenanceWindow, TimeInterval, service_matches


def _at(*parts: int, zone: Any = UTC) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


# 2026-05-02 is a Saturday; Europe/Berlin is UTC+2 in May, UTC+1 in January.
CASES: list[tuple[str, dict[str, Any], float, bool]] = [
    ("no fields: always", {}, _at(2026, 5, 2, 12, 0), True),
    ("time, start inclusive", {"times": [{"start_time": "02:00", "end_time": "04:00"}]},
     _at(2026, 5, 2, 2, 0), True),
    ("time, end exclusive", {"times": [{"start_time": "02:00", "end_time": "04:00"}]},
     _at(2026, 5, 2, 4, 0), False),
    ("24:00 ends the day", {"times": [{"start_time": "22:00", "end_time": "24:00"}]},
     _at(2026, 5, 2, 23, 59), True),
    ("weekday name", {"weekdays": ["saturday"]}, _at(2026, 5, 2, 12), True),
    ("weekday range", {"weekdays": ["monday:friday"]}, _at(2026, 5, 2, 12), False),
    ("weekday range, inclusive end", {"weekdays": ["Monday:Saturday"]}, _at(2026, 5, 2, 12), True),
    ("day of month from the end", {"days_of_month": ["-1"]}, _at(2026, 5, 31, 12), True),
    ("day of month, not the last", {"days_of_month": ["-1"]}, _at(2026, 5, 30, 12), False),
    ("leap February's last day", {"days_of_month": ["-1"], "months": ["february"]},
     _at(2028, 2, 29, 12), True),
    ("month number range", {"months": ["4:6"]}, _at(2026, 5, 2, 12), True),
    ("year", {"years": ["2027:2030"]}, _at(2026, 5, 2, 12), False),
    ("every field must match", {"weekdays": ["saturday"], "months": ["june"]},
     _at(2026, 5, 2, 12), False),
    ("location: Berlin's 02:30 is UTC 00:30 in May",
     {"times": [{"start_time": "02:00", "end_time": "03:00"}], "location": "Europe/Berlin"},
     _at(2026, 5, 2, 0, 30), True),
    ("location: Berlin's 02:30 is UTC 01:30 in January",
     {"times": [{"start_time": "02:00", "end_time": "03:00"}], "location": "Europe/Berlin"},
     _at(2026, 1, 3, 0, 30), False),
    ("location shifts the weekday too",
     {"weekdays": ["sunday"], "location": "Pacific/Auckland"}, _at(2026, 5, 2, 13, 0), True),
]  # fmt: skip


@pytest.mark.parametrize(("name", "fields", "at", "inside"), CASES, ids=[c[0] for c in CASES])
def test_an_interval_contains_an_instant_as_alertmanager_reads_it(
    name: str, fields: dict[str, Any], at: float, inside: bool
) -> None:
    assert TimeInterval.model_validate(fields).contains(at) is inside


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"weekdays": ["funday"]}, "weekdays", "expected a name (monday"),
        ({"weekdays": ["friday:monday"]}, "weekdays", "from first to last"),
        ({"days_of_month": ["0"]}, "days_of_month", "from -31 to 31"),
        ({"days_of_month": ["-3:5"]}, "days_of_month", "from first to last"),
        ({"months": ["13"]}, "months", "from 1 to 12"),
        ({"times": [{"start_time": "04:00", "end_time": "02:00"}]}, "times.0", "after start_time"),
        ({"times": [{"start_time": "4am", "end_time": "05:00"}]}, "times.0.start_time", "HH:MM"),
        ({"location": "Mars/Olympus"}, "location", "IANA time zone"),
        ({"location": "../../etc/passwd"}, "location", "IANA time zone"),
    ],
)
def test_a_bad_interval_names_the_field_and_why(
    fields: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TimeInterval.model_validate(fields)
    [error] = caught.value.errors()
    assert ".".join(str(p) for p in error["loc"]) == field and says in error["msg"]


def test_a_one_off_window_is_on_from_its_start_until_its_end() -> None:
    window = MaintenanceWindow(
        name="load-test",
        starts_at=datetime(2026, 5, 2, 10, tzinfo=UTC),
        ends_at=datetime(2026, 5, 2, 11, tzinfo=UTC),
    )
    assert [window.active(_at(2026, 5, 2, h, m)) for h, m in ((9, 59), (10, 0), (11, 0))] == [
        False,
        True,
        False,
    ]
    assert window.notifications == "mute" and window.hold_automation and window.covers("any")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "expected time_intervals (recurring) or starts_at and ends_at"),
        ({"starts_at": "2026-05-02T10:00:00Z"}, "needs both starts_at and ends_at"),
        (
            {"starts_at": "2026-05-02T10:00:00Z", "ends_at": "2026-05-02T09:00:00Z"},
            "expected a time after starts_at",
        ),
        ({"starts_at": "2026-05-02T10:00:00", "ends_at": "2026-05-02T11:00:00Z"}, "time zone"),
        (
            {"time_intervals": [{}], "starts_at": "2026-05-02T10:00:00Z",
             "ends_at": "2026-05-02T11:00:00Z"},
            "not both",
        ),
        ({"time_intervals": [{}], "services": ["re:("]}, "bad regular expression"),
        ({"time_intervals": [{}], "notifications": "loud"}, "'mute' or 'send'"),
    ],
)  # fmt: skip
def test_a_window_is_recurring_or_once_and_says_what_is_wrong(
    fields: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        MaintenanceWindow.model_validate({"name": "w", **fields})


@pytest.mark.parametrize(
    ("pattern", "service", "hit"),
    [
        ("chat-api", "chat-api", True),
        ("chat-api", "chat-api-2", False),
        ("chat-*", "chat-api", True),
        ("re:(chat|search)-api", "search-api", True),
        ("re:chat", "chat-api", False),  # a full match, as the policy's matchers
    ],
)
def test_services_match_as_the_policys_matchers_do(pattern: str, service: str, hit: bool) -> None:
    assert service_matches(pattern, service) is hit
