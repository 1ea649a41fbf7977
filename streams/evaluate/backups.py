"""What stage 2 remembers of a dataset's backups: enough to age them, whatever the window.

A backup schedule is judged on hours and days (a full backup every hour, an off-site copy
every 6 hours, a passed restore test every 7 days), far beyond the panes a service keeps. So
each dataset scope keeps a ``BackupTrack`` — the newest successful backup of each type, the
latest attempt of each type and whether it failed, the last passed restore test — updated
from its panes' backup and restore-test records in event-time order, checkpointed with the
service's state (``codec``) so a restart forgets nothing. The rules' metrics
(``streams.policy.metrics``: ``backup_age`` …) read it at each evaluation's event time.

Nothing of a kind on record is not "no data": it counts from when the dataset was first seen,
so a backup stream that stops — or never included off-site copies — ages like any other, and
is judged on its silence (the plan: silence is a breach).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.panes import BackupRecord, RestoreTestRecord

__all__ = ["BackupTrack", "after_backup", "after_restore_test", "age_ms", "apply_records"]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(frozen=True)
class BackupTrack:
    """One dataset's backups as far as the rules need them (epoch milliseconds)."""

    first_seen_ms: int
    newest_ms: Mapping[str, int] = field(default_factory=dict)  # type -> newest success taken
    succeeded: Mapping[str, int] = field(default_factory=dict)  # type -> successes on record
    latest_ms: Mapping[str, int] = field(default_factory=dict)  # type -> latest attempt taken
    failing: tuple[str, ...] = ()  # types whose latest attempt failed
    tested_ms: int | None = None  # when a restore test last passed
    tests_passed: int = 0

    def newest(self, kind: str | None = None) -> int | None:
        """When the newest successful backup (of ``kind``; None: of any type) was taken."""
        if kind is not None:
            return self.newest_ms.get(kind)
        return max(self.newest_ms.values(), default=None)

    def count(self, kind: str | None = None) -> int:
        return self.succeeded.get(kind, 0) if kind is not None else sum(self.succeeded.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "first_seen_ms": self.first_seen_ms,
            "newest_ms": dict(self.newest_ms),
            "succeeded": dict(self.succeeded),
            "latest_ms": dict(self.latest_ms),
            "failing": list(self.failing),
            "tested_ms": self.tested_ms,
            "tests_passed": self.tests_passed,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BackupTrack:
        return cls(
            first_seen_ms=int(raw["first_seen_ms"]),
            newest_ms={str(k): int(v) for k, v in raw.get("newest_ms", {}).items()},
            succeeded={str(k): int(v) for k, v in raw.get("succeeded", {}).items()},
            latest_ms={str(k): int(v) for k, v in raw.get("latest_ms", {}).items()},
            failing=tuple(str(k) for k in raw.get("failing", ())),
            tested_ms=None if raw.get("tested_ms") is None else int(raw["tested_ms"]),
            tests_passed=int(raw.get("tests_passed", 0)),
        )


def _seen(track: BackupTrack | None, ts: float) -> BackupTrack:
    if track is None:
        return BackupTrack(first_seen_ms=_ms(ts))
    return track


def after_backup(track: BackupTrack | None, backup: BackupRecord) -> BackupTrack:
    """The track after one backup report. The latest attempt of a type is the one taken last
    (a late report of an older backup does not undo a newer one's verdict)."""
    track = _seen(track, backup.ts)
    kind, taken = backup.type, _ms(backup.taken_at)
    if taken >= track.latest_ms.get(kind, taken):
        failing = tuple(t for t in track.failing if t != kind)
        if backup.status == "failed":
            failing = (*failing, kind)
        track = replace(track, latest_ms={**track.latest_ms, kind: taken}, failing=failing)
    if backup.status != "succeeded":
        return track
    newest = max(taken, track.newest_ms.get(kind, taken))
    return replace(
        track,
        newest_ms={**track.newest_ms, kind: newest},
        succeeded={**track.succeeded, kind: track.succeeded.get(kind, 0) + 1},
    )


def after_restore_test(track: BackupTrack | None, test: RestoreTestRecord) -> BackupTrack:
    """The track after one restore test report: a failed test proves nothing either way about
    when one last passed."""
    track = _seen(track, test.ts)
    if not test.ok:
        return track
    tested = max(_ms(test.ts), track.tested_ms or 0)
    return replace(track, tested_ms=tested, tests_passed=track.tests_passed + 1)


Record = BackupRecord | RestoreTestRecord


def apply_records(track: BackupTrack | None, records: Iterable[Record]) -> BackupTrack | None:
    """``track`` after ``records``, taken in event-time (report) order."""
    for record in sorted(records, key=lambda r: r.ts):
        if isinstance(record, BackupRecord):
            track = after_backup(track, record)
        else:
            track = after_restore_test(track, record)
    return track


def age_ms(track: BackupTrack, since_ms: int | None, at_ms: int) -> float:
    """How long before ``at_ms`` the thing happened (``since_ms``), or, when it never did
    on record, since the dataset was first seen (a lower bound, never "no data")."""
    return float(at_ms - (track.first_seen_ms if since_ms is None else since_ms))
