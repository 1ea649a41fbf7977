"""Deploy history from the panes topic: deploy events land in PostgreSQL once each, and a
decision that knows no last good version rolls back to the one the history names."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import asyncpg

from schemas.panes import DeployRecord, PaneSummary, Scope
from schemas.severity import Severity
from tests.support.decisions import decision, healthy_pane
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]


def _deploy_pane(service: str, ts: float, version: str, status: str) -> PaneSummary:
    scope = Scope(service=service, dimension="service", key=service)
    start_ms = int(ts * 1000) // 1000 * 1000
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start_ms),
        scope=scope,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        deploys=[DeployRecord(ts=ts, version=version, status=status)],  # type: ignore[arg-type]
    )


async def _history(dsn: str, service: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT version, status FROM deploys WHERE service = $1 ORDER BY at, id", service
        )
    finally:
        await conn.close()
    return [(r["version"], r["status"]) for r in rows]


async def test_deploy_events_become_history_and_name_the_rollback_target(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    assert s.producer is not None
    t0 = time.time() - 120
    panes = [
        _deploy_pane("chat-api", t0, "2.3.9", "started"),
        _deploy_pane("chat-api", t0 + 1, "2.3.9", "succeeded"),
        healthy_pane("chat-api", int(t0 * 1000) + 5000),  # no deploys: not recorded
        _deploy_pane("chat-api", t0 + 60, "2.4.0", "started"),
        _deploy_pane("chat-api", t0 + 61, "2.4.0", "succeeded"),
    ]
    for pane in [*panes, panes[1]]:  # a re-delivered pane is recorded once
        await s.producer.send_and_wait(
            s.settings.topics.panes, pane.model_dump_json().encode(), key=b"chat-api"
        )
    want = [
        ("2.3.9", "started"),
        ("2.3.9", "succeeded"),
        ("2.4.0", "started"),
        ("2.4.0", "succeeded"),
    ]

    async def history() -> list[tuple[str, str]]:
        return await _history(s.settings.dsn, "chat-api")

    assert await eventually(history, lambda h: h == want, 20, "deploy history") == want

    # A CRITICAL decision that carries the bad version but no last good one.
    await s.send(decision("chat-api", Severity.CRITICAL, version="2.4.0", last_good_version=None))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert call")
    body = recorder.on("/rollback")[0].json
    assert (body["from_version"], body["to_version"]) == ("2.4.0", "2.3.9")
    # 2.3.9 never earned "last known good" (no decision said so): its basis says what it is
    [incident] = await s.incidents("chat-api")
    found = await s.incident(incident["id"])
    assert found["target_basis"] == found["rollback"]["target_basis"] == "previous_deploy"
    requested = next(t for t in found["timeline"] if t["message"].startswith("rollback requested"))
    assert requested["message"] == (
        "rollback requested: 2.4.0 → 2.3.9 (previous successful deploy: deployed before the bad "
        "version, never failed or rolled back, not yet proven healthy through a post-deploy "
        "window)"
    )
