"""Maintenance windows, automation holds and dry run through the whole responder, on Kafka and
PostgreSQL with receivers on a loopback recorder.

Held: the decision is recorded and the incident opened, but no control call reaches a receiver
and the rollback starts no phase; released (by an operator, by lifting the hold, or by the
window's end) every held call goes out exactly once, under its own idempotency key, and the
rollback runs its phases. Dry run: everything is recorded as "would have sent", nothing sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from handlers.silences import Matcher, Silence
from schemas.maintenance import MaintenanceWindow
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]
HOLDS = {"recheck_s": 0.2}


def _timeline(incident: dict[str, Any]) -> list[str]:
    return [t["message"] for t in incident["timeline"]]


def _actions(incident: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in incident["actions"] if a["kind"] == kind]


def _window(**fields: Any) -> MaintenanceWindow:
    now = time.time()
    return MaintenanceWindow.model_validate(
        {
            "name": "db-upgrade",
            "services": ["chat-*"],
            "starts_at": datetime.fromtimestamp(now - 60, UTC),
            "ends_at": datetime.fromtimestamp(now + 3600, UTC),
            "comment": "postgres 16",
            **fields,
        }
    )


async def _held(s: Stack) -> dict[str, Any]:
    """The CRITICAL incident once its breaker call is held and its rollback waits."""
    return await s.wait_incident(
        "chat-api",
        lambda i: (
            any(m.startswith("rollback held before prepare") for m in _timeline(i))
            and [a["status"] for a in _actions(i, "breaker")] == ["held"]
        ),
        what="the breaker held and the rollback waiting",
    )


async def test_a_window_holds_automation_and_mutes_pages_until_an_operator_releases_it(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(holds=HOLDS)
    assert s.responder is not None
    window = await s.responder.holds.create_window(_window(), "ana", time.time())
    await s.send(decision("chat-api", Severity.CRITICAL))
    inc = await _held(s)
    assert inc["status"] == "open" and inc["rollback"]["status"] in ("requested", "running")
    assert inc["rollback"]["phases"] == []  # no phase started while held
    assert "breaker open held by maintenance window db-upgrade" in _timeline(inc)
    await s.wait_incident(
        "chat-api",
        lambda i: _actions(i, "page")[0]["status"] == "muted",
        what="the page muted by the window",
    )
    assert (
        not recorder.on("/breaker") and not recorder.on("/rollback") and not recorder.on("/pager")
    )

    await s.responder.commands.release(inc["id"], "ana", "upgrade done early")
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert, released")
    s.background(s.feed_healthy("chat-api"))
    done = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    [breaker_open] = [r for r in recorder.on("/breaker") if r.json["action"] == "open"]
    assert breaker_open.key == f"{inc['id']}:breaker:open:chat-api"
    [revert] = recorder.on("/rollback")
    assert revert.key == f"{inc['id']}:rollback:revert_code"
    opened = _actions(done, "breaker")[0]
    assert (opened["status"], opened["attempts"]) == ("sent", 1)  # waiting spent no attempt
    assert any(m.startswith("automation released from maintenance window db-upgrade by ana")
               for m in _timeline(done))  # fmt: skip
    assert done["hold_releases"][0]["cause"] == f"window:{window.id}"
    assert not recorder.on("/pager")  # the muted page stays muted


async def test_a_global_hold_stops_every_control_call_until_it_is_lifted(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(holds=HOLDS)
    assert s.responder is not None
    hold = await s.responder.holds.create_hold("load test in progress", "ana", time.time())
    await s.send(decision("chat-api", Severity.CRITICAL))
    await s.send(decision("search-api", Severity.CRITICAL, rule="p95", metric="p95_ms"))
    for service in ("chat-api", "search-api"):
        await s.wait_incident(
            service,
            lambda i: [a["status"] for a in _actions(i, "breaker")] == ["held"],
            what=f"{service}'s breaker held",
        )
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 2, what="both pages (not held)")
    assert not recorder.on("/breaker") and not recorder.on("/rollback")

    await s.responder.holds.lift_hold(hold.id, "ana", time.time())
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 2, what="both reverts")
    opens = [r.key for r in recorder.on("/breaker") if r.json["action"] == "open"]
    assert len(opens) == len(set(opens)) == 2


async def test_a_silence_that_holds_automation_holds_it_while_active(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(holds=HOLDS)
    assert s.responder is not None
    now = time.time()
    silence = Silence(
        s.responder.silences.new_id(), (Matcher("service", "chat-api"),), now - 1, now + 3600,
        "bob", "game day", hold_automation=True,
    )  # fmt: skip
    await s.responder.silences.create(silence, now)
    await s.send(decision("chat-api", Severity.CRITICAL))
    inc = await _held(s)
    assert f"breaker open held by silence {silence.id}" in _timeline(inc)
    await s.responder.silences.expire(silence.id, time.time())
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert")
    assert not recorder.on("/pager")  # the silence muted the page while it was active


async def test_held_calls_go_out_once_the_window_ends(stack: MakeStack, recorder: Recorder) -> None:
    s = await stack(holds=HOLDS)
    assert s.responder is not None
    now = time.time()
    short = _window(
        starts_at=datetime.fromtimestamp(now - 1, UTC),
        ends_at=datetime.fromtimestamp(now + 4, UTC),
        notifications="send",
    )
    await s.responder.holds.create_window(short, "ana", now)
    await s.send(decision("chat-api", Severity.CRITICAL))
    await _held(s)
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, what="the page, not muted")
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, 20, "the revert after the end")
    assert recorder.on("/rollback")[0].at >= now + 4  # not before the window ended


async def test_a_dry_run_decision_records_everything_and_sends_nothing(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    await s.send(decision("chat-api", Severity.CRITICAL, dry_run=True))
    inc = await s.wait_incident(
        "chat-api",
        lambda i: i["actions"] and all(a["status"] == "dry_run" for a in i["actions"]),
        what="every action recorded as would have sent",
    )
    assert inc["dry_run"] is True and inc["rollback"] is None
    assert {a["kind"] for a in inc["actions"]} >= {"page", "chat", "breaker"}
    assert "dry run: rollback 2.4.0 → 2.3.9 would have been requested" in _timeline(inc)
    assert "page trigger would have been sent (dry run)" in _timeline(inc)

    # A live decision of the same service meanwhile is an incident of its own, acted on.
    await s.send(decision("chat-api", Severity.CRITICAL, rule="p95", metric="p95_ms"))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the live revert")
    found = await eventually(
        lambda: s.incidents("chat-api"), lambda i: len(i) == 2, 10, "two incidents"
    )
    live = next(i for i in found if i["id"] != inc["id"])
    assert live["dry_run"] is False
    assert recorder.on("/rollback")[0].key == f"{live['id']}:rollback:revert_code"
    assert all(inc["id"] not in str(r.key) for r in recorder.requests)


async def test_a_hold_set_mid_rollback_stops_it_at_the_next_phase_and_lifting_it_resumes(
    stack: MakeStack, recorder: Recorder
) -> None:
    """The revert is under way when a global hold lands: the revert (already sent) completes,
    verify does not start while held, and once lifted the rollback goes on where it was —
    one revert, one breaker close, no call twice."""
    s = await stack(holds=HOLDS, delivery={"timeout_s": 30.0, "lease_s": 60.0})
    assert s.responder is not None
    recorder.stall_next(1, path="/rollback")
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert, in flight")
    hold = await s.responder.holds.create_hold("freeze: incident review", "ana", time.time())
    recorder.release()
    inc = await s.wait_incident(
        "chat-api",
        lambda i: "rollback held before verify by global hold " + hold.id in _timeline(i),
        what="verify held",
    )
    phases = {p["phase"]: p["status"] for p in inc["rollback"]["phases"]}
    assert phases == {"prepare": "succeeded", "revert_code": "succeeded", "restore_data": "skipped"}
    s.background(s.feed_healthy("chat-api"))
    assert not [r for r in recorder.on("/breaker") if r.json["action"] == "close"]

    await s.responder.holds.lift_hold(hold.id, "ana", time.time())
    done = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    await recorder.wait_for(
        lambda r: any(q.json["action"] == "close" for q in r.on("/breaker")), what="resume"
    )
    assert len(recorder.on("/rollback")) == 1
    keys = [r.key for r in recorder.on("/breaker")]
    assert keys == [f"{done['id']}:breaker:open:chat-api", f"{done['id']}:breaker:close:chat-api"]
    verify = next(p for p in done["rollback"]["phases"] if p["phase"] == "verify")
    assert verify["status"] == "succeeded"
