"""The alert state machine, table by table: every transition and its reason."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from streams.evaluate.state import AlertRecord, Reason, Status, step


@dataclass(frozen=True)
class Timing:
    for_ms: int = 0
    keep_firing_for_ms: int = 0


NOW = 100_000
PENDING_30S = Timing(for_ms=30_000)
KEEP_60S = Timing(keep_firing_for_ms=60_000)

inactive = AlertRecord("inactive", since_ms=0)
pending = AlertRecord("pending", since_ms=80_000, pending_since_ms=80_000, sequence=1)
firing = AlertRecord("firing", since_ms=90_000, pending_since_ms=60_000, sequence=2)
clearing = AlertRecord(
    "firing", since_ms=90_000, pending_since_ms=60_000, clear_since_ms=50_000, sequence=2
)
resolved = AlertRecord("resolved", since_ms=90_000, sequence=3)
no_data = AlertRecord("no_data", since_ms=90_000, sequence=1)
no_data_after_firing = AlertRecord("no_data", since_ms=90_000, was_firing=True, sequence=3)

# (name, record, status, timing, expected state, reason, state changed)
TABLE: list[tuple[str, AlertRecord, Status, Timing, str, Reason]] = [
    ("clear stays inactive", inactive, "clear", Timing(), "inactive", Reason.CLEAR),
    ("breach, for 0: fires", inactive, "breach", Timing(), "firing", Reason.FIRED_AT_ONCE),
    ("breach, for 30s: pending", inactive, "breach", PENDING_30S, "pending",
     Reason.PENDING_STARTED),
    ("pending 20s of 30s", pending, "breach", PENDING_30S, "pending", Reason.STILL_PENDING),
    ("pending exactly `for`: fires", pending, "breach", Timing(for_ms=20_000), "firing",
     Reason.PENDING_ELAPSED),
    ("pending, clear: back to inactive", pending, "clear", PENDING_30S, "inactive",
     Reason.BREACH_ENDED),
    ("firing, breach: stays", firing, "breach", KEEP_60S, "firing", Reason.STILL_FIRING),
    ("firing, first clear: held", firing, "clear", KEEP_60S, "firing", Reason.HELD),
    ("firing held, breach: breaching again", clearing, "breach", KEEP_60S, "firing",
     Reason.BREACHING_AGAIN),
    ("firing, clear 50s of 60s: held", clearing, "clear", Timing(keep_firing_for_ms=50_001),
     "firing", Reason.CLEARING),
    ("firing, clear exactly 50s: resolves", clearing, "clear",
     Timing(keep_firing_for_ms=50_000), "resolved", Reason.RECOVERED),
    ("firing, keep 0: resolves at once", firing, "clear", Timing(), "resolved",
     Reason.RECOVERED),
    ("resolved, clear: stays", resolved, "clear", Timing(), "resolved", Reason.STAYS_RESOLVED),
    ("resolved, breach: fires again", resolved, "breach", Timing(), "firing",
     Reason.FIRED_AT_ONCE),
    ("resolved, breach, for 30s: pending", resolved, "breach", PENDING_30S, "pending",
     Reason.PENDING_STARTED),
    ("inactive, too few samples", inactive, "no_data", Timing(), "no_data", Reason.DATA_LOST),
    ("pending, too few samples", pending, "no_data", PENDING_30S, "no_data", Reason.DATA_LOST),
    ("firing, too few samples", firing, "no_data", KEEP_60S, "no_data", Reason.DATA_LOST),
    ("no data stays", no_data, "no_data", Timing(), "no_data", Reason.STILL_NO_DATA),
    ("no data, clear: inactive", no_data, "clear", Timing(), "inactive", Reason.DATA_BACK),
    ("no data, breach: pending", no_data, "breach", PENDING_30S, "pending",
     Reason.PENDING_STARTED),
    ("no data after firing, first clear: held", no_data_after_firing, "clear", KEEP_60S,
     "no_data", Reason.CLEARING_AFTER_NO_DATA),
    ("no data after firing, clear for keep: resolved",
     replace(no_data_after_firing, clear_since_ms=NOW - 60_000), "clear", KEEP_60S,
     "resolved", Reason.RECOVERED_AFTER_NO_DATA),
    ("no data after firing, keep 0: resolved at once", no_data_after_firing, "clear", Timing(),
     "resolved", Reason.RECOVERED_AFTER_NO_DATA),
    ("no data after firing, breach: firing", no_data_after_firing, "breach", PENDING_30S,
     "firing", Reason.FIRING_AFTER_NO_DATA),
]  # fmt: skip


@pytest.mark.parametrize(
    ("record", "status", "timing", "state", "reason"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_transition(
    record: AlertRecord, status: Status, timing: Timing, state: str, reason: Reason
) -> None:
    after, why = step(record, status, timing, NOW)
    assert (after.state, why) == (state, reason)
    changed = after.state != record.state
    turned = reason in (Reason.HELD, Reason.BREACHING_AGAIN)  # published, same state
    assert after.sequence == record.sequence + (1 if changed or turned else 0)
    assert after.since_ms == (NOW if changed else record.since_ms)


def test_pending_keeps_the_time_the_breach_began() -> None:
    after, _ = step(pending, "breach", PENDING_30S, NOW)
    assert after.pending_since_ms == 80_000
    fired, _ = step(after, "breach", PENDING_30S, 110_000)
    assert fired.state == "firing"
    assert fired.pending_since_ms == 80_000


def test_keep_firing_for_counts_from_the_first_clear_evaluation() -> None:
    first, _ = step(firing, "clear", KEEP_60S, NOW)
    assert first.clear_since_ms == NOW
    held, _ = step(first, "clear", KEEP_60S, NOW + 59_999)
    assert held.state == "firing"
    again, _ = step(held, "breach", KEEP_60S, NOW + 59_999)
    assert again.clear_since_ms is None  # a new breach restarts the hysteresis
    resolved_, _ = step(held, "clear", KEEP_60S, NOW + 60_000)
    assert resolved_.state == "resolved"


def test_firing_through_no_data_remembers_it_was_firing() -> None:
    lost, _ = step(firing, "no_data", KEEP_60S, NOW)
    assert lost.was_firing
    back, reason = step(lost, "breach", PENDING_30S, NOW + 1000)
    assert (back.state, reason) == ("firing", Reason.FIRING_AFTER_NO_DATA)
    assert not back.was_firing


def test_unchanged_records_are_equal_so_nothing_is_written() -> None:
    for record, status in ((inactive, "clear"), (no_data, "no_data"), (resolved, "clear")):
        after, _ = step(record, status, Timing(), NOW)  # type: ignore[arg-type]
        assert after == record
