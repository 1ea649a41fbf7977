"""Counters of stage 1, read by the health probe and /metrics (names are Prometheus-ready)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["AggregatorMetrics"]


@dataclass
class AggregatorMetrics:
    # A record re-read after a restart or rebalance (to rebuild the open panes) was counted by
    # the process that handled it first: it counts as replayed only, so that the counters
    # summed over the life of a group count each record once.
    events: int = 0  # records consumed (replayed ones excluded)
    accepted: int = 0  # events added to a pane (replayed ones excluded)
    replayed: int = 0  # records re-read to rebuild open panes
    panes: int = 0  # panes published (the first revision of each: on time, or late)
    refinements: int = 0  # later revisions of a published pane (late events counted)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by dlq.code (not replayed)
    truncated: Counter[str] = field(default_factory=Counter)  # entries the pane caps cut, by list
    transactions: int = 0
    transaction_seconds: float = 0.0  # wall time inside transactions (overlaps processing)
    transaction_max_seconds: float = 0.0
    batches: int = 0

    def transaction_time(self, seconds: float) -> None:
        self.transactions += 1
        self.transaction_seconds += seconds
        self.transaction_max_seconds = max(self.transaction_max_seconds, seconds)

    def snapshot(self) -> dict[str, object]:
        return {
            "events": self.events,
            "accepted": self.accepted,
            "replayed": self.replayed,
            "panes": self.panes,
            "refinements": self.refinements,
            "dead_letters": dict(self.dead_letters),
            "truncated": dict(self.truncated),
            "transactions": self.transactions,
            "transaction_seconds": round(self.transaction_seconds, 3),
            "transaction_max_seconds": round(self.transaction_max_seconds, 3),
            "batches": self.batches,
        }
