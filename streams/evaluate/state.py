"""The alert state machine: one pure function, ``step(record, observation, timing, now)``.

States (per rule and scope), in the plan's terms::

    inactive ──breach──▶ pending ──breached for `for`──▶ firing ──clear for
       ▲                   │                              │  `keep_firing_for`──▶ resolved
       └──────clear────────┘                              │
    any ──too few samples──▶ no_data ──data back──▶ inactive (or resolved / firing, when
                                                    it was firing before the data stopped)

``for = 0`` fires on the first breach; ``keep_firing_for`` counts from the first clear
evaluation. A firing alert's turns between breaching and held are published too (``Reason.HELD``,
``Reason.BREACHING_AGAIN``, docs/design.md record 20); what ``no_data`` does to a pending or
firing alert: record 11. The clock is the event time of the pane stream.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal, Protocol

from schemas.decisions import AlertState

__all__ = ["AlertRecord", "Reason", "Status", "Timing", "step"]

Status = Literal["breach", "clear", "no_data"]


class Timing(Protocol):
    @property
    def for_ms(self) -> int: ...

    @property
    def keep_firing_for_ms(self) -> int: ...


class Reason(StrEnum):
    """Why the record is what it is after a step; logged and carried by the decision."""

    CLEAR = "clear"
    PENDING_STARTED = "breach started, pending"
    STILL_PENDING = "still breaching, pending"
    FIRED_AT_ONCE = "breach, fires at once (for = 0)"
    PENDING_ELAPSED = "breached for the whole pending time"
    BREACH_ENDED = "breach ended before the pending time"
    STILL_FIRING = "still breaching"
    HELD = "clear, held firing by keep_firing_for"
    CLEARING = "clear, within keep_firing_for"
    BREACHING_AGAIN = "breaching again within keep_firing_for"
    RECOVERED = "clear for keep_firing_for"
    STAYS_RESOLVED = "still clear after resolving"
    DATA_LOST = "too few samples"
    STILL_NO_DATA = "still too few samples"
    DATA_BACK = "samples back, clear"
    CLEARING_AFTER_NO_DATA = "samples back after firing, clear within keep_firing_for"
    RECOVERED_AFTER_NO_DATA = "samples back after firing, clear for keep_firing_for"
    FIRING_AFTER_NO_DATA = "samples back, still breaching"


@dataclass(frozen=True)
class AlertRecord:
    """What the evaluator remembers about one (rule, scope)."""

    state: AlertState = "inactive"
    since_ms: int = 0  # when the current state began (event time)
    pending_since_ms: int | None = None  # when the current breach began
    clear_since_ms: int | None = None  # firing, or no_data after firing: first clear one
    was_firing: bool = False  # no_data: it was firing when the data stopped
    sequence: int = 0  # decisions published so far: state changes, and a firing alert's turns

    @property
    def held(self) -> bool:
        """Firing, but clear on its latest window: kept firing by ``keep_firing_for`` only."""
        return self.state == "firing" and self.clear_since_ms is not None

    @property
    def active(self) -> bool:
        """Pending or firing: a condition the service is in right now."""
        return self.state in ("pending", "firing")


def _moved(record: AlertRecord, state: AlertState, now: int, **changes: object) -> AlertRecord:
    return replace(
        record,
        state=state,
        since_ms=now,
        sequence=record.sequence + 1,
        **changes,  # type: ignore[arg-type]
    )


def _breach(record: AlertRecord, timing: Timing, now: int) -> tuple[AlertRecord, Reason]:
    state = record.state
    if state == "firing":
        if record.clear_since_ms is None:
            return record, Reason.STILL_FIRING
        again = replace(record, clear_since_ms=None, sequence=record.sequence + 1)
        return again, Reason.BREACHING_AGAIN
    if state == "no_data" and record.was_firing:
        fired = _moved(record, "firing", now, clear_since_ms=None, was_firing=False)
        return fired, Reason.FIRING_AFTER_NO_DATA
    started = record.pending_since_ms if state == "pending" else None
    since = now if started is None else started
    if now - since >= timing.for_ms:
        reason = Reason.FIRED_AT_ONCE if state != "pending" else Reason.PENDING_ELAPSED
        fired = _moved(record, "firing", now, pending_since_ms=since, clear_since_ms=None)
        return replace(fired, was_firing=False), reason
    if state == "pending":
        return record, Reason.STILL_PENDING
    pending = _moved(record, "pending", now, pending_since_ms=now, was_firing=False)
    return pending, Reason.PENDING_STARTED


def _clear(record: AlertRecord, timing: Timing, now: int) -> tuple[AlertRecord, Reason]:
    state = record.state
    if state == "firing":
        clear_since = now if record.clear_since_ms is None else record.clear_since_ms
        if now - clear_since >= timing.keep_firing_for_ms:
            return _moved(record, "resolved", now, clear_since_ms=None), Reason.RECOVERED
        if record.clear_since_ms is None:
            held = replace(record, clear_since_ms=now, sequence=record.sequence + 1)
            return held, Reason.HELD
        return record, Reason.CLEARING
    if state == "pending":
        return _moved(record, "inactive", now, pending_since_ms=None), Reason.BREACH_ENDED
    if state == "no_data":
        if record.was_firing:  # the same hysteresis as a firing alert's, from the data's return
            clear_since = now if record.clear_since_ms is None else record.clear_since_ms
            if now - clear_since >= timing.keep_firing_for_ms:
                resolved = _moved(record, "resolved", now, was_firing=False, clear_since_ms=None)
                return resolved, Reason.RECOVERED_AFTER_NO_DATA
            return replace(record, clear_since_ms=clear_since), Reason.CLEARING_AFTER_NO_DATA
        return _moved(record, "inactive", now), Reason.DATA_BACK
    if state == "resolved":
        return record, Reason.STAYS_RESOLVED
    return record, Reason.CLEAR


def _no_data(record: AlertRecord, now: int) -> tuple[AlertRecord, Reason]:
    if record.state == "no_data":  # a clear stretch after firing starts over when data goes
        if record.clear_since_ms is not None:
            return replace(record, clear_since_ms=None), Reason.STILL_NO_DATA
        return record, Reason.STILL_NO_DATA
    was_firing = record.state == "firing"
    lost = _moved(
        record, "no_data", now, pending_since_ms=None, clear_since_ms=None, was_firing=was_firing
    )
    return lost, Reason.DATA_LOST


def step(
    record: AlertRecord, status: Status, timing: Timing, now: int
) -> tuple[AlertRecord, Reason]:
    """The record after one evaluation at event time ``now`` (ms), and why.

    A changed ``sequence`` means a decision to publish: the state changed, or a firing alert
    turned between breaching and held.
    """
    if status == "no_data":
        return _no_data(record, now)
    if status == "breach":
        return _breach(record, timing, now)
    return _clear(record, timing, now)
