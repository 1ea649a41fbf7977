"""The outbox's storage port (asyncpg adapter: ``app.storage.outbox``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from handlers.actions import ACTIONS
from handlers.incidents.effects import TimelineEntry
from handlers.silences import Inhibitor, Silence
from schemas.incidents import ActionKind
from schemas.severity import Severity

__all__ = ["Claimed", "Missed", "OutboxStore", "PendingEvent", "Settlement"]


@dataclass(frozen=True)
class Claimed:
    """An action leased to this worker for one attempt (``attempts`` counts this one)."""

    id: int
    incident_id: str
    service: str
    kind: ActionKind
    key: str
    severity: Severity
    payload: Mapping[str, Any]
    attempts: int
    created_at: float
    labels: Mapping[str, str] = field(default_factory=dict)
    closing: bool = False
    incident_resolved_at: float | None = None
    dry_run: bool = False  # recorded as "would have sent", never sent
    held: bool = False  # it was held when claimed (its hold was recorded then)
    released: frozenset[str] = frozenset()  # the holds its incident was released from

    @property
    def notification(self) -> bool:
        return ACTIONS[self.kind].notification


@dataclass(frozen=True)
class Settlement:
    status: Literal["pending", "sent", "failed", "muted", "inhibited", "held", "dry_run"]
    reason: str
    next_at: float | None = None
    error: str | None = None
    timeline: TimelineEntry | None = None
    carried: tuple[int, ...] = ()  # sent: the failed notices (ids) this one delivered late


@dataclass(frozen=True)
class Missed:
    """A notice that failed for good and was not carried into a later one yet."""

    id: int
    incident_id: str
    key: str
    created_at: float
    text: str

    def as_payload(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "key": self.key, "at": self.created_at,
                "text": self.text}  # fmt: skip


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event_id: str
    service: str
    body: bytes


class OutboxStore(Protocol):
    async def claim(
        self, now: float, lease_s: float, limit: int, kinds: Collection[ActionKind]
    ) -> list[Claimed]:
        """Due actions of ``kinds`` (pending and due, or sending with an expired lease), oldest
        first, at most one per (incident, kind) so each receiver sees an incident's actions in
        order."""
        ...

    async def settle(self, action: Claimed, outcome: Settlement, now: float) -> None:
        """Record the attempt's outcome; a sent one also marks what it carried, with a note
        on each carried notice's incident."""
        ...

    async def missed(self, action: Claimed, *, same_incident: bool, limit: int) -> list[Missed]:
        """Failed notices of ``action``'s kind queued before it and not carried yet (of its
        incident only, with ``same_incident``), oldest first."""
        ...

    async def silences(self, now: float) -> list[Silence]: ...

    async def inhibitors(self) -> list[Inhibitor]: ...

    async def unpublished_events(self, limit: int) -> list[PendingEvent]: ...

    async def mark_published(self, seqs: list[int], now: float) -> None: ...
