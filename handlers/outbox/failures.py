"""Delivery failures by receiver: the one place they are counted.

Every failed attempt of every action (a retry or a give-up) is counted under its kind — the
receiver it went to — and opens or extends that receiver's *failing streak*, which its next
delivered action ends. The outbox dispatcher's health report (and so ``/metrics``:
``alertpipe_outbox_dispatcher_failures{receiver="page"}``) and the dead-pager watch
(``handlers.pager_watch``) read it here. Counts are this process's since it started; each
failure is also on its incident's timeline, which is durable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from handlers.outbox.ports import Claimed
from schemas.incidents import ActionKind

__all__ = ["ReceiverFailures", "Streak"]


@dataclass
class Streak:
    """A receiver failing since ``since`` (epoch s), with nothing delivered in between."""

    since: float
    failures: int = 0
    last_error: str | None = None
    incidents: dict[str, str] = field(default_factory=dict)  # waiting: id → title


@dataclass
class ReceiverFailures:
    counts: Counter[ActionKind] = field(default_factory=Counter)
    streaks: dict[ActionKind, Streak] = field(default_factory=dict)
    last_delivered_at: dict[ActionKind, float] = field(default_factory=dict)

    def failed(self, action: Claimed, error: str | None, now: float) -> None:
        self.counts[action.kind] += 1
        streak = self.streaks.setdefault(action.kind, Streak(now))
        streak.failures += 1
        streak.last_error = error
        streak.incidents[action.incident_id] = str(action.payload.get("title") or "")

    def delivered(self, action: Claimed, now: float) -> None:
        self.streaks.pop(action.kind, None)
        self.last_delivered_at[action.kind] = now

    def failing_for(self, kind: ActionKind, now: float) -> float:
        """How long ``kind``'s receiver has been failing (0: it is not)."""
        streak = self.streaks.get(kind)
        return 0.0 if streak is None else now - streak.since

    def report(self) -> dict[str, int]:
        return {kind: self.counts[kind] for kind in sorted(self.counts)}
