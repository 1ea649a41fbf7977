"""The drill runner (a responder part): claims started drills and runs each one.

Announce on chat first (the traffic starts only once that was delivered), play the scenario's
telemetry with the drill id through Kafka, let the real pipeline respond, stop when the
drill's incidents are resolved, it is aborted, or ``drill.max_s`` passed; then store and post
the report (docs/drills.md, "Running a drill"). A runner holds a lease on its drill
(``drill.lease_s``), renewed as it goes: a runner killed mid-drill leaves a lease that runs
out, and another process resumes the traffic where the clock says it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import uuid
from typing import Any

from app.drills.play import DrillTraffic, fault_onset
from app.drills.report import build_report, report_markdown
from app.drills.store import PgDrillStore
from app.settings import DrillSettings
from app.simulation.scenarios import Timeline
from handlers.config import ResponseConfig
from handlers.receivers.base import Outbound, Receiver
from handlers.service import LoopService
from schemas.clock import Clock
from streams.producer import TelemetryProducer

__all__ = ["DrillRunner", "announcement"]

log = logging.getLogger(__name__)

_AHEAD_S = 0.005
_RELEASE_S = 2.0  # handing back waits this long for PostgreSQL, then lets the lease run out


def announcement(drill: dict[str, Any]) -> str:
    service = f" on {drill['service']}" if drill.get("service") else ""
    live = " LIVE: control calls go to production." if drill.get("live") else ""
    return (
        f"DR Drill — this is a test. Drill {drill['id']}: scenario "
        f"{str(drill['scenario']).upper()}{service}, started by {drill['started_by']}. "
        f"Every alert, page and call it causes is marked [DRILL].{live}"
    )


class DrillRunner(LoopService):
    name = "drill-runner"

    def __init__(
        self,
        store: PgDrillStore,
        chat: Receiver,
        producer: TelemetryProducer,
        cfg: DrillSettings,
        response_cfg: ResponseConfig,
        clock: Clock,
        *,
        owner: str | None = None,
    ) -> None:
        super().__init__(clock, cfg.poll_s)
        self._store = store
        self._chat = chat
        self._producer = producer
        self._cfg = cfg
        self._response_cfg = response_cfg
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, asyncio.Task[None]] = {}
        self.finished: list[str] = []
        self.last_finished_at: float | None = None

    async def start(self) -> None:
        await self._producer.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        try:
            await self.hand_back()
        finally:
            await self._producer.stop()

    async def hand_back(self) -> None:
        """Stop running this runner's drills and release their leases, so that the next tick
        of any runner (this one restarted, or another process) resumes them at once instead
        of after the lease: the traffic goes on from the present (the past is not replayed),
        the drill is not announced again, and its report covers the whole run."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each failure is logged already
        try:
            await asyncio.wait_for(self._store.release(self.owner), _RELEASE_S)
        except Exception as error:  # PostgreSQL down: the leases run out on their own
            log.warning("drill runner %s: leases not released (%r)", self.owner, error)

    def health(self) -> dict[str, Any]:
        overdue_after = self._cfg.schedule_days * 86400
        last = self.last_finished_at
        overdue = last is None or self.clock.now() - last > overdue_after
        return {
            **super().health(),
            "running": sorted(self._running),
            "last_drill_at": last,
            "drill_overdue": overdue,
        }

    async def tick(self) -> bool:
        now = self.clock.now()
        self.last_finished_at = await self._store.last_finished_at()
        drill_id = await self._store.claim(self.owner, now, self._cfg.lease_s)
        if drill_id is None:
            return False
        if self._stopping.is_set():  # claimed while being stopped: hand it straight back
            await self._store.release(self.owner)
            return False
        task = asyncio.create_task(self.run_drill(drill_id), name=f"drill {drill_id}")
        self._running[drill_id] = task
        task.add_done_callback(functools.partial(self._forget, drill_id))
        return True

    def _forget(self, drill_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(drill_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("drill %s: runner failed: %r", drill_id, task.exception())

    async def say(self, drill: dict[str, Any], topic: str, text: str) -> bool:
        """One drill message on chat (marked and with the drill header, by the router)."""
        action = Outbound(
            kind="chat",
            key=f"drill:{drill['id']}:{topic}",
            incident_id=str(drill["id"]),
            payload={"text": text, "topic": topic, "drill": drill["id"],
                     "service": drill.get("service") or "drill", "severity": "DRILL"},
        )  # fmt: skip
        result = await self._chat.send(action)
        if not result.ok:
            log.warning("drill %s: %s not delivered: %s", drill["id"], topic, result.error)
        return result.ok

    async def run_drill(self, drill_id: str) -> None:
        drill = await self._store.get(drill_id)
        if drill["status"] == "starting" and not await self._announce(drill):
            return  # not announced: no traffic; the lease runs out and it is tried again
        drill = await self._store.get(drill_id)
        traffic = self._traffic(drill)
        stop = asyncio.Event()
        watcher = asyncio.create_task(self._watching(drill, traffic, stop))
        try:
            await self._play(drill_id, traffic, stop)
        except asyncio.CancelledError:
            # Handed back: the watch's last round would only renew the lease (and could wait
            # on a PostgreSQL that is down); end it with the traffic.
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            raise
        finally:
            stop.set()
        if await watcher:
            await self._finish(drill_id)

    async def _announce(self, drill: dict[str, Any]) -> bool:
        if not await self.say(drill, "announce", announcement(drill)):
            return False
        now = self.clock.now()
        await self._store.announced(drill["id"], now, fault_onset(now, self._cfg.warmup_s))
        return True

    def _traffic(self, drill: dict[str, Any]) -> DrillTraffic:
        fault_at = drill["fault_at"].timestamp()
        start = fault_at - 1.0 - self._cfg.warmup_s
        timeline = Timeline(
            warmup_s=self._cfg.warmup_s, failure_s=self._cfg.max_s, rate=self._cfg.rate
        )
        return DrillTraffic(drill["id"], drill["scenario"], start, timeline, drill.get("service"))

    async def _play(self, drill_id: str, traffic: DrillTraffic, stop: asyncio.Event) -> None:
        sent = 0
        try:
            for event in traffic.events():
                if stop.is_set():
                    break
                ahead = event.ts - self.clock.now()
                if ahead < -1.0:
                    await asyncio.sleep(0)
                    continue  # resumed by another runner: the past is not replayed
                if ahead > _AHEAD_S:
                    await self.clock.sleep(ahead)
                await self._producer.send(event)
                sent += 1
                if sent % 2000 == 0:
                    await self._store.count_sent(drill_id, 2000)
            await self._producer.flush()
        finally:
            log.info("drill %s: traffic stopped after %d events", drill_id, sent)
            # Handed back too: the count goes on from here in the runner that resumes it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._store.count_sent(drill_id, sent % 2000), _RELEASE_S)

    async def _watching(
        self, drill: dict[str, Any], traffic: DrillTraffic, stop: asyncio.Event
    ) -> bool:
        try:
            return await self._watch(drill, traffic, stop)
        finally:
            stop.set()  # whatever ended the watch (an error too) ends the traffic

    async def _watch(
        self, drill: dict[str, Any], traffic: DrillTraffic, stop: asyncio.Event
    ) -> bool:
        """Until the drill is over: renew the lease, heal the fleet, watch its incidents.
        True when this runner should finish the drill (False: the lease was lost)."""
        drill_id, resolved_since = drill["id"], None
        deadline = drill["fault_at"].timestamp() + self._cfg.max_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._cfg.poll_s)
            now = self.clock.now()
            if not await self._store.renew(drill_id, self.owner, now, self._cfg.lease_s):
                current = await self._store.find(drill_id)
                stop.set()
                return current is not None and current["status"] == "aborted"
            traffic.heal(await self._store.remedies(drill_id))
            incidents = await self._store.incidents_status(drill_id)
            if incidents and not any(status != "resolved" for status in incidents):
                resolved_since = resolved_since or now
            else:
                resolved_since = None
            settled = resolved_since is not None and now - resolved_since >= self._cfg.settle_s
            if settled or now >= deadline:
                stop.set()
        return True

    async def _finish(self, drill_id: str) -> None:
        now = self.clock.now()
        drill = await self._store.get(drill_id)
        incidents = await self._store.incidents(drill_id)
        first = await self._store.first_decision_at(drill_id)
        outcome = "every incident resolved" if incidents else "no incident was opened"
        if drill["status"] != "aborted":  # what the report says is what is stored with it
            drill = {**drill, "status": "finished", "outcome": outcome}
        report = build_report(drill, incidents, first, self._response_cfg)
        await self._store.finish(drill_id, now, outcome, report)
        self.finished.append(drill_id)
        drill = await self._store.get(drill_id)
        verdict = "PASSED" if report["passed"] else "FAILED"
        failed = [c["criterion"] for c in report["criteria"] if not c["passed"]]
        why = f" (not met: {'; '.join(failed)})" if failed else ""
        text = (
            f"DR Drill {drill_id} {drill['status']}: {verdict}{why}. "
            f"Report: GET /drills/{drill_id}?format=markdown or `alertpipe drill report "
            f"{drill_id}`. Debrief: PATCH /drills/{drill_id}/debrief."
        )
        await self.say(drill, "report", text)
        log.info("drill %s report:\n%s", drill_id, report_markdown(report, drill["debrief"]))
