"""A deploy that skipped the readiness gate is seen: the responder's ``deploy-gate`` part.

    unready_decision(verdict, severity) -> Decision     (the verdict: ``verdict``)

Deploy tooling is meant to ask ``GET /v1/readiness/{service}?version=V`` (or
``alertpipe readiness check``) before it deploys; each check is recorded. When a deploy of V
*starts* (a ``deploy`` event, read from the panes like the deploy history), the gate looks for
the latest check of V before it: none, a stale one (older than ``valid_s``), or one that
failed, and the deploy went out while not ready. That is a decision of its own — rule
``deployed-while-not-ready``, the policy's ``readiness.unready_deploy`` severity (MEDIUM: a
human decides whether to roll it back) — applied to the incidents in the same transaction
that records the verdict, and every incident of that deploy notes it on its timeline
(``handlers.incidents.response``). Once per deploy: re-read panes change nothing.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError

from handlers.deploys import Deploy, deploys_in
from handlers.incidents.manager import DecisionApplier
from handlers.incidents.ports import IncidentStore
from handlers.incidents.source import DecisionSource
from handlers.readiness.verdict import GATE_RULE, GateVerdict, gate_verdict
from handlers.service import SourceLoop
from schemas.clock import Clock
from schemas.decisions import Decision, Evidence, Response
from schemas.severity import Severity

__all__ = ["CHECK_SKEW_S", "DeployGate", "unready_decision"]

log = logging.getLogger(__name__)

# A check a little after the deploy's event time still counts: deploy tooling's clock and
# alertpipe's differ by seconds, and the check is meant to come right before the deploy.
CHECK_SKEW_S = 60.0

_RESPONSES: dict[Severity, Response] = {
    Severity.CRITICAL: "rollback",
    Severity.HIGH: "investigate",
    Severity.MEDIUM: "notify",
    Severity.LOW: "record",
}


def _fingerprint(service: str, version: str) -> str:
    """Per (rule, service, version): each unready version is an alert of its own."""
    scope = f"{service}|service|{service}@{version}"
    return hashlib.sha256(f"{GATE_RULE}\x1f{scope}".encode()).hexdigest()[:16]


def unready_decision(verdict: GateVerdict, severity: Severity) -> Decision:
    """The decision a deploy that skipped the gate raises (its id is stable per deploy)."""
    at_ms = round(verdict.deployed_at * 1000)
    checked_ms = at_ms if verdict.check_at is None else round(verdict.check_at * 1000)
    fingerprint = _fingerprint(verdict.service, verdict.version)
    summary = (
        f"{severity.value} firing: {verdict.service} {verdict.version} deployed while not "
        f"ready ({verdict.reason})"
    )
    return Decision(
        decision_id=f"{fingerprint}:{at_ms}",
        fingerprint=fingerprint,
        rule=GATE_RULE,
        scope={"service": verdict.service},
        service=verdict.service,
        state="firing",
        previous="inactive",
        severity=severity,
        scenario=None,
        response=_RESPONSES[severity],
        at_ms=at_ms,
        evidence=Evidence(
            metric="readiness_failed_items",
            window_start_ms=min(checked_ms, at_ms),
            window_end_ms=at_ms,
            observed=None if verdict.check_id is None else float(len(verdict.failed)),
            comparison=">",
            threshold=0.0,
            samples=0 if verdict.check_id is None else 1,
            min_samples=0,
        ),
        breaching=True,
        version=verdict.version,
        summary=summary,
    )


class DeployGate(SourceLoop):
    """Reads the panes topic in its own consumer group; each deploy that started gets its
    verdict recorded and, when it skipped the gate, its decision applied — one transaction
    per batch, offsets committed after it."""

    name = "deploy-gate"

    def __init__(
        self,
        store: IncidentStore,
        source: DecisionSource,
        applier: DecisionApplier,
        clock: Clock,
        *,
        severity: Severity = Severity.MEDIUM,
        valid_s: float = 3600.0,
        poll_s: float = 0.5,
    ) -> None:
        super().__init__(source, clock, poll_s)
        self._store = store
        self._applier = applier
        self._severity = severity
        self._valid_s = valid_s
        self.passed = 0  # deploys whose version was checked ready
        self.skipped = 0  # deploys that went out while not ready
        self.invalid = 0

    async def handle(self, values: list[bytes]) -> None:
        # a DR drill's deploys are the drill's (``handlers.deploys``): no gate applies to them
        started = [
            d for value in values for d in self._parse(value) if d[2] == "started" and d[4] is None
        ]
        if not started:
            return
        now = self.clock.now()
        async with self._store.transaction() as tx:
            for service, version, _, at, _ in started:
                check = await tx.readiness_check(service, version, at + CHECK_SKEW_S)
                found = gate_verdict(service, version, at, check, self._valid_s)
                verdict = await tx.record_gate(found)  # the first verdict on a deploy stands
                if verdict.ready:
                    self.passed += 1
                    continue
                self.skipped += 1
                decision = unready_decision(verdict, self._severity)
                await self._applier.apply_in(tx, decision, now)  # a re-read: "duplicate"

    def _parse(self, value: bytes) -> list[Deploy]:
        try:
            return deploys_in(value)
        except ValidationError:
            self.invalid += 1
            log.warning("skipping a malformed pane on the panes topic")
            return []

    def health(self) -> dict[str, Any]:
        counts = {"ready": self.passed, "not_ready": self.skipped, "invalid": self.invalid}
        return {**super().health(), "deploys": counts}
