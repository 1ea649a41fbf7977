"""Maintenance windows, wire version 1: when automation holds, and whether the window is on now.

The policy file (``maintenance:``) and the HTTP API (``/maintenance-windows``) both write
windows in this one model, so it lives at the bottom layer: the policy loader (streams) and
the responder (handlers) validate and read the same thing. A recurring window uses
Alertmanager's ``time_intervals``, so teams can copy theirs. The fields and how an interval
matches an instant: docs/policy.md, "Maintenance windows and dry run"; what a window does:
docs/response.md, "Maintenance windows and automation holds".
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.timestamps import Instant

__all__ = [
    "AutomationRecord",
    "HoldCauseRecord",
    "HoldRecord",
    "HoldReleaseRecord",
    "MaintenanceWindow",
    "Notifications",
    "TimeInterval",
    "TimeRange",
    "WindowRecord",
    "service_matches",
]

Notifications = Literal["mute", "send"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = tuple(name.lower() for name in calendar.month_name[1:])
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
WindowName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]


def _as_tuple(value: Any) -> Any:
    """One entry or a list; numbers (``months: [3, 4]``) as the text they are written as."""
    items = (value,) if isinstance(value, str | int) else value
    if not isinstance(items, list | tuple):
        return items
    return tuple(str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in items)


Entries = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class TimeRange(_Model):
    """A stretch of the day, start inclusive and end exclusive (``24:00`` ends at midnight)."""

    start_time: str = Field(description="HH:MM, 00:00 to 23:59")
    end_time: str = Field(description="HH:MM, after start_time; 24:00 is the day's end")

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise ValueError(f"expected a time of day HH:MM (00:00 to 24:00), got {value!r}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _minutes(self.end_time) <= _minutes(self.start_time):
            raise ValueError(
                f"end_time {self.end_time} must be after start_time {self.start_time} "
                "(a stretch past midnight is two ranges: …–24:00 and 00:00–…)"
            )
        return self

    def contains(self, minute_of_day: int) -> bool:
        return _minutes(self.start_time) <= minute_of_day < _minutes(self.end_time)


def _number(text: str, names: tuple[str, ...], low: int, high: int, what: str) -> int:
    """A weekday/month name (its 1-based position) or a number, checked against its range."""
    word = text.strip().lower()
    if word in names:
        return names.index(word) + 1
    try:
        value = int(word)
    except ValueError:
        named = f"a name ({', '.join(names)}) or " if names else ""
        raise ValueError(f"expected {named}a number for {what}, got {text!r}") from None
    if not low <= value <= high or value == 0:
        raise ValueError(f"expected {what} from {low} to {high}, got {value}")
    return value


def _ranges(
    entries: tuple[str, ...], names: tuple[str, ...], low: int, high: int, what: str
) -> tuple[tuple[int, int], ...]:
    """Each entry as an inclusive (first, last) pair: ``"monday:friday"``, ``"3"``."""
    found = []
    for entry in entries:
        first, _, last = str(entry).partition(":")
        a = _number(first, names, low, high, what)
        b = _number(last, names, low, high, what) if last else a
        if (a < 0) != (b < 0) or b < a:
            raise ValueError(f"expected a range from first to last {what}, got {entry!r}")
        found.append((a, b))
    return tuple(found)


class TimeInterval(_Model):
    """One of a recurring window's intervals (Alertmanager's ``time_interval``)."""

    times: tuple[TimeRange, ...] = ()
    weekdays: Entries = ()
    days_of_month: Entries = ()
    months: Entries = ()
    years: Entries = ()
    location: str = Field(default="UTC", description="IANA time zone of times and days")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _ranges(value, WEEKDAYS, 1, 7, "weekday")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _ranges(value, (), -31, 31, "day of month")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _ranges(value, MONTHS, 1, 12, "month")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _ranges(value, (), 1970, 9999, "year")
        return value

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone (UTC, Europe/Berlin …), got {value!r}"
            ) from None
        return value

    @cached_property
    def _zone_info(self) -> ZoneInfo:
        return ZoneInfo(self.location)

    def contains(self, at: float) -> bool:
        """Whether the instant ``at`` (epoch s) is inside this interval, in its time zone."""
        local = datetime.fromtimestamp(at, UTC).astimezone(self._zone_info)
        return (
            _any(self.times, lambda r: r.contains(local.hour * 60 + local.minute))
            and _within(_ranges(self.weekdays, WEEKDAYS, 1, 7, ""), local.isoweekday())
            and _within_day(_ranges(self.days_of_month, (), -31, 31, ""), local)
            and _within(_ranges(self.months, MONTHS, 1, 12, ""), local.month)
            and _within(_ranges(self.years, (), 1970, 9999, ""), local.year)
        )


def _any(items: tuple[TimeRange, ...], test: Any) -> bool:
    return not items or any(test(item) for item in items)


def _within(ranges: tuple[tuple[int, int], ...], value: int) -> bool:
    return not ranges or any(a <= value <= b for a, b in ranges)


def _within_day(ranges: tuple[tuple[int, int], ...], local: datetime) -> bool:
    """Days counted from the month's start (1…) or its end (-1 is the last day)."""
    if not ranges:
        return True
    length = calendar.monthrange(local.year, local.month)[1]
    day, from_end = local.day, local.day - length - 1
    return any(a <= (day if a > 0 else from_end) <= b for a, b in ranges)


