"""Human steps on an incident (what the HTTP API calls): acknowledge, resolve, decide, release.

Each runs in one transaction: lock the incident, apply the pure lifecycle step, record it with
its effects (page acknowledge/resolve, notices, a rollback request for a "rollback" decision).
``release`` lets an incident's automation run despite the holds on it (``handlers.holds``)
and wakes its held control calls in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.config import ResponseConfig
from handlers.holds import Automation, HoldSource, holding, release
from handlers.incidents import notices
from handlers.incidents.effects import Effects
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import (
    HumanAction,
    LifecycleError,
    acknowledge,
    human_decision,
    resolve,
)
from handlers.incidents.ports import IncidentStore
from handlers.incidents.target import settle_target
from schemas.clock import Clock
from schemas.errors import CommandError

__all__ = ["IncidentCommands", "IncidentNotFound"]

_Step = Callable[[Incident, float], Effects]


class IncidentNotFound(CommandError, LookupError):
    """No incident has the id (``args[0]``)."""


class IncidentCommands:
    def __init__(
        self,
        store: IncidentStore,
        cfg: ResponseConfig,
        clock: Clock,
        holds: HoldSource | None = None,
    ) -> None:
        self._store = store
        self._cfg = cfg
        self._clock = clock
        self._holds = holds

    async def _apply(self, incident_id: str, step: _Step) -> Incident:
        now = self._clock.now()
        async with self._store.transaction() as tx:
            incident = await tx.incident(incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            effects = step(await settle_target(tx, incident), now)
            await tx.record(incident, effects, now)
            recorded = await tx.incident(incident_id)  # as stored (e.g. with its rollback)
        return recorded or effects.incident

    async def acknowledge(self, incident_id: str, by: str, note: str | None) -> Incident:
        return await self._apply(incident_id, lambda i, now: acknowledge(i, by, note, now))

    async def resolve(self, incident_id: str, by: str, note: str | None) -> Incident:
        reason = f"resolved by {by}" + (f": {note}" if note else "")
        return await self._apply(incident_id, lambda i, now: resolve(i, now, self._cfg, reason, by))

    async def decide(
        self, incident_id: str, action: HumanAction, by: str, note: str | None
    ) -> Incident:
        def step(incident: Incident, now: float) -> Effects:
            return human_decision(incident, action, by, note, now, self._cfg)

        return await self._apply(incident_id, step)

    async def release(self, incident_id: str, by: str, note: str | None) -> Incident:
        """Let the incident's automation run despite what holds it now (409: nothing does)."""
        now = self._clock.now()
        automation = await self._holds.automation(now) if self._holds else Automation()
        async with self._store.transaction() as tx:
            incident = await tx.incident(incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            labels = notices.labels(incident)
            causes = holding(automation, incident.service, labels, incident.released, now)
            if not incident.is_open:
                raise LifecycleError(f"incident {incident_id} is resolved; nothing to release")
            if not causes:
                raise LifecycleError(f"nothing holds the automation of incident {incident_id}")
            effects = release(incident, causes, by, note, now)
            await tx.record(incident, effects, now)
            await tx.wake_held(incident_id, now)
        return effects.incident
