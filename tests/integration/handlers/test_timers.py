"""Durable timers: fired once across several workers; the escalation clock end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from handlers.incidents.manager import IncidentManager
from handlers.timers import TimerWorker
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]


async def test_a_timer_fires_once_across_competing_workers(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=(), response={"investigation_s": 0.5})
    assert s.responder is not None
    store, cfg, clock = s.responder.incidents, s.settings.response, s.responder.clock
    await IncidentManager(store, None, cfg, clock).apply(decision(severity=Severity.HIGH))  # type: ignore[arg-type]
    workers = [TimerWorker(store, cfg, clock) for _ in range(4)]
    [incident] = await s.incidents()

    async def ended() -> int:
        await asyncio.gather(*(w.tick() for w in workers))
        inc = await s.incident(incident["id"])
        return sum(t["message"] == "investigation window of 0.5 s ended" for t in inc["timeline"])

    assert await eventually(ended, lambda n: n >= 1, within_s=10) == 1
    for _ in range(3):  # more rounds change nothing
        await asyncio.gather(*(w.tick() for w in workers))
    assert await ended() == 1
    inc = await s.incident(incident["id"])
    assert inc["rollback"] is not None and inc["rollback_status"] == "requested"
    assert sum(w.fired for w in workers) >= 1


async def test_the_escalation_clock_pages_each_contact_once_then_reminds_of_the_review(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(
        response={
            "investigation_s": 600,
            "lead_engineer_after_s": 0.6,
            "team_lead_after_s": 1.2,
            "final_contact_after_s": 1.8,
            "final_contact": "Dave",
            "chat_update_every_s": 0.7,
            "status_update_every_s": 1.5,
            "review_reminder_after_s": 0.5,
        }
    )
    await s.send(decision("search-api", Severity.HIGH, rule="p95_latency", metric="p95_ms"))

    def escalations(r: Recorder) -> list[str | None]:
        return [
            x.json["payload"]["custom_details"].get("escalate_to")
            for x in r.on("/pager")
            if x.json["event_action"] == "trigger"
        ]

    await recorder.wait_for(
        lambda r: "Dave" in escalations(r), within_s=20, what="escalation to Dave"
    )
    assert escalations(recorder) == [None, "lead engineer", "team lead", "Dave"]
    [inc] = await s.incidents("search-api")
    assert s.responder is not None
    await s.responder.commands.resolve(inc["id"], "ana", "index rebuilt")

    def texts(r: Recorder) -> list[str]:
        return [x.json["text"] for x in r.on("/chat")]

    await recorder.wait_for(
        lambda r: any("post-incident review" in t for t in texts(r)), what="review reminder"
    )
    assert sum(t.startswith("update ") for t in texts(recorder)) >= 2
    assert any(x.json["incident"]["status"] == "identified" for x in recorder.on("/statuspage"))
    assert [x.json["event_action"] for x in recorder.on("/pager")][-1] == "resolve"

    def keys(r: Recorder, action: str) -> set[str]:
        return {x.json["dedup_key"] for x in r.on("/pager") if x.json["event_action"] == action}

    # Each tier is its own PagerDuty alert, and each is resolved with the incident.
    tiers = {
        inc["id"],
        *(f"{inc['id']}:{t}" for t in ("lead_engineer", "team_lead", "final_contact")),
    }
    await recorder.wait_for(lambda r: keys(r, "resolve") == tiers, what="every tier resolved")
    assert keys(recorder, "trigger") == tiers
    assert escalations(recorder) == [
        None,
        "lead engineer",
        "team lead",
        "Dave",
    ]  # none after resolution


async def test_a_timer_due_while_no_worker_runs_fires_once_after_a_restart(
    stack: MakeStack, recorder: Recorder, database: str
) -> None:
    """The responder goes down with a HIGH incident's investigation window open; the window
    ends while nothing runs. The next responder to start fires the timer — once — and rolls
    back, however many rounds it goes on ticking."""
    before = await stack(roles=("timers",), response={"investigation_s": 1.0})
    assert before.responder is not None
    manager = IncidentManager(
        before.responder.incidents,
        None,
        before.settings.response,
        before.responder.clock,  # type: ignore[arg-type]
    )
    await manager.apply(decision(severity=Severity.HIGH, rule="p95_latency", metric="p95_ms"))
    [incident] = await before.incidents()
    await before.stop()

    async def overdue_and_unfired() -> bool:
        conn = await asyncpg.connect(database)
        try:
            return bool(
                await conn.fetchval(
                    """SELECT due_at <= now() AND fired_at IS NULL FROM timers
                       WHERE kind = 'investigation'"""
                )
            )
        finally:
            await conn.close()

    assert await eventually(overdue_and_unfired, within_s=10, what="the window ended unwatched")
    after = await stack(roles=("timers",), response={"investigation_s": 1.0})
    worker = after.role("timers")
    assert isinstance(worker, TimerWorker)

    async def ended() -> int:
        inc = await after.incident(incident["id"])
        return sum(t["message"] == "investigation window of 1 s ended" for t in inc["timeline"])

    assert await eventually(ended, lambda n: n >= 1, within_s=10, what="the timer fired") == 1
    ticks = worker.ticks
    await eventually(lambda: _ticks(worker), lambda n: n >= ticks + 3, what="three more rounds")
    assert await ended() == 1 and worker.fired == 1
    inc = await after.incident(incident["id"])
    assert inc["rollback"] is not None and inc["rollback"]["reason"].startswith(
        "investigation window ended, the condition still breaches"
    )


async def _ticks(worker: TimerWorker) -> int:
    return worker.ticks
