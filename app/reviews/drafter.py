"""The review drafter (a responder part): drafts the review of every resolved incident that
had a rollback or reached HIGH or CRITICAL, and drafts it again when the incident changed
since — what people wrote into it is kept apart and survives every new draft."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from app.pane_history import read_panes
from app.reviews.draft import draft_review
from app.reviews.store import PgReviewStore
from handlers.config import ResponseConfig
from handlers.service import LoopService
from schemas.clock import Clock
from streams.policy.model import Policy

__all__ = ["ReviewDrafter"]

log = logging.getLogger(__name__)

_BEFORE_S = 60.0  # panes read before the first evidence, beyond the longest window


class ReviewDrafter(LoopService):
    name = "review-drafter"

    def __init__(
        self,
        store: PgReviewStore,
        bootstrap: str,
        panes_topic: str,
        policy: Policy | None,
        cfg: ResponseConfig,
        clock: Clock,
        poll_s: float = 1.0,
        panes_close_s: float = 10.0,
    ) -> None:
        super().__init__(clock, poll_s)
        self._store = store
        self._bootstrap = bootstrap
        self._topic = panes_topic
        self._policy = policy
        self._cfg = cfg
        self.drafted = 0
        # A pane is published once the watermark passed it (allowed lateness after its end):
        # the review waits that long after resolution, so every pane of the incident counts.
        self._panes_close_s = panes_close_s

    async def tick(self) -> bool:
        pending = await self._store.pending(self.clock.now() - self._panes_close_s)
        for incident_id in pending:
            await self.draft(incident_id)
        return bool(pending)

    async def draft(self, incident_id: str) -> dict[str, Any] | None:
        evidence = await self._store.evidence(incident_id)
        if evidence is None:
            return None
        inc = evidence.incident
        longest = self._policy.longest_window_ms / 1000 if self._policy else 300.0
        first = min(
            (a["window_start"] for a in inc["alerts"].values() if a.get("window_start")),
            default=inc["opened_at"].timestamp(),
        )
        end = (inc["resolved_at"] or inc["updated_at"]).timestamp()
        start_ms = int((first - longest - _BEFORE_S) * 1000)
        end_ms = int(end * 1000) + 1
        # A pane is published after it ends: a minute's margin before finds every one.
        found = await read_panes(
            self._bootstrap, self._topic, start_ms - 60_000, drill=inc["drill"],
            until_ms=end_ms, client_id="alertpipe-review",
        )  # fmt: skip
        panes = [p for p in found if start_ms <= p.start_ms < end_ms]
        ready = replace(evidence, panes=panes)
        began = time.monotonic()
        # Replaying the panes through the policy engine is CPU work: off the event loop, so
        # the process's other parts (a rollback under way, the drill's traffic) keep going.
        draft = await asyncio.to_thread(draft_review, ready, self._policy, self._cfg)
        await self._store.save(incident_id, draft, self.clock.now())
        self.drafted += 1
        log.info(
            "review of %s drafted from %d panes in %.1f s",
            incident_id, len(panes), time.monotonic() - began,
        )  # fmt: skip
        return draft

    def health(self) -> dict[str, Any]:
        return {**super().health(), "drafted": self.drafted}
