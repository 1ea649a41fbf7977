"""The outbox dispatcher: claims due actions and runs each through the notification pipeline.

A claimed action is leased (``delivery.lease_s``); a worker killed mid-send leaves it
``sending`` with a lease that runs out, and the next claim sends it again under the same
idempotency key. Retries are durable: a retryable failure puts the action back with its next
attempt time.

The dispatcher runs one loop per lane (``LANES``, from each kind's row of
``handlers.actions.ACTIONS``): control calls, pages, and the updates (chat and status page).
A lane waits for its own batch only, so a receiver that hangs until its timeout, or a backlog
of its retries, holds up its own lane and never a rollback's control calls or a page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from handlers.actions import LANES
from handlers.config import DeliveryConfig, HoldConfig
from handlers.holds import Automation, HoldSource
from handlers.notify.holds import DryRunStage, HoldStage, WindowStage
from handlers.notify.metrics import DeliveryStats, MeteredRecord
from handlers.notify.stages import (
    CarryStage,
    DedupStage,
    Delivery,
    DeliveryPipeline,
    DeliveryStage,
    InhibitStage,
    RecordStage,
    RetryStage,
    SilenceStage,
)
from handlers.outbox.ports import OutboxStore
from handlers.receivers.base import Receiver
from handlers.service import LoopService
from schemas.clock import Clock
from schemas.incidents import ActionKind

__all__ = ["LANES", "OutboxDispatcher", "OutboxLane", "delivery_pipeline"]


def delivery_pipeline(
    store: OutboxStore,
    receivers: Mapping[ActionKind, Receiver],
    cfg: DeliveryConfig,
    stats: DeliveryStats | None = None,
    hold_cfg: HoldConfig | None = None,
) -> DeliveryPipeline:
    stages: list[DeliveryStage] = [
        SilenceStage(),
        WindowStage(),
        InhibitStage(),
        DedupStage(),
        HoldStage(hold_cfg or HoldConfig()),  # control calls wait out their holds …
        DryRunStage(),  # … and a trial's are recorded, not sent
        # … then what failed before rides along with what is really sent
        CarryStage(store),
        RetryStage(receivers, cfg),
    ]
    record = RecordStage(store)
    return DeliveryPipeline(stages, record if stats is None else MeteredRecord(record, stats))


class OutboxLane(LoopService):
    """Claims and sends the due actions of some kinds only."""

    def __init__(
        self,
        lane: str,
        kinds: frozenset[ActionKind],
        store: OutboxStore,
        pipeline: DeliveryPipeline,
        cfg: DeliveryConfig,
        clock: Clock,
        holds: HoldSource | None = None,
    ) -> None:
        super().__init__(clock, cfg.poll_s)
        self.name = f"outbox-{lane}"
        self.kinds = kinds
        self._store = store
        self._pipeline = pipeline
        self._cfg = cfg
        self._holds = holds
        self.delivered = 0

    async def tick(self) -> bool:
        now = self.clock.now()
        claimed = await self._store.claim(now, self._cfg.lease_s, self._cfg.batch, self.kinds)
        if not claimed:
            return False
        silences = await self._store.silences(now)
        inhibitors = await self._store.inhibitors()
        automation = await self._holds.automation(now) if self._holds else Automation()
        deliveries = [
            Delivery(a, now, silences, inhibitors, automation=automation) for a in claimed
        ]
        await asyncio.gather(*(self._pipeline.exec(d) for d in deliveries))
        self.delivered += len(claimed)
        return True


class OutboxDispatcher:
    """One role: every lane's loop, started, run and stopped together. ``stats`` counts every
    settled attempt and every failure by receiver (shared with the dead-pager watch)."""

    name = "outbox-dispatcher"

    def __init__(
        self,
        store: OutboxStore,
        receivers: Mapping[ActionKind, Receiver],
        cfg: DeliveryConfig,
        clock: Clock,
        stats: DeliveryStats | None = None,
        *,
        holds: HoldSource | None = None,
        hold_cfg: HoldConfig | None = None,
    ) -> None:
        self.stats = stats if stats is not None else DeliveryStats()
        pipeline = delivery_pipeline(store, receivers, cfg, self.stats, hold_cfg)
        self.lanes = [
            OutboxLane(lane, kinds, store, pipeline, cfg, clock, holds)
            for lane, kinds in LANES.items()
        ]

    async def start(self) -> None:
        for lane in self.lanes:
            await lane.start()

    async def run(self) -> None:
        await asyncio.gather(*(lane.run() for lane in self.lanes))

    async def stop(self) -> None:
        for lane in self.lanes:
            await lane.stop()

    @property
    def delivered(self) -> int:
        return sum(lane.delivered for lane in self.lanes)

    def health(self) -> dict[str, Any]:
        reports = {lane.name: lane.health() for lane in self.lanes}
        failed = [f"{name}: {r['last_error']}" for name, r in reports.items() if r["last_error"]]
        return {
            "ready": all(r["ready"] for r in reports.values()),
            "ticks": sum(r["ticks"] for r in reports.values()),
            "errors": sum(r["errors"] for r in reports.values()),
            "last_error": "; ".join(failed) or None,
            "delivered": {lane.name: lane.delivered for lane in self.lanes},
            # /metrics has them by HTTP status too: alertpipe_delivery_failures_total
            "failures": self.stats.failures_by_receiver(),
        }
