"""Deploy history: every deploy event stage 1 saw, recorded in PostgreSQL.

The deploys table is where the responder finds a rollback target when a decision carries no
last known good version (``IncidentTx.last_good_version``: the newest version that deployed
successfully and was never failed or rolled back). Deploy events reach the responder inside
closed panes; this role reads the panes topic in its own consumer group, records each
``DeployRecord`` (idempotent: the table is unique on service, version, status and time) and
commits its offsets only once the batch is durable — a crash re-reads, never skips.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from handlers.incidents.ports import IncidentStore
from handlers.incidents.source import DecisionSource
from handlers.service import SourceLoop
from schemas.clock import Clock
from schemas.panes import PaneSummary

__all__ = ["DeployRecorder", "deploys_in"]

log = logging.getLogger(__name__)

_NONE = b'"deploys":[]'  # stage 1's compact form of a pane without deploy events


Deploy = tuple[str, str, str, float, str | None]  # (service, version, status, ts, drill)


def deploys_in(value: bytes) -> list[Deploy]:
    """(service, version, status, ts, drill) of each deploy event in one pane message (a DR
    drill's deploys are the drill's history, never the service's).

    Only panes that may carry deploy events are parsed (a cheap byte check first: most panes
    are request panes with none)."""
    if b'"deploys"' not in value or _NONE in value:
        return []
    pane = PaneSummary.model_validate_json(value)
    scope = pane.scope
    return [(scope.service, d.version, d.status, d.ts, scope.drill) for d in pane.deploys]


class DeployRecorder(SourceLoop):
    name = "deploy-recorder"

    def __init__(
        self, store: IncidentStore, source: DecisionSource, clock: Clock, poll_s: float = 0.5
    ) -> None:
        super().__init__(source, clock, poll_s)  # any batch/commit/rewind source of messages
        self._store = store
        self.recorded = 0
        self.invalid = 0

    async def handle(self, values: list[bytes]) -> None:
        found = [d for value in values for d in self._parse(value)]
        if not found:
            return
        async with self._store.transaction() as tx:
            for service, version, status, ts, drill in found:
                await tx.record_deploy(service, version, status, ts, drill)
        self.recorded += len(found)

    def _parse(self, value: bytes) -> list[Deploy]:
        try:
            return deploys_in(value)
        except ValidationError:
            self.invalid += 1
            log.warning("skipping a malformed pane on the panes topic")
            return []

    def health(self) -> dict[str, Any]:
        return {**super().health(), "recorded": self.recorded, "invalid": self.invalid}
