"""Delivery stages: one small contract (``exec(delivery) -> delivery``) and a pipeline of them.

Named ``DeliveryStage``/``DeliveryPipeline`` to keep them apart from the lifecycle's roles and
the composition root's ``app.pipeline.Pipeline``.

A stage either leaves the delivery alone (passes it on) or gives it a ``Settlement`` (muted,
inhibited, stale, sent, retry, failed); the pipeline stops at the first settlement and the
record stage writes it. Silences and inhibition apply to notifications only (page, chat,
status page); control actions (breaker, rollback, restore, bots) run unless a maintenance
window, a global hold or a silence holds them (``handlers.notify.holds``). Closing pages
(acknowledge/resolve) are never muted: muting them would leave open a page that was sent.

Pages are retried until delivered while their incident is open (``until_delivered`` in
``handlers.actions``); the other notifications may fail for good, and the carry stage puts
what they could not deliver into the next notice of their channel (``CARRIED_KINDS``). Every
failed attempt is on the timeline, and counted by receiver once recorded
(``handlers.notify.metrics``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from handlers.actions import ACTIONS, CARRIED_KINDS
from handlers.config import DeliveryConfig
from handlers.holds import Automation
from handlers.incidents.effects import TimelineEntry
from handlers.outbox.ports import Claimed, Missed, OutboxStore, Settlement
from handlers.outbox.retry import after_attempt
from handlers.receivers.base import Outbound, Receiver
from handlers.silences import Inhibitor, Silence, inhibited_by, silenced_by
from schemas.incidents import ActionKind

__all__ = [
    "CARRY_LIMIT",
    "CarryStage",
    "DedupReason",
    "DedupStage",
    "Delivery",
    "DeliveryPipeline",
    "DeliveryStage",
    "InhibitStage",
    "RecordStage",
    "RetryStage",
    "SilenceStage",
    "needs_send",
]


@dataclass(frozen=True)
class Delivery:
    action: Claimed
    now: float
    silences: Sequence[Silence] = ()
    inhibitors: Sequence[Inhibitor] = ()
    settlement: Settlement | None = None
    carried: tuple[Missed, ...] = ()  # the failed notices riding along (CarryStage)
    automation: Automation = field(default_factory=Automation)  # windows, holds (handlers.holds)

    def settle(self, settlement: Settlement) -> Delivery:
        return replace(self, settlement=settlement)


class DeliveryStage(Protocol):
    async def exec(self, delivery: Delivery) -> Delivery: ...


def _describe(action: Claimed) -> str:
    p = action.payload
    what = p.get("event") or p.get("action") or p.get("status") or p.get("topic") or ""
    return f"{action.kind} {what}".strip()


class SilenceStage:
    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        if not a.notification or a.closing:
            return d
        silence = silenced_by(d.silences, a.labels, d.now)
        if silence is None:
            return d
        note = TimelineEntry(
            "silence",
            f"{_describe(a)} muted by silence {silence.id}",
            reason=silence.comment,
            result={"silence": silence.id, "key": a.key},
        )
        return d.settle(Settlement("muted", f"muted by silence {silence.id}", timeline=note))


class InhibitStage:
    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        if not a.notification or a.closing:
            return d
        by = inhibited_by(d.inhibitors, a.service, a.severity, a.incident_id)
        if by is None:
            return d
        note = TimelineEntry(
            "inhibition",
            f"{_describe(a)} inhibited by CRITICAL incident {by.incident_id}",
            result={"inhibited_by": by.incident_id, "key": a.key},
        )
        return d.settle(Settlement("inhibited", f"inhibited by {by.incident_id}", timeline=note))


class DedupReason(StrEnum):
    FIRST = "first notification"
    STALE = "incident resolved after this notification was queued"


def needs_send(action: Claimed) -> DedupReason:
    """A notification queued before its incident was resolved is stale (resolution notices are
    queued with the resolution, so they are not)."""
    resolved = action.incident_resolved_at
    stale = action.notification and not action.closing and resolved is not None
    if stale and resolved is not None and action.created_at < resolved:
        return DedupReason.STALE
    return DedupReason.FIRST


class DedupStage:
    async def exec(self, d: Delivery) -> Delivery:
        reason = needs_send(d.action)
        if reason is DedupReason.FIRST:
            return d
        note = TimelineEntry("action", f"{_describe(d.action)} not sent", reason=reason.value)
        return d.settle(Settlement("muted", reason.value, timeline=note))


CARRY_LIMIT = 20  # failed notices one notice carries at most; the rest ride with the next


class CarryStage:
    """Puts the notices of this one's channel that failed for good (and were not carried yet)
    into it as ``missed``; the receivers show them after its own text. A status page update
    carries only its own incident's (each incident is its own status page entry); chat and
    the pager fallback are one channel each, so they carry every incident's."""

    def __init__(self, store: OutboxStore) -> None:
        self._store = store

    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        if a.kind not in CARRIED_KINDS:
            return d
        same_incident = a.kind == "status_page"
        missed = await self._store.missed(a, same_incident=same_incident, limit=CARRY_LIMIT)
        if not missed:
            return d
        payload = {**a.payload, "missed": [m.as_payload() for m in missed]}
        return replace(d, action=replace(a, payload=payload), carried=tuple(missed))


class RetryStage:
    """One attempt through the receiver; the result says whether and when to try again."""

    def __init__(self, receivers: Mapping[ActionKind, Receiver], cfg: DeliveryConfig) -> None:
        self._receivers = receivers
        self._cfg = cfg

    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        outbound = Outbound(a.kind, a.key, a.incident_id, a.payload, a.attempts)
        result = await self._receivers[a.kind].send(outbound)
        until_delivered = ACTIONS[a.kind].until_delivered
        nxt = after_attempt(result, a.attempts, d.now, self._cfg, until_delivered=until_delivered)
        detail = {
            "key": a.key,
            "attempt": a.attempts,
            "status": result.status,
            "error": result.error,
        }
        if nxt.outcome == "sent":
            if d.carried:
                detail["carried"] = [m.key for m in d.carried]
            note = TimelineEntry("action", f"{_describe(a)} sent", result=detail)
            carried = tuple(m.id for m in d.carried)
            return d.settle(Settlement("sent", nxt.reason.value, timeline=note, carried=carried))
        if nxt.outcome == "retry":
            result_detail = {**detail, "next_at": nxt.at}
            note = TimelineEntry(
                "action",
                f"{_describe(a)} will be retried",
                reason=nxt.reason.value,
                result=result_detail,
            )
            return d.settle(Settlement("pending", nxt.reason.value, nxt.at, result.error, note))
        note = TimelineEntry(
            "action", f"{_describe(a)} failed", reason=nxt.reason.value, result=detail
        )
        return d.settle(Settlement("failed", nxt.reason.value, error=result.error, timeline=note))


class RecordStage:
    def __init__(self, store: OutboxStore) -> None:
        self._store = store

    async def exec(self, d: Delivery) -> Delivery:
        if d.settlement is not None:
            await self._store.settle(d.action, d.settlement, d.now)
        return d


class DeliveryPipeline:
    """Runs stages until one settles the delivery, then the record stage."""

    def __init__(self, stages: Sequence[DeliveryStage], record: DeliveryStage) -> None:
        self._stages = stages
        self._record = record

    async def exec(self, d: Delivery) -> Delivery:
        for stage in self._stages:
            d = await stage.exec(d)
            if d.settlement is not None:
                break
        return await self._record.exec(d)
