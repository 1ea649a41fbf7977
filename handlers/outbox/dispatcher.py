"""The outbox dispatcher: claims due actions and runs each through the notification pipeline.

A claimed action is leased (``delivery.lease_s``); a worker killed mid-send leaves it
``sending`` with a lease that runs out, and the next claim sends it again under the same
idempotency key. Retries are durable: a retryable failure puts the action back with its next
attempt time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from handlers.config import DeliveryConfig
from handlers.notify.stages import (
    DedupStage,
    Delivery,
    InhibitStage,
    Pipeline,
    RecordStage,
    RetryStage,
    SilenceStage,
    Stage,
)
from handlers.outbox.ports import OutboxStore
from handlers.receivers.base import Receiver
from handlers.service import LoopService
from schemas.clock import Clock
from schemas.incidents import ActionKind

__all__ = ["OutboxDispatcher", "build_pipeline"]


def build_pipeline(
    store: OutboxStore, receivers: Mapping[ActionKind, Receiver], cfg: DeliveryConfig
) -> Pipeline:
    stages: list[Stage] = [SilenceStage(), InhibitStage(), DedupStage(), RetryStage(receivers, cfg)]
    return Pipeline(stages, RecordStage(store))


class OutboxDispatcher(LoopService):
    name = "outbox-dispatcher"

    def __init__(
        self,
        store: OutboxStore,
        receivers: Mapping[ActionKind, Receiver],
        cfg: DeliveryConfig,
        clock: Clock,
    ) -> None:
        super().__init__(clock, cfg.poll_s)
        self._store = store
        self._cfg = cfg
        self._pipeline = build_pipeline(store, receivers, cfg)
        self.delivered = 0

    async def tick(self) -> bool:
        now = self.clock.now()
        claimed = await self._store.claim(now, self._cfg.lease_s, self._cfg.batch)
        if not claimed:
            return False
        silences = await self._store.silences(now)
        inhibitors = await self._store.inhibitors()
        deliveries = [Delivery(a, now, silences, inhibitors) for a in claimed]
        await asyncio.gather(*(self._pipeline.exec(d) for d in deliveries))
        self.delivered += len(claimed)
        return True
