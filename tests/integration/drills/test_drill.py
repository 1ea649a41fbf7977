"""A DR drill through the real pipeline (every role), started through the API: announced
first, marked on every call, kept off the status page and production's control URLs, with a
report whose figures are the recorded ones; its S1 incident's review checked against the panes
the run produced; and an abort in the middle of the rollback that leaves nothing open."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from app.reviews.draft import PEAK_MIN_REQUESTS
from schemas.panes import PaneSummary
from tests.integration.drills.conftest import DRILL_KEY, Running
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

_CONTROL = ("breaker", "rollback", "restore", "bot_restart")


async def _start(running: Running, scenario: str = "s1") -> str:
    answer = await running.api.post("/drills", json={"scenario": scenario})
    assert answer.status_code == 201, answer.text
    drill_id: str = answer.json()["id"]
    return drill_id


async def _status(running: Running, drill_id: str, *wanted: str, within_s: float) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return dict(await running.drill(drill_id))

    return await eventually(
        probe, lambda d: d["status"] in wanted and d.get("traffic_stopped_at") is not None
        if "finished" in wanted else d["status"] in wanted, within_s, f"drill {wanted}",
        every_s=0.5,
    )  # fmt: skip


async def _incident(running: Running, drill_id: str) -> dict[str, Any]:
    r = running.pipeline.responder
    assert r is not None
    rows = await r.pool.fetch(
        "SELECT id FROM incidents WHERE drill = $1 ORDER BY opened_at", drill_id
    )
    assert rows, "the drill opened no incident"
    found = await r.queries.get_incident(rows[0]["id"])
    assert found is not None
    return found


async def _panes(running: Running, drill_id: str) -> list[PaneSummary]:
    """Every pane of the run, read straight from the panes topic (not through the review)."""
    topic = running.settings.topics.panes
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=running.settings.bootstrap, isolation_level="read_committed",
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    try:
        await eventually(lambda: asyncio.sleep(0, consumer.assignment()), what="assigned")
        tps = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        panes: list[PaneSummary] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                panes += [PaneSummary.model_validate_json(r.value) for r in records]
        latest: dict[str, PaneSummary] = {}  # a refinement replaces the pane it refines
        for pane in panes:
            if pane.scope.drill == drill_id and (
                pane.pane_id not in latest or latest[pane.pane_id].revision < pane.revision
            ):
                latest[pane.pane_id] = pane
        return list(latest.values())
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # aiokafka's own, when group-less
            await consumer.stop()


async def test_a_drill_runs_through_the_pipeline_marked_routed_and_reported(
    running: Running,
) -> None:
    drill_id = await _start(running)
    drill = await _status(running, drill_id, "finished", within_s=240)
    calls = running.recorder.requests

    # Announced on chat before anything else; every call carries the drill's id.
    assert calls[0].path == "/prod/chat", [c.path for c in calls]
    assert "DR Drill — this is a test" in calls[0].json["text"]
    assert all(c.headers.get("x-alertpipe-drill") == drill_id for c in calls), [
        (c.path, c.headers.get("x-alertpipe-drill")) for c in calls
    ]
    # Never the status page nor a production control URL; the control calls went to staging.
    paths = {c.path for c in calls}
    assert "/prod/statuspage" not in paths
    assert not paths & {f"/prod/{name}" for name in _CONTROL}, paths
    assert {"/staging/breaker", "/staging/rollback"} <= paths, paths
    # Pages go to the drill's routing key, every human text is marked.
    pages = [c.json for c in calls if c.path == "/prod/pager"]
    assert pages and {p["routing_key"] for p in pages} == {DRILL_KEY}
    triggers = [p for p in pages if p["event_action"] == "trigger"]
    assert triggers and all(p["payload"]["summary"].startswith("[DRILL]") for p in triggers)
    assert all(c.json["text"].startswith("[DRILL]") for c in calls if c.path == "/prod/chat")
    # The report's figures are the recorded ones.
    incident = await _incident(running, drill_id)
    assert incident["drill"] == drill_id and incident["status"] == "resolved"
    report = drill["report"]
    assert isinstance(report, dict)
    by_name = {c["criterion"]: c for c in report["criteria"]}
    in_time = by_name["rollback executed within planned time"]["evidence"]["rollbacks"][0]
    recorded = [p for p in incident["rollback"]["phases"] if p["status"] != "skipped"]
    assert [(p["phase"], p["duration_s"], p["budget_s"]) for p in in_time["phases"]] == [
        (p["phase"], p["duration_s"], p["budget_s"]) for p in recorded
    ]
    assert in_time["total_s"] == pytest.approx(
        (incident["rollback"]["finished_at"] - incident["rollback"]["started_at"]).total_seconds()
    )
    verified = by_name["system verified working after rollback"]
    assert verified["passed"] and verified["evidence"][0]["verdict"] == "back under the baseline"
    docs = by_name["process documentation accurate"]["evidence"]
    assert docs["missing"] == [] and docs["out_of_order"] == [], docs
    breaker = min(a["created_at"] for a in incident["actions"] if a["kind"] == "breaker")
    assert docs["observed"]["breaker_open"] == breaker.timestamp()
    fault = drill["fault_at"]
    assert report["times_s"]["onset_to_mitigation"] == pytest.approx(
        incident["mitigated_at"].timestamp() - _epoch(fault), abs=1e-3
    )
    announced = [e for e in docs["observed"].values() if e is not None]
    assert docs["observed"]["announce"] == min(announced)
    markdown = await running.api.get(f"/drills/{drill_id}", params={"format": "markdown"})
    assert "rollback executed within planned time" in markdown.text
    # The review of this S1 run, checked against the panes it produced.
    await _review_matches_panes(running, drill_id, incident)


def _epoch(value: Any) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else float(value)


async def _review_matches_panes(running: Running, drill_id: str, incident: dict[str, Any]) -> None:
    async def fetch() -> Any:
        return await running.api.get(f"/incidents/{incident['id']}/review")

    answer = await eventually(fetch, lambda a: a.status_code == 200, 60, "review drafted", 0.5)
    review = answer.json()
    panes = await _panes(running, drill_id)
    start, end = review["impact"]["span"]
    mine = [
        p for p in panes
        if p.scope.service == "chat-api" and p.requests is not None
        and start * 1000 <= p.start_ms < end * 1000
    ]  # fmt: skip
    assert review["impact"]["requests_failed"] == sum(p.requests.errors for p in mine if p.requests)
    assert review["impact"]["requests_failed"] > 0
    per_second: dict[int, list[int]] = {}
    for p in mine:
        assert p.requests is not None
        counts = per_second.setdefault(p.start_ms, [0, 0])
        counts[0] += p.requests.count
        counts[1] += p.requests.errors
    peak = max(e / n for n, e in per_second.values() if n >= PEAK_MIN_REQUESTS)
    assert review["impact"]["peak_error_rate"] == pytest.approx(peak, abs=1e-4)
    detection = review["detection"]
    threshold = detection["threshold"]
    endpoint = detection["scope"]["endpoint"]
    breaching = sorted(
        p.start_ms for p in panes
        if p.scope.key == endpoint and p.requests and p.requests.count
        and p.requests.errors / p.requests.count > threshold
    )  # fmt: skip
    page = min(
        a["finished_at"].timestamp() for a in incident["actions"]
        if a["kind"] == "page" and a["status"] == "sent" and a["payload"]["event"] == "trigger"
    )  # fmt: skip
    assert detection["first_breach_at"] == breaching[0] / 1000
    assert detection["first_breach_to_page_s"] == pytest.approx(
        page - breaching[0] / 1000, abs=1e-3
    )
    assert review["drill"] == drill_id
    # People's edits survive a new draft, and are audited.
    edit = {"root_cause": "a null check removed in 2.4.0", "owners": {"fix_bug": "ana"}}
    assert (
        await running.api.patch(f"/incidents/{incident['id']}/review", json=edit)
    ).status_code == 200
    r = running.pipeline.responder
    assert r is not None
    drafter = running.pipeline.role("review-drafter")
    await drafter.draft(incident["id"])  # type: ignore[attr-defined]
    again = (await running.api.get(f"/incidents/{incident['id']}/review")).json()
    assert again["root_cause"] == edit["root_cause"]
    assert again["action_items"][0]["owner"] == "ana"
    assert [e["field"] for e in again["edits"]] == ["root_cause", "owners"]


async def test_abort_in_the_middle_of_the_rollback_leaves_nothing_open(running: Running) -> None:
    drill_id = await _start(running)
    r = running.pipeline.responder
    assert r is not None

    async def verifying() -> Any:
        return await r.pool.fetchval(
            """SELECT count(*) FROM rollback_phases p JOIN rollbacks b ON b.id = p.rollback_id
               WHERE b.drill = $1 AND p.phase = 'verify' AND p.status = 'running'""",
            drill_id,
        )

    await eventually(verifying, lambda n: n > 0, 150, "the drill's rollback verifying", 0.2)
    answer = await running.api.post(f"/drills/{drill_id}/abort")
    assert answer.status_code == 200, answer.text
    said = answer.json()
    assert said["status"] == "aborted" and said["closed_incidents"] and said["ended_rollbacks"]
    assert "aborted" in said["message"]
    await _status(running, drill_id, "aborted", within_s=30)
    await eventually(
        lambda: _open_things(r.pool, drill_id), lambda left: not any(left.values()), 30,
        "nothing of the drill left open", 0.2,
    )  # fmt: skip
    await eventually(
        lambda: running.drill(drill_id), lambda d: d.get("traffic_stopped_at") is not None, 30,
        "the drill's traffic stopped", 0.2,
    )  # fmt: skip
    assert not running.runner.health()["running"]


async def test_a_drill_handed_back_by_its_runner_resumes_at_once_and_finishes(
    running: Running,
) -> None:
    """A runner that stops (SIGTERM, a restart in place) hands its drills back: their leases
    are released, so the next tick resumes the drill without waiting out the lease; it is not
    announced again, its traffic goes on, and it finishes with its report."""
    drill_id = await _start(running)
    runner = running.runner
    r = running.pipeline.responder
    assert r is not None
    await eventually(
        lambda: running.drill(drill_id),
        lambda d: d["status"] == "running" and int(d.get("events_sent") or 0) >= 2000, 120,
        "the drill's traffic flowing", 0.3,
    )  # fmt: skip
    held = await r.pool.fetchval("SELECT lease_until FROM drills WHERE id = $1", drill_id)
    await runner.hand_back()
    assert drill_id not in runner.health()["running"]
    await eventually(
        lambda: asyncio.sleep(0, runner.health()["running"]), lambda now: drill_id in now, 30,
        "the drill resumed by the runner's next tick", 0.05,
    )  # fmt: skip
    # Resumed while the lease it held would still have run (it was released, not waited out).
    assert time.time() < held.timestamp(), (time.time(), held)
    drill = await _status(running, drill_id, "finished", within_s=240)
    announcements = [
        c for c in running.recorder.requests
        if c.path == "/prod/chat" and "DR Drill — this is a test" in c.json["text"]
    ]  # fmt: skip
    assert len(announcements) == 1
    report = drill["report"]
    assert isinstance(report, dict) and report["criteria"], report
    incident = await _incident(running, drill_id)
    assert incident["status"] == "resolved"


async def _open_things(pool: asyncpg.Pool, drill_id: str) -> dict[str, int]:
    return {
        "incidents": await pool.fetchval(
            "SELECT count(*) FROM incidents WHERE drill = $1 AND status <> 'resolved'", drill_id
        ),
        "rollbacks": await pool.fetchval(
            "SELECT count(*) FROM rollbacks WHERE drill = $1 AND status IN ('requested', 'running')",
            drill_id,
        ),
        "phases": await pool.fetchval(
            """SELECT count(*) FROM rollback_phases p JOIN rollbacks b ON b.id = p.rollback_id
               WHERE b.drill = $1 AND p.status = 'running'""",
            drill_id,
        ),
        "timers": await pool.fetchval(
            """SELECT count(*) FROM timers t JOIN incidents i ON i.id = t.incident_id
               WHERE i.drill = $1 AND t.fired_at IS NULL""",
            drill_id,
        ),
        "control calls": await pool.fetchval(
            """SELECT count(*) FROM actions a JOIN incidents i ON i.id = a.incident_id
               WHERE i.drill = $1 AND a.status IN ('pending', 'sending')
                 AND a.kind NOT IN ('page', 'chat', 'status_page')""",
            drill_id,
        ),
    }
