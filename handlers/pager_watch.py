"""A dead pager is itself an incident.

Pages are retried until delivered while their incident is open (``handlers.actions``), but
while the pager fails nobody is being paged. Once the pager has failed for
``delivery.pager_dead_after_s`` with nothing delivered since its first failure (the
receiver's failing streak, ``handlers.notify.metrics``), this watch opens an incident of its
own — service ``alertpipe``, HIGH, "pager failing" — whose notices go out through every other
channel: chat, and the pager fallback (``ALERTPIPE_PAGER_FALLBACK_URL``), naming the incidents
whose pages wait. The first page delivered after it opened resolves it, saying so on the same
channels. One such incident is open at a time: the service lock arbitrates between responder
processes, each of which watches the pages it sends itself.

    effects = pager_down(incident_id, now, streak)        # pure: the incident and its notices
    effects = pager_back(incident, now, delivered_at)     # pure: its resolution
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from handlers.config import DeliveryConfig
from handlers.incidents import notices
from handlers.incidents.effects import Effects, EventIntent, TimelineEntry
from handlers.incidents.incident import Incident
from handlers.incidents.manager import new_incident_id
from handlers.incidents.ports import IncidentStore
from handlers.notify.metrics import DeliveryStats, Streak
from handlers.service import LoopService
from schemas.clock import Clock
from schemas.severity import Severity
from schemas.timestamps import to_rfc3339

__all__ = ["PAGER_INCIDENT_SERVICE", "PagerWatch", "pager_back", "pager_down"]

PAGER_INCIDENT_SERVICE = "alertpipe"  # the dead-pager incident is alertpipe's own trouble
_TITLE = "Pager failing: on-call is not being paged"


def _waiting(streak: Streak) -> str:
    found = [
        f"{id_} ({title})" if title else id_ for id_, title in sorted(streak.incidents.items())
    ]
    return ", ".join(found) or "none"


def pager_down(incident_id: str, now: float, streak: Streak) -> Effects:
    """The dead-pager incident: opened, said in chat and to the pager fallback."""
    incident = Incident(
        incident_id,
        PAGER_INCIDENT_SERVICE,
        Severity.HIGH,
        "open",
        _TITLE,
        opened_at=now,
        last_decision_at=now,
        steps=frozenset({"pager:down"}),
    )
    failing_s = now - streak.since
    text = (
        f"PAGER FAILING since {to_rfc3339(streak.since)} ({failing_s:.0f} s, "
        f"{streak.failures} failed attempts; last: {streak.last_error}). Pages waiting, "
        f"retried until delivered: {_waiting(streak)}. Reach on-call another way."
    )
    evidence: dict[str, Any] = {
        "since": streak.since,
        "failures": streak.failures,
        "last_error": streak.last_error,
        "waiting": sorted(streak.incidents),
    }
    return Effects(
        incident,
        timeline=(
            TimelineEntry(
                "status",
                "opened: the pager has been failing",
                reason=f"no page delivered for {failing_s:.0f} s",
                evidence=evidence,
            ),
        ),
        actions=(
            notices.chat(incident, "pager_down", text),
            notices.pager_fallback(incident, "pager_down", text),
        ),
        events=(EventIntent("opened", {"severity": Severity.HIGH.value, "reason": "pager"}),),
    )


def pager_back(incident: Incident, now: float, delivered_at: float) -> Effects:
    """Its resolution: a page went through again."""
    after = replace(incident, status="resolved", resolved_at=now)
    down_s = delivered_at - incident.opened_at
    text = (
        f"RESOLVED {incident.id}: the pager delivers again (a page went through at "
        f"{to_rfc3339(delivered_at)}, {down_s:.0f} s after this incident opened); the pages "
        "that waited are being delivered."
    )
    return Effects(
        after,
        timeline=(TimelineEntry("status", "resolved", reason="a page was delivered again"),),
        actions=(
            notices.chat(after, "pager_back", text),
            notices.pager_fallback(after, "pager_back", text),
        ),
        events=(EventIntent("resolved", {"by": "alertpipe", "reason": "pager delivers"}),),
    )


class PagerWatch(LoopService):
    """Opens the dead-pager incident, and resolves it once a page is delivered again."""

    name = "pager-watch"

    def __init__(
        self,
        store: IncidentStore,
        stats: DeliveryStats,
        cfg: DeliveryConfig,
        clock: Clock,
        *,
        new_id: Callable[[], str] = new_incident_id,
    ) -> None:
        super().__init__(clock, cfg.poll_s)
        self._store = store
        self._stats = stats
        self._cfg = cfg
        self._new_id = new_id
        self._declared: float | None = None  # the streak (its start) this watch declared
        self._seen_delivery: float | None = None
        self.opened = 0
        self.resolved = 0

    async def tick(self) -> bool:
        now = self.clock.now()
        streak = self._stats.streaks.get("page")
        if (
            streak is not None
            and streak.since != self._declared
            and now - streak.since >= self._cfg.pager_dead_after_s
        ):
            await self._declare(streak, now)
            self._declared = streak.since
        delivered = self._stats.last_delivered_at.get("page")
        if streak is None and delivered is not None and delivered != self._seen_delivery:
            await self._clear(delivered, now)
            self._seen_delivery = delivered
        return False

    async def _declare(self, streak: Streak, now: float) -> None:
        async with self._store.transaction() as tx:
            await tx.lock_service(PAGER_INCIDENT_SERVICE)
            if await tx.open_incident(PAGER_INCIDENT_SERVICE) is not None:
                return  # said already (by another responder, or before a restart)
            await tx.record(None, pager_down(self._new_id(), now, streak), now)
        self.opened += 1

    async def _clear(self, delivered_at: float, now: float) -> None:
        async with self._store.transaction() as tx:
            await tx.lock_service(PAGER_INCIDENT_SERVICE)
            current = await tx.open_incident(PAGER_INCIDENT_SERVICE)
            if current is None or current.opened_at > delivered_at:
                return
            await tx.record(current, pager_back(current, now, delivered_at), now)
        self.resolved += 1

    def health(self) -> dict[str, Any]:
        failing = self._stats.failing_for("page", self.clock.now())
        return {
            **super().health(),
            "pager_failing_s": round(failing, 1),
            "opened": self.opened,
            "resolved": self.resolved,
        }
