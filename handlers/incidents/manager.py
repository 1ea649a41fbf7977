"""Stage 3's service: decisions from Kafka → incident transactions → offsets committed.

``apply(decision)`` is one transaction: log the decision (a re-delivered one stops here),
lock the service, load its open incident, run the pure ``on_decision``, and record the
incident with every effect. The batch's offsets are committed only after all of its
decisions are durable.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from pydantic import ValidationError

from handlers.config import ResponseConfig
from handlers.incidents.classify import Cascade
from handlers.incidents.ports import IncidentStore, IncidentTx
from handlers.incidents.response import DecisionContext, on_decision
from handlers.incidents.source import DecisionSource
from handlers.instruments import Histogram
from handlers.service import SourceLoop
from schemas.clock import Clock
from schemas.decisions import Decision
from schemas.severity import Severity

__all__ = ["Applied", "DecisionApplier", "IncidentManager", "new_incident_id"]

log = logging.getLogger(__name__)

Applied = Literal["duplicate", "logged", "incident"]


def new_incident_id() -> str:
    return f"inc_{uuid.uuid4().hex[:12]}"


class DecisionApplier:
    """One decision into the incidents, inside a transaction: the manager's, and the re-arm
    timer's when it re-delivers a still-breaching alert (``handlers.incidents.rearm``)."""

    def __init__(self, cfg: ResponseConfig, new_id: Callable[[], str] = new_incident_id) -> None:
        self._cfg = cfg
        self._new_id = new_id

    async def apply_in(self, tx: IncidentTx, decision: Decision, now: float) -> Applied:
        if not await tx.remember_decision(decision, now):
            return "duplicate"
        await tx.lock_service(decision.service, decision.drill)
        current = await tx.open_incident(decision.service, decision.dry_run, decision.drill)
        ctx = await self._context(tx, decision, now)
        effects = on_decision(current, decision, ctx, self._cfg)
        if effects is None:
            return "logged"
        await tx.record(current, effects, now)
        await tx.link_decision(decision.decision_id, effects.incident.id)
        return "incident"

    async def _context(self, tx: IncidentTx, decision: Decision, now: float) -> DecisionContext:
        cascade = Cascade()
        previous = unready = None
        if decision.state == "firing":
            if decision.severity is Severity.CRITICAL:
                since = decision.at_ms / 1000.0 - self._cfg.cascade_window_s
                cascade = await tx.cascade(since, decision.drill)
            if decision.last_good_version is None and decision.version is not None:
                # the fallback rollback target (``handlers.incidents.target``)
                previous = await tx.previous_deploy(
                    decision.service, decision.version, decision.drill
                )
            if decision.version is not None and decision.drill is None:
                # did it go out skipping the readiness gate? (a drill's deploys are its own)
                unready = await tx.unready_deploy(decision.service, decision.version)
        return DecisionContext(now, self._new_id(), cascade, previous, unready)


class IncidentManager(SourceLoop):
    name = "incident-manager"

    def __init__(
        self,
        store: IncidentStore,
        source: DecisionSource,
        cfg: ResponseConfig,
        clock: Clock,
        *,
        new_id: Callable[[], str] = new_incident_id,
        poll_s: float = 0.5,
    ) -> None:
        super().__init__(source, clock, poll_s)
        self._store = store
        self.applier = DecisionApplier(cfg, new_id)
        self.counts: Counter[str] = Counter()
        # pane end (the decision's window end, event time) -> the decision recorded here
        self.decision_latency = Histogram()

    async def handle(self, values: list[bytes]) -> None:
        for value in values:
            await self._consume(value)

    async def _consume(self, value: bytes) -> None:
        try:
            decision = Decision.model_validate_json(value)
        except ValidationError as error:
            self.counts["invalid"] += 1
            log.warning("skipping a malformed decision: %s", error.errors()[0].get("msg"))
            return
        self.counts[await self.apply(decision)] += 1

    async def apply(self, decision: Decision) -> Applied:
        now = self.clock.now()
        async with self._store.transaction() as tx:
            applied = await self.applier.apply_in(tx, decision, now)
        if applied != "duplicate":
            self.decision_latency.observe(max(0.0, now - decision.evidence.window_end_ms / 1000))
        return applied

    def health(self) -> dict[str, Any]:
        return {**super().health(), "decisions": dict(self.counts)}
