"""Error budgets from stage 2 into PostgreSQL, for ``GET /slos``.

Stage 2 reports each SLO's budget per scope once a minute on its compacted state topic
(``schemas.slo.SloBudget``, kind ``slo``). This role reads that topic in its own consumer
group, keeps the latest report of each (SLO, scope) — an older one re-read after a crash does
not overwrite a newer one — and commits its offsets once the batch is durable.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from handlers.incidents.ports import IncidentStore
from handlers.incidents.source import DecisionSource
from handlers.service import SourceLoop
from schemas.clock import Clock
from schemas.slo import SloBudget

__all__ = ["BudgetRecorder", "budget_in"]

log = logging.getLogger(__name__)

_KIND = b'"kind":"slo"'  # stage 2's compact JSON: the other records of the topic are skipped


def budget_in(value: bytes | None) -> SloBudget | None:
    """The budget report in one state-topic record, if it is one (a cheap byte check first)."""
    if value is None or _KIND not in value:
        return None
    return SloBudget.model_validate_json(value)


async def _nothing() -> None:
    return None


class BudgetRecorder(SourceLoop):
    name = "slo-budgets"

    def __init__(
        self,
        store: IncidentStore,
        source: DecisionSource,
        clock: Clock,
        poll_s: float = 0.5,
        *,
        before_start: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        super().__init__(source, clock, poll_s)
        self._store = store
        self._before_start = before_start  # e.g. create the state topic if stage 2 has not
        self.recorded = 0
        self.invalid = 0

    async def start(self) -> None:
        await self._before_start()
        await super().start()

    async def handle(self, values: list[bytes]) -> None:
        latest: dict[tuple[str, str], SloBudget] = {}
        for value in values:
            budget = self._parse(value)
            if budget is not None:
                key = (budget.slo, budget.scope_id)
                if key not in latest or budget.at_ms >= latest[key].at_ms:
                    latest[key] = budget
        if not latest:
            return
        async with self._store.transaction() as tx:
            for budget in latest.values():
                await tx.record_slo_budget(budget)
        self.recorded += len(latest)

    def _parse(self, value: bytes | None) -> SloBudget | None:
        try:
            return budget_in(value)
        except ValidationError:
            self.invalid += 1
            log.warning("skipping a malformed SLO budget on the state topic")
            return None

    def health(self) -> dict[str, Any]:
        return {**super().health(), "recorded": self.recorded, "invalid": self.invalid}
