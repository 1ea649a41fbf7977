"""The backup catalogue: every backup and restore test stage 1 saw, recorded in PostgreSQL.

S2's restore picks a real backup from it (``handlers.rollback.restore``) and the readiness gate
reads it ("database backup created and tested"). Backups reach the responder inside closed
dataset panes, as deploys do (``handlers.deploys``): this role reads the panes topic in its
own consumer group, records each ``BackupRecord`` and ``RestoreTestRecord`` (idempotent: a
re-read pane changes nothing) and commits its offsets only once the batch is durable.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from handlers.incidents.ports import IncidentStore
from handlers.incidents.source import DecisionSource
from handlers.service import SourceLoop
from schemas.clock import Clock
from schemas.panes import BackupRecord, PaneSummary, RestoreTestRecord

__all__ = ["BackupRecorder", "Reported", "reported_in"]

log = logging.getLogger(__name__)

# Stage 1 writes these lists only into panes that have entries: most panes are skipped on a
# byte check, without parsing.
_MARKS = (b'"backups"', b'"restore_tests"')
_EMPTY = (b'"backups":[]', b'"restore_tests":[]')  # a pane serialised with its defaults

# service, dataset, record, drill
Reported = tuple[str, str, BackupRecord | RestoreTestRecord, str | None]


def reported_in(value: bytes) -> list[Reported]:
    """(service, dataset, record, drill) of each backup and restore test in one pane message
    (a DR drill's are the drill's catalogue, never the service's)."""
    if not any(mark in value for mark in _MARKS) or all(empty in value for empty in _EMPTY):
        return []
    pane = PaneSummary.model_validate_json(value)
    if pane.scope.dimension != "dataset":
        return []
    service, dataset = pane.scope.service, pane.scope.key
    records: list[BackupRecord | RestoreTestRecord] = [*pane.backups, *pane.restore_tests]
    return [(service, dataset, r, pane.scope.drill) for r in records]


class BackupRecorder(SourceLoop):
    name = "backup-recorder"

    def __init__(
        self, store: IncidentStore, source: DecisionSource, clock: Clock, poll_s: float = 0.5
    ) -> None:
        super().__init__(source, clock, poll_s)
        self._store = store
        self.recorded = 0
        self.invalid = 0

    async def handle(self, values: list[bytes]) -> None:
        found = [r for value in values for r in self._parse(value)]
        if not found:
            return
        async with self._store.transaction() as tx:
            for service, dataset, record, drill in found:
                if isinstance(record, BackupRecord):
                    await tx.record_backup(service, dataset, record, drill)
                else:
                    await tx.record_restore_test(service, dataset, record, drill)
        self.recorded += len(found)

    def _parse(self, value: bytes) -> list[Reported]:
        try:
            return reported_in(value)
        except ValidationError:
            self.invalid += 1
            log.warning("skipping a malformed pane on the panes topic")
            return []

    def health(self) -> dict[str, Any]:
        return {**super().health(), "recorded": self.recorded, "invalid": self.invalid}
