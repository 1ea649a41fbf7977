"""A deploy that skipped the readiness gate is seen, through Kafka and PostgreSQL: a deploy of a
version checked ready raises nothing; one never checked (or checked not ready) is a MEDIUM
"deployed while not ready" decision, and every incident of that deploy says so."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from app.storage.readiness import PgReadinessStore
from schemas.panes import DeployRecord, PaneSummary, Scope
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]


def _started(service: str, ts: float, version: str) -> PaneSummary:
    scope = Scope(service=service, dimension="service", key=service)
    start_ms = int(ts * 1000) // 1000 * 1000
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start_ms),
        scope=scope,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        deploys=[DeployRecord(ts=ts, version=version, status="started")],
    )


async def test_a_deploy_that_skipped_the_gate_is_a_decision_on_every_incident_of_it(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    assert s.responder is not None
    pool = s.responder.pool
    now = time.time()
    checks = PgReadinessStore(pool)
    await checks.record_check("chat-api", "2.4.0", {"ready": True, "failed": []}, "ci", now - 60)
    failed = {"ready": False, "failed": ["backup_tested", "dr_drill"]}
    await checks.record_check("chat-api", "2.5.0", failed, "ci", now - 50)
    await s.send_panes(
        _started("chat-api", now - 30, "2.4.0"),  # checked ready: nothing
        _started("chat-api", now - 20, "2.5.0"),  # checked, not ready
        _started("chat-api", now - 20, "2.5.0"),  # the same deploy re-read: once
    )

    async def verdicts() -> list[tuple[str, bool, str]]:
        rows = await pool.fetch("SELECT version, ready, reason FROM deploy_gate ORDER BY version")
        return [(r["version"], r["ready"], r["reason"]) for r in rows]

    found = await eventually(verdicts, lambda v: len(v) == 2, what="the gate's verdicts")
    assert found[0][:2] == ("2.4.0", True)
    assert found[1][:2] == ("2.5.0", False)
    assert found[1][2].endswith("failed: backup_tested, dr_drill")

    inc = await s.wait_incident("chat-api", lambda i: i["severity"] == "MEDIUM", what="MEDIUM")
    [alert] = inc["alerts"].values()
    assert alert["rule"] == "deployed-while-not-ready" and inc["bad_version"] == "2.5.0"
    assert "2.5.0 was deployed while not ready" in [t["message"] for t in inc["timeline"]]
    await recorder.wait_for(
        lambda r: any("Decision needed" in (q.json or {}).get("text", "") for q in r.on("/chat")),
        what="the chat notice asking a human",
    )
    assert not recorder.on("/rollback") and not recorder.on("/pager")
    decided = await pool.fetchval(
        "SELECT count(*) FROM decisions WHERE body->>'rule' = 'deployed-while-not-ready'"
    )
    assert decided == 1

    # The human dismisses it; the deploy then fails for real: its new incident says too.
    assert s.responder is not None
    await s.responder.commands.decide(inc["id"], "dismiss", "ana", "known risk")
    await s.send(decision("chat-api", Severity.CRITICAL, version="2.5.0"))
    critical = await s.wait_incident(
        "chat-api", lambda i: i["id"] != inc["id"] and i["severity"] == "CRITICAL"
    )
    notes = [
        t for t in critical["timeline"] if t["message"] == "2.5.0 was deployed while not ready"
    ]
    assert len(notes) == 1 and notes[0]["reason"] == found[1][2]


async def test_a_deploy_never_checked_is_not_ready(stack: MakeStack, recorder: Recorder) -> None:
    s = await stack()
    await s.send_panes(_started("search-api", time.time() - 5, "1.9.0"))
    inc = await s.wait_incident("search-api", lambda i: i["severity"] == "MEDIUM")
    [alert] = inc["alerts"].values()
    assert alert["rule"] == "deployed-while-not-ready"
    [note] = [t for t in inc["timeline"] if t["message"] == "1.9.0 was deployed while not ready"]
    assert note["reason"] == "no readiness check of 1.9.0 on record before the deploy"