def service_matches(pattern: str, service: str) -> bool:
    """The policy's matcher syntax: exact, a glob with ``*``/``?``, or ``re:`` a regex."""
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], service) is not None
    if "*" in pattern or "?" in pattern:
        return fnmatchcase(service, pattern)
    return pattern == service


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (e.g. 2026-05-01T02:00:00Z)")
    return value


class MaintenanceWindow(_Model):
    """A maintenance window: recurring (``time_intervals``) or once (``starts_at``–``ends_at``)."""

    name: WindowName
    services: Entries = Field(
        default=("*",), min_length=1, description="service patterns: exact, glob, re:"
    )
    time_intervals: tuple[TimeInterval, ...] = ()
    starts_at: Instant | None = Field(default=None, description="one-off: from (RFC 3339)")
    ends_at: Instant | None = Field(default=None, description="one-off: until (exclusive)")
    notifications: Notifications = Field(
        default="mute", description="mute: pages, chat and status page wait out the window"
    )
    hold_automation: bool = Field(
        default=True, description="breaker, rollback, restore and bot restart are held"
    )
    comment: str = Field(default="", max_length=4000)

    @field_validator("services")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern:
                raise ValueError("expected a service name or pattern, got an empty one")
            if pattern.startswith("re:"):
                try:
                    re.compile(pattern[3:])
                except re.error as error:
                    raise ValueError(f"bad regular expression in {pattern!r}: {error}") from None
        return value

    @field_validator("starts_at")
    @classmethod
    def _starts_aware(cls, value: datetime | None) -> datetime | None:
        return _aware(value, "starts_at")

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        starts = info.data.get("starts_at")
        if value is not None and starts is not None and value <= starts:
            raise ValueError(f"expected a time after starts_at ({starts.isoformat()})")
        return _aware(value, "ends_at")

    @model_validator(mode="after")
    def _recurring_or_once(self) -> MaintenanceWindow:
        once = self.starts_at is not None or self.ends_at is not None
        if once and self.time_intervals:
            raise ValueError("either time_intervals (recurring) or starts_at/ends_at, not both")
        if not once and not self.time_intervals:
            raise ValueError("expected time_intervals (recurring) or starts_at and ends_at")
        if once and (self.starts_at is None or self.ends_at is None):
            raise ValueError("a one-off window needs both starts_at and ends_at")
        return self

    def active(self, now: float) -> bool:
        if self.starts_at is not None and self.ends_at is not None:
            return self.starts_at.timestamp() <= now < self.ends_at.timestamp()
        return any(interval.contains(now) for interval in self.time_intervals)

    def covers(self, service: str) -> bool:
        return any(service_matches(pattern, service) for pattern in self.services)


# --- as the HTTP API serves them ---------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WindowRecord(_Record):
    """A maintenance window as ``/maintenance-windows`` serves it."""

    v: Literal[1] = 1
    id: str = Field(description="`policy:<name>` for the policy file's, `mw_…` for the API's")
    source: Literal["policy", "api"] = Field(description="policy windows change in the file")
    active: bool = Field(description="on now")
    created_by: str
    created_at: datetime | None = None
    window: MaintenanceWindow


class HoldRecord(_Record):
    """A global automation hold as ``/automation-holds`` serves it."""

    v: Literal[1] = 1
    id: str
    reason: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None = None
    lifted_by: str | None = None


class HoldCauseRecord(_Record):
    """What holds an incident's automation: a window, a global hold, or a silence."""

    kind: Literal["window", "hold", "silence"]
    id: str
    name: str
    reason: str
    by: str = Field(description="who made the window, hold or silence")


class HoldReleaseRecord(_Record):
    cause: str = Field(description="`window:<id>`, `hold:<id>` or `silence:<id>`")
    by: str
    at: float = Field(description="epoch seconds")
    note: str = ""


class AutomationRecord(_Record):
    """An open incident's automation now: held (and by what), or free to run."""

    held: bool = Field(description="its control actions and rollback phases wait")
    held_by: list[HoldCauseRecord] = Field(default_factory=list)
    released: list[HoldReleaseRecord] = Field(
        default_factory=list, description="holds an operator released it from"
    )
    dry_run: bool = Field(default=False, description="a trial: actions recorded, none sent")
