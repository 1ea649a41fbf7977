"""Resolving by hand while the alert fires: resolved and re-armed (docs/response.md).

Over HTTP against PostgreSQL: the resolution is accepted and says which alerts it re-armed;
the alert's next breach (stage 2's turn from held back to breaching) opens a new incident with
the whole response; an alert still breaching when the grace period ends is delivered again by
the ``rearm`` timer — once, however often the timer runs.
"""

from __future__ import annotations

import time
from typing import Any

from handlers.incidents.manager import DecisionApplier
from handlers.timers import TimerWorker
from schemas.clock import ManualClock
from schemas.severity import Severity
from tests.integration.api.conftest import Api
from tests.support.decisions import decision


async def _critical_then_resolved(api: Api, at: float) -> tuple[str, dict[str, Any]]:
    """A CRITICAL incident whose rollback ran (the alert still fires, held by keep_firing_for),
    resolved by hand."""
    await api.manager.apply(decision(severity=Severity.CRITICAL, at=at))
    [found] = (await api.client.get("/incidents")).json()
    async with api.responder.incidents.transaction() as tx:
        rollback = await tx.rollback(f"rb_{found['id']}")
        assert rollback is not None
        await tx.end_rollback(rollback, True, "every phase done", at + 20)
    done = await api.client.post(
        f"/incidents/{found['id']}/resolve", json={"note": "looks fine to me"}
    )
    assert done.status_code == 200
    return str(found["id"]), done.json()


async def _incidents(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api.client.get("/incidents")).json()
    return found


async def test_resolve_while_firing_is_accepted_and_re_arms_the_alert(api: Api) -> None:
    first, body = await _critical_then_resolved(api, time.time())
    assert body["status"] == "resolved"
    assert body["rearmed"] == [
        {
            "rule": "error_rate_critical",
            "scope": {"endpoint": "POST /api/search"},
            "state": "firing",
        }
    ]
    got = (await api.client.get(f"/incidents/{first}")).json()
    [note] = [t for t in got["timeline"] if t["message"].startswith("re-armed")]
    assert "opens a new incident" in note["reason"] and note["evidence"]["grace_s"] == 300
    # The alert's turn back to breaching (the bad version deployed again): a new incident.
    again = decision(at=time.time() + 30, previous="firing", breaching=True, seq=2)
    assert await api.manager.apply(again) == "incident"
    [newest, resolved] = await _incidents(api)
    assert resolved["id"] == first and newest["id"] != first and newest["status"] == "open"
    fresh = (await api.client.get(f"/incidents/{newest['id']}")).json()
    kinds = [a["kind"] for a in fresh["actions"]]
    assert kinds.count("page") == 1 and "breaker" in kinds
    assert fresh["rollback"] is not None and fresh["rollback"]["status"] == "requested"
    assert fresh["timeline"][0]["reason"].startswith("a re-armed alert breaches again")


async def test_a_turn_to_held_after_the_resolution_opens_nothing(api: Api) -> None:
    await _critical_then_resolved(api, time.time())
    held = decision(at=time.time() + 30, previous="firing", breaching=False, seq=2)
    assert await api.manager.apply(held) == "logged"
    assert len(await _incidents(api)) == 1


async def test_still_breaching_after_the_grace_opens_a_new_incident_once(api: Api) -> None:
    t0 = time.time()
    first, _ = await _critical_then_resolved(api, t0)
    r = api.responder
    cfg = r.settings.response
    clock = ManualClock(t0 + 1)
    workers = [
        TimerWorker(r.incidents, cfg, clock, redeliver=DecisionApplier(cfg).apply_in)
        for _ in range(2)
    ]
    for worker in workers:
        await worker.tick()
    assert len(await _incidents(api)) == 1  # within the grace: nothing yet
    await clock.advance(cfg.rearm_grace_s + 1)
    for worker in workers * 2:  # two workers, each twice: the timer fires once
        await worker.tick()
    [newest, resolved] = await _incidents(api)
    assert resolved["id"] == first and newest["status"] == "open"
    fresh = (await api.client.get(f"/incidents/{newest['id']}")).json()
    assert fresh["title"].endswith(f"still firing 5 min after {first} was resolved by hand")
    assert fresh["rollback"] is not None
    old = (await api.client.get(f"/incidents/{first}")).json()
    [ended] = [t for t in old["timeline"] if t["message"].startswith("re-arm grace ended")]
    assert ended["reason"].startswith("a re-armed alert still breaches")
    assert ended["result"] == {"incident": newest["id"]}


async def test_no_new_incident_when_the_alert_resolved_within_the_grace(api: Api) -> None:
    t0 = time.time()
    first, _ = await _critical_then_resolved(api, t0)
    await api.manager.apply(decision(state="resolved", at=t0 + 60, seq=2))
    r = api.responder
    clock = ManualClock(t0 + r.settings.response.rearm_grace_s + 5)
    cfg = r.settings.response
    worker = TimerWorker(r.incidents, cfg, clock, redeliver=DecisionApplier(cfg).apply_in)
    await worker.tick()
    assert [i["id"] for i in await _incidents(api)] == [first]
    old = (await api.client.get(f"/incidents/{first}")).json()
    [ended] = [t for t in old["timeline"] if t["message"].startswith("re-arm grace ended")]
    assert ended["reason"].startswith("no longer breaching")
