"""A ``HealthProbe`` backed by the live panes on ``metrics.panes`` (key: scope id).

It reads the topic from ``verify_window_s`` ago onwards (no consumer group, nothing
committed), keeps each service's recent request panes in memory — the latest revision of
each ``pane_id``: a refinement replaces the pane it refines — and judges the last
``verify_window_s`` seconds of event time on request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from handlers.config import RollbackConfig
from handlers.rollback.health import judge, window_of
from schemas.clock import Clock
from schemas.panes import PaneSummary

__all__ = ["KafkaHealthProbe"]

log = logging.getLogger(__name__)

_KEEP = 10_000  # panes per service (oldest first out)


class KafkaHealthProbe:
    name = "health-probe"

    def __init__(self, bootstrap: str, topic: str, cfg: RollbackConfig, clock: Clock) -> None:
        self._topic = topic
        self._bootstrap = bootstrap
        self._cfg = cfg
        self._clock = clock
        self._consumer = self._new_consumer()
        # By (service, drill): a DR drill's panes never crowd out (nor count as) the real ones.
        self._panes: dict[tuple[str, str | None], OrderedDict[str, PaneSummary]] = defaultdict(
            OrderedDict
        )
        self._stopping = asyncio.Event()
        self.ready = False
        self.invalid = 0

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            isolation_level="read_committed",  # panes of aborted transactions never count
        )

    async def start(self) -> None:
        """Subscribe (every partition: no group), then go back ``verify_window_s`` in time.
        Started again after a stop, it reads that window again (afresh: never a pane twice)."""
        if self._stopping.is_set():
            self._stopping.clear()
            self._panes.clear()
            self._consumer = self._new_consumer()
        await self._consumer.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while not self._consumer.assignment() and loop.time() < deadline:
            await self._consumer.getmany(timeout_ms=100)
        assigned = sorted(self._consumer.assignment())
        since_ms = int((self._clock.now() - self._cfg.verify_window_s) * 1000)
        offsets = await self._consumer.offsets_for_times(dict.fromkeys(assigned, since_ms))
        for tp in assigned:
            found = offsets.get(tp)
            if found is None:
                await self._consumer.seek_to_end(tp)
            else:
                self._consumer.seek(tp, found.offset)
        self.ready = True

    async def run(self) -> None:
        while not self._stopping.is_set():
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self._keep(record.value)

    def _keep(self, value: bytes) -> None:
        try:
            pane = PaneSummary.model_validate_json(value)
        except ValidationError:
            self.invalid += 1
            return
        if pane.requests is None:
            return
        kept = self._panes[(pane.scope.service, pane.scope.drill)]
        held = kept.get(pane.pane_id)
        if held is not None and held.revision >= pane.revision:
            return  # a re-sent or older revision
        kept[pane.pane_id] = pane
        if len(kept) > _KEEP:
            kept.popitem(last=False)

    async def stop(self) -> None:
        self.ready = False
        self._stopping.set()
        await self._consumer.stop()

    def health(self) -> dict[str, Any]:
        return {"ready": self.ready, "services": len(self._panes), "invalid": self.invalid}

    async def is_healthy(
        self, service: str, since: float | None = None, *, drill: str | None = None
    ) -> tuple[bool, dict[str, Any]]:
        end_ms = int(self._clock.now() * 1000)
        start_ms = end_ms - int(self._cfg.verify_window_s * 1000)
        if since is not None:
            start_ms = max(start_ms, int(since * 1000))
        panes = list(self._panes.get((service, drill), {}).values())
        window = window_of(service, panes, start_ms, end_ms, drill)
        return judge(window, self._cfg)
