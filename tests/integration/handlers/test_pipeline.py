"""Full responder on real Kafka and PostgreSQL, receivers on a loopback recorder: S1–S4.

Decisions go in on the decisions topic as stage 2 would publish them; healthy panes go on the
panes topic once the code is reverted (live traffic for verify). Each test asserts which
calls arrived, in what order, how many, and what the timeline says.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from schemas.incidents import IncidentEvent
from schemas.severity import Severity
from tests.conftest import consume
from tests.support.decisions import backup, dataset_pane, decision, restore_test
from tests.support.recorder import Recorded, Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]


def _calls(rec: Recorder) -> list[str]:
    """Each request as ``path:what`` (pager event, control action, chat topic …)."""
    out = []
    for r in rec.requests:
        body = r.json or {}
        what = (
            body.get("event_action")
            or body.get("action")
            or (body.get("incident") or {}).get("status")
            or "msg"
        )
        target = body.get("target")
        out.append(f"{r.receiver}:{what}" + (f":{target}" if target else ""))
    return out


def _index(calls: list[str], call: str) -> int:
    assert call in calls, f"{call} not among {calls}"
    return calls.index(call)


def _ordered(calls: list[str], *expected: str) -> None:
    positions = [_index(calls, c) for c in expected]
    assert positions == sorted(positions), f"expected {expected} in order; got {calls}"


def _timeline(incident: dict[str, Any]) -> list[str]:
    return [t["message"] for t in incident["timeline"]]


def _one_effect(rec: Recorder, path: str) -> list[Recorded]:
    """Exactly one semantic effect: a single idempotency key (re-sends would repeat it)."""
    hits = rec.on(path)
    assert len({r.key for r in hits}) == len(hits), f"duplicate keys on {path}"
    return hits


def _expect_phases_in_timeline(incident: dict[str, Any], *phases: str) -> None:
    """Each phase started and then finished on the timeline, the phases in plan order."""
    timeline = _timeline(incident)
    positions = []
    for phase in phases:
        started = timeline.index(f"phase {phase} started")
        done = next(i for i, m in enumerate(timeline) if m.startswith(f"phase {phase} done in"))
        assert started < done, (phase, timeline)
        positions.append(started)
    assert positions == sorted(positions), timeline


async def _events(stack: Stack, count: int) -> list[IncidentEvent]:
    raw = await consume(stack.settings.bootstrap, stack.settings.topics.incidents, count)
    return [IncidentEvent.model_validate_json(v) for _, v in raw]


async def test_s1_critical_rolls_back_now_and_verifies_on_live_windows(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(delivery={"timeout_s": 3.0, "lease_s": 6.0})
    recorder.stall_next(1, path="/rollback", stall_s=1.0)  # the revert takes a second
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert call")
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["status"] == "mitigated", what="mitigated")
    # A notice still queued when the incident resolves is stale and not sent: let the
    # "rollback done" message go out before the alert resolves, so every count below is exact.
    await recorder.wait_for(
        lambda r: any(q.key == f"{inc['id']}:chat:rollback_done" for q in r.on("/chat")),
        what="the rollback-done message",
    )
    await s.send(decision("chat-api", Severity.CRITICAL, "resolved", seq=2))
    inc = await s.wait_incident("chat-api", lambda i: i["status"] == "resolved", what="resolved")
    await recorder.wait_for(
        lambda r: (
            {"/pager:resolve", "/statuspage:resolved"} <= set(_calls(r))
            and any(q.key == f"{inc['id']}:chat:resolved" for q in r.on("/chat"))
        ),
        what="the resolution notices",
    )

    calls = _calls(recorder)
    _ordered(calls, "/pager:trigger", "/pager:resolve")
    _ordered(calls, "/breaker:open:chat-api", "/rollback:rollback", "/breaker:close:chat-api")
    [revert] = _one_effect(recorder, "/rollback")
    assert revert.json["from_version"] == "2.4.0" and revert.json["to_version"] == "2.3.9"
    assert revert.key == f"{inc['id']}:rollback:revert_code"
    assert calls.count("/breaker:open:chat-api") == 1 and "/restore:restore" not in calls
    assert inc["scenario"] == "S1" and inc["severity"] == "CRITICAL"

    timeline = _timeline(inc)
    for expected in ("rollback requested: 2.4.0 → 2.3.9", "phase restore_data skipped", "resolved"):
        assert any(expected in m for m in timeline), (expected, timeline)
    phases = {p["phase"]: p for p in inc["rollback"]["phases"]}
    assert [phases[p]["status"] for p in ("prepare", "revert_code", "verify", "resume")] == [
        "succeeded"
    ] * 4
    revert_phase = phases["revert_code"]
    assert revert_phase["budget_s"] == 120 and revert_phase["duration_s"] >= 1.0
    assert revert_phase["detail"]["over_budget"] is False
    verify = phases["verify"]["detail"]["evidence"]
    assert verify["requests"] >= 5 and verify["error_rate"] == 0.0

    # Exactly the plan's notices, each once: one page (and its resolve), the chat messages of
    # detection, rollback start and end and resolution, the status page's open and resolved.
    triggers = [c for c in calls if c == "/pager:trigger"]
    assert (len(triggers), calls.count("/pager:resolve")) == (1, 1)
    chat = sorted(str(r.key).removeprefix(f"{inc['id']}:") for r in recorder.on("/chat"))
    assert chat == [
        "chat:opened:CRITICAL",
        "chat:resolved",
        "chat:rollback_done",
        "chat:rollback_initiated",
    ]
    # Statuspage: created once, then that incident updated (PATCH on the id it answered)
    posts = [
        (r.method, r.json["incident"]["status"], r.json["incident"].get("impact_override"))
        for r in recorder.on("/statuspage")
    ]
    assert posts == [("POST", "investigating", "critical"), ("PATCH", "resolved", None)]

    events = await _events(s, 6)
    types = [e.type for e in events]
    assert types[0] == "opened" and {"rollback_phase", "mitigated"} <= set(types)
    assert len({e.event_id for e in events}) == len(events)


async def test_s3_that_recovers_inside_the_investigation_window_is_not_rolled_back(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    high = dict(severity=Severity.HIGH, rule="p95_latency", metric="p95_ms")
    await s.send(decision("search-api", **high))  # type: ignore[arg-type]
    await recorder.wait_for(lambda r: "/pager:trigger" in _calls(r), what="page")
    await s.send(decision("search-api", state="resolved", seq=2, **high))  # type: ignore[arg-type]
    inc = await s.wait_incident(
        "search-api",
        lambda i: any("investigation window of 1.5 s ended" in m for m in _timeline(i)),
        what="the investigation timer",
    )
    assert inc["status"] == "resolved" and inc["scenario"] == "S3"
    assert inc["rollback"] is None
    ended = next(
        t for t in inc["timeline"] if t["message"] == "investigation window of 1.5 s ended"
    )
    assert ended["reason"].startswith("recovered inside the investigation window")
    await recorder.wait_for(lambda r: "/pager:resolve" in _calls(r), what="pager resolve")
    calls = _calls(recorder)
    _ordered(calls, "/pager:trigger", "/pager:resolve")
    assert (calls.count("/pager:trigger"), calls.count("/pager:resolve")) == (1, 1)
    assert not recorder.on("/rollback") and not recorder.on("/breaker")
    timeline = _timeline(inc)
    assert timeline.index("investigation window of 1.5 s started") < timeline.index(
        "investigation window of 1.5 s ended"
    )


async def test_s3_still_firing_when_the_window_ends_is_rolled_back(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    await s.send(decision("search-api", Severity.HIGH, rule="p95_latency", metric="p95_ms"))
    await recorder.wait_for(
        lambda r: len(r.on("/rollback")) == 1, within_s=20, what="the revert call"
    )
    s.background(s.feed_healthy("search-api"))
    inc = await s.wait_incident("search-api", lambda i: i["rollback_status"] == "succeeded")
    calls = _calls(recorder)
    _ordered(
        calls,
        "/pager:trigger",
        "/breaker:open:search-api",
        "/rollback:rollback",
        "/breaker:close:search-api",
    )
    assert len(_one_effect(recorder, "/rollback")) == 1  # exactly one rollback
    ended = [t for t in inc["timeline"] if t["message"] == "investigation window of 1.5 s ended"]
    assert (
        "still breaches on the latest window" in ended[0]["reason"] and inc["status"] == "mitigated"
    )
    timeline = _timeline(inc)
    assert timeline.index("investigation window of 1.5 s ended") < next(
        i for i, m in enumerate(timeline) if m.startswith("rollback requested")
    )


async def test_s3_acknowledged_with_a_note_holds_the_rollback(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    await s.send(decision("search-api", Severity.HIGH, rule="p95_latency", metric="p95_ms"))
    [found] = await s.wait_incident("search-api", lambda i: True) and await s.incidents(
        "search-api"
    )
    assert s.responder is not None
    await s.responder.commands.acknowledge(found["id"], "ana", "db failover in progress, I have it")
    inc = await s.wait_incident(
        "search-api",
        lambda i: any("investigation window of 1.5 s ended" in m for m in _timeline(i)),
    )
    ended = [t for t in inc["timeline"] if t["message"] == "investigation window of 1.5 s ended"]
    assert ended[0]["reason"].startswith("held") and inc["rollback"] is None
    await recorder.wait_for(lambda r: "/pager:acknowledge" in _calls(r), what="pager acknowledge")
    assert not recorder.on("/rollback")


async def _catalogue(s: Stack, *panes: Any) -> None:
    """Backups reported through the panes topic, recorded by the backup recorder."""
    await s.send_panes(*panes)
    assert s.responder is not None
    pool = s.responder.pool
    wanted = sum(len(p.backups) + len(p.restore_tests) for p in panes)

    async def recorded() -> bool:
        found = await pool.fetchval(
            "SELECT (SELECT count(*) FROM backups) + (SELECT count(*) FROM restore_tests)"
        )
        return bool(found == wanted)

    await eventually(recorded, what="the backups recorded")


async def test_s2_data_corruption_stops_bots_restores_and_rechecks(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    corrupt = decision("chat-api", scenario="S2", rule="integrity_check_failed", metric="integrity")
    start = corrupt.evidence.window_start_ms / 1000  # no deploy on record: the restore point
    await _catalogue(
        s,
        dataset_pane(
            "chat-api",
            "chat_messages",
            [
                backup("full-1", start - 3600, "full"),
                backup("wal-tested", start - 300),
                backup("wal-untested", start - 240),  # newer, never restore-tested
                backup("wal-bad", start - 30),  # newer still, its restore test failed
                backup("wal-after", start + 10),  # may hold corrupt data
                backup("wal-failed", start - 20, status="failed"),
            ],
            [
                restore_test("full-1", start - 3000),
                restore_test("wal-tested", start - 200),
                restore_test("wal-bad", start - 10, ok=False),
            ],
        ),
    )
    await s.send(corrupt)
    await recorder.wait_for(
        lambda r: len(r.on("/restore")) >= 2, what="restore and integrity check"
    )
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    await recorder.wait_for(lambda r: "/bot_restart:start" in _calls(r), what="bots resumed")
    calls = _calls(recorder)
    _ordered(
        calls,
        "/bot_restart:stop",
        "/breaker:open:chat-api/data",
        "/restore:restore",
        "/restore:integrity_check",
        "/breaker:close:chat-api/data",
    )
    _ordered(calls, "/restore:integrity_check", "/bot_restart:start")  # same phase: any order
    _ordered(calls, "/rollback:rollback", "/restore:restore")
    for path in ("/rollback", "/restore", "/bot_restart"):
        _one_effect(recorder, path)
    assert len(recorder.on("/rollback")) == 1  # exactly one rollback
    assert calls.count("/restore:restore") == 1 and calls.count("/bot_restart:stop") == 1
    # No deploy of 2.4.0 on record: the backup must predate the alert's evidence window. The
    # newest restore-tested one before it is preferred to a newer untested one (still within
    # the 10-minute RPO); one whose restore test failed and one taken after are not candidates.
    [restore] = [r for r in recorder.on("/restore") if r.json["action"] == "restore"]
    assert restore.json["before"] == start
    assert restore.json["before_basis"] == "the first alert's window started"
    assert (restore.json["backup_id"], restore.json["dataset"]) == ("wal-tested", "chat_messages")
    assert restore.json["taken_at"] == start - 300
    _expect_phases_in_timeline(inc, "prepare", "revert_code", "restore_data", "verify", "resume")
    phases = {p["phase"]: p["status"] for p in inc["rollback"]["phases"]}
    assert phases == dict.fromkeys(
        ("prepare", "revert_code", "restore_data", "verify", "resume"), "succeeded"
    )
    assert inc["scenario"] == "S2"
    # The loss window incurred, against the RPO; the restore's duration, against the RTO.
    [restored] = inc["rollback"]["restored"]
    assert restored["backup_id"] == "wal-tested" and restored["tested"] is True
    assert restored["loss_window_s"] == pytest.approx(300.0)
    assert (restored["rpo_s"], restored["within_rpo"]) == (600.0, True)
    phase = next(p for p in inc["rollback"]["phases"] if p["phase"] == "restore_data")
    assert restored["restore_duration_s"] == pytest.approx(phase["duration_s"], abs=0.01)
    assert (restored["rto_s"], restored["within_rto"]) == (600.0, True)
    timeline = _timeline(inc)
    assert any(
        m.startswith("restore chat_messages from backup wal-tested (wal, taken ")
        and m.endswith("restore-tested): data-loss window 5 min, within the RPO of 10 min")
        for m in timeline
    ), timeline
    assert any(m.startswith("chat_messages restored in ") for m in timeline), timeline
    assert any(m.startswith("full system back in ") for m in timeline), timeline


async def test_s2_without_a_backup_that_qualifies_escalates_at_once_and_says_why(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    corrupt = decision("chat-api", scenario="S2", rule="integrity_check_failed", metric="integrity")
    start = corrupt.evidence.window_start_ms / 1000
    # Its only backups: one taken after the corruption could have begun, one whose restore
    # test failed.
    await _catalogue(
        s,
        dataset_pane(
            "chat-api",
            "chat_messages",
            [backup("wal-after", start + 10), backup("wal-bad", start - 60)],
            [restore_test("wal-bad", start - 30, ok=False)],
        ),
    )
    await s.send(corrupt)
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "failed")
    assert not [r for r in recorder.on("/restore") if r.json["action"] == "restore"]
    restore = next(p for p in inc["rollback"]["phases"] if p["phase"] == "restore_data")
    assert restore["status"] == "failed" and restore["detail"]["attempts"] == 1  # no retry
    reason = restore["detail"]["reason"]
    assert reason.startswith("nothing to restore: no successful backup of chat_messages taken ")
    assert "the newest, wal-after, was taken at" in reason
    assert "1 earlier one(s) failed their restore test" in reason
    await recorder.wait_for(
        lambda r: any("ROLLBACK FAILED" in (q.json or {}).get("payload", {}).get("summary", "")
                      for q in r.on("/pager")),
        what="the escalation page",
    )  # fmt: skip
    assert "rollback failed; escalated" in _timeline(inc)
    assert inc["rollback"]["restored"] == []


async def test_s4_emergency_stop_rolls_back_at_once_and_resumes_at_reduced_capacity(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(response={"reduced_capacity": 0.25})
    await s.send(decision("platform", scenario="S4", rule="cascade"))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert call")
    s.background(s.feed_healthy("platform"))
    inc = await s.wait_incident("platform", lambda i: i["rollback_status"] == "succeeded")
    await recorder.wait_for(lambda r: "/breaker:close:*" in _calls(r), what="resume")
    calls = _calls(recorder)
    _ordered(calls, "/breaker:open:*", "/rollback:rollback", "/breaker:close:*")
    assert calls.count("/breaker:open:*") == 1
    [close] = [r for r in recorder.on("/breaker") if r.json["action"] == "close"]
    assert close.json["capacity"] == 0.25
    assert len(_one_effect(recorder, "/rollback")) == 1  # exactly one rollback
    assert inc["scenario"] == "S4"
    _expect_phases_in_timeline(inc, "prepare", "revert_code", "verify", "resume")
    assert any(m.startswith("rollback requested: 2.4.0 → 2.3.9") for m in _timeline(inc))


async def test_cascade_of_critical_alerts_across_services_becomes_s4(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(response={"cascade_min_services": 3})
    for n, service in enumerate(("search-api", "chat-api", "bot-runner")):
        await s.send(decision(service, rule=f"error_rate_{n}"))
    inc = await s.wait_incident("bot-runner", lambda i: i["scenario"] == "S4")
    await recorder.wait_for(lambda r: "/breaker:open:*" in _calls(r), what="emergency stop")
    assert inc["rollback"]["emergency"] is True
    json.dumps(inc, default=str)  # the API can serialise what it reads


async def test_at_most_one_rollback_per_service_at_a_time(
    stack: MakeStack, recorder: Recorder
) -> None:
    """Two incidents of one service (the second after the grouping window): the second
    incident's rollback is not started while the first one runs; its timeline says why."""
    s = await stack(response={"group_window_s": 1.0})
    recorder.stall_next(1, path="/rollback")  # the first revert hangs: its rollback keeps running
    t0 = time.time()
    await s.send(decision("chat-api", Severity.CRITICAL, at=t0))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the first revert")
    await s.send(
        decision("chat-api", Severity.CRITICAL, rule="p95_latency", metric="p95_ms", at=t0 + 5)
    )

    async def both() -> list[dict[str, Any]]:
        return await s.incidents("chat-api")

    await eventually(both, lambda i: len(i) == 2, 20, "a second incident")
    second = await s.wait_incident(  # the newest incident of the service
        "chat-api", lambda i: any("rollback not started" in m for m in _timeline(i)), what="blocked"
    )
    note = next(t for t in second["timeline"] if t["message"] == "rollback not started")
    assert "is running for chat-api" in note["reason"]
    assert second["rollback"] is None
    recorder.release()
    assert len(recorder.on("/rollback")) == 1  # still one: the second never started its own

    # The blocked request is not spent: once the first rollback ended, a human (or the
    # escalation clock) can roll the second incident back.
    s.background(s.feed_healthy("chat-api"))
    first = next(i for i in await both() if i["id"] != second["id"])
    await s.wait_incident(
        "chat-api",
        lambda i: i["rollback_status"] == "succeeded",
        what="the first rollback done",
        incident_id=first["id"],
    )
    assert s.responder is not None
    await s.responder.commands.decide(second["id"], "rollback", "ana", "roll this one back too")
    again = await s.wait_incident(
        "chat-api", lambda i: i["rollback"] is not None, what="the second rollback requested"
    )
    assert again["id"] == second["id"] and again["rollback"]["reason"].startswith("human")


async def test_a_refused_revert_is_tried_again_under_a_new_key_and_then_succeeds(
    stack: MakeStack, recorder: Recorder
) -> None:
    """The rollback receiver refuses the first revert (400: not retryable by delivery); the
    policy's one retry of revert_code sends it again under ``…#2``, and the rollback goes on."""
    s = await stack()
    recorder.fail_next(1, status=400, path="/rollback")
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 2, what="the revert, twice")
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    first, second = recorder.on("/rollback")
    assert (first.answered, second.answered) == (400, 200)
    assert second.key == f"{first.key}#2" and first.key == f"{inc['id']}:rollback:revert_code"
    retried = [t for t in inc["timeline"] if "attempt 1 failed; attempt 2" in t["message"]]
    assert len(retried) == 1 and "attempt 1 of 2" in retried[0]["reason"]
    revert = next(p for p in inc["rollback"]["phases"] if p["phase"] == "revert_code")
    assert (revert["status"], revert["attempt"]) == ("succeeded", 2)


async def test_a_revert_refused_on_every_attempt_escalates_and_is_never_looped(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack()
    recorder.fail_next(10, status=400, path="/rollback")
    await s.send(decision("chat-api", Severity.CRITICAL))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "failed")
    await recorder.wait_for(
        lambda r: any("ROLLBACK FAILED" in (q.json or {}).get("text", "") for q in r.on("/chat")),
        what="the escalation in chat",
    )
    assert [r.answered for r in recorder.on("/rollback")] == [400, 400]  # 1 + 1 retry, no more
    assert not [r for r in recorder.on("/breaker") if r.json["action"] == "close"]  # stay open
    assert any(m == "rollback failed; escalated" for m in _timeline(inc))
    revert = next(p for p in inc["rollback"]["phases"] if p["phase"] == "revert_code")
    assert (revert["status"], revert["attempt"]) == ("failed", 2)
    assert "attempt 2 of 2" in revert["detail"]["reason"]
    assert [p["phase"] for p in inc["rollback"]["phases"]] == ["prepare", "revert_code"]


async def test_emergency_rollbacks_of_several_services_close_the_platform_breaker_once_at_the_end(
    stack: MakeStack, recorder: Recorder
) -> None:
    """S4 hits two deployed services: each rolls back. The first to reach resume must not
    reopen the platform while the other still verifies; the last one closes ``*``."""
    s = await stack()
    await s.send(decision("chat-api", scenario="S4", rule="cascade"))
    await s.send(decision("search-api", scenario="S4", rule="cascade"))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 2, what="both reverts")
    s.background(s.feed_healthy("search-api"))  # chat-api stays unverified for now
    first = await s.wait_incident("search-api", lambda i: i["rollback_status"] == "succeeded")
    assert "/breaker:close:*" not in _calls(recorder)
    assert any(m == "platform breaker stays open" for m in _timeline(first))

    s.background(s.feed_healthy("chat-api"))
    last = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    await recorder.wait_for(lambda r: "/breaker:close:*" in _calls(r), what="the platform resumed")
    closes = [r for r in recorder.on("/breaker") if r.json["action"] == "close"]
    assert [(c.json["target"], c.json["capacity"]) for c in closes] == [("*", 0.5)]
    assert closes[0].key == f"{last['id']}:breaker:close:*"
    assert len(recorder.on("/rollback")) == 2


async def test_an_emergency_rollback_that_fails_keeps_its_own_service_stopped(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(rollback={"verify_budget_s": 2.0})
    await s.send(decision("chat-api", scenario="S4", rule="cascade"))
    inc = await s.wait_incident(
        "chat-api", lambda i: i["rollback_status"] == "failed", what="verify out of time"
    )
    await recorder.wait_for(
        lambda r: "/breaker:open:chat-api" in _calls(r), what="the service's own breaker"
    )
    calls = _calls(recorder)
    _ordered(calls, "/breaker:open:*", "/rollback:rollback", "/breaker:open:chat-api")
    assert not [r for r in recorder.on("/breaker") if r.json["action"] == "close"]
    verify = next(p for p in inc["rollback"]["phases"] if p["phase"] == "verify")
    assert verify["status"] == "failed" and "attempt 1 of 1" in verify["detail"]["reason"]


async def test_a_revert_that_timed_out_on_every_delivery_is_retried_under_the_same_key(
    stack: MakeStack, recorder: Recorder
) -> None:
    """503 until the outbox gives up: the receiver may have acted, so the phase's retry sends
    the same revert again under the same Idempotency-Key (the receiver dedups), never a new one."""
    s = await stack(delivery={"max_attempts": 3})
    recorder.fail_next(3, status=503, path="/rollback")
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 4, what="3 failures, then ok")
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    reverts = recorder.on("/rollback")
    assert [r.answered for r in reverts] == [503, 503, 503, 200]
    assert {r.key for r in reverts} == {f"{inc['id']}:rollback:revert_code"}
    note = next(t for t in inc["timeline"] if "attempt 1 failed; attempt 2" in t["message"])
    assert note["result"]["sent_again"] == [f"{inc['id']}:rollback:revert_code"]


async def test_s2_whose_integrity_recheck_still_fails_escalates_with_the_data_isolated(
    stack: MakeStack, recorder: Recorder
) -> None:
    """The re-run integrity check answers {"ok": false}: verify fails, the data stays isolated
    (no resume: breakers open, bots stopped) and the incident escalates."""
    s = await stack()
    assert s.responder is not None
    deployed = time.time() - 900  # the bad version went out 15 minutes ago
    async with s.responder.incidents.transaction() as tx:
        await tx.record_deploy("chat-api", "2.4.0", "started", deployed)
        await tx.record_deploy("chat-api", "2.4.0", "succeeded", deployed + 60)
        await tx.record_backup("chat-api", "chat_messages", backup("wal-1", deployed - 120))
    recorder.answer_next(
        1, {"ok": False, "detail": "chat_history: 12 rows differ"}, "/restore", "integrity_check"
    )
    await s.send(
        decision("chat-api", scenario="S2", rule="integrity_check_failed", metric="integrity")
    )
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "failed")
    calls = _calls(recorder)
    assert calls.count("/restore:integrity_check") == 1 and "/bot_restart:start" not in calls
    assert not [r for r in recorder.on("/breaker") if r.json["action"] == "close"]
    verify = next(p for p in inc["rollback"]["phases"] if p["phase"] == "verify")
    assert verify["status"] == "failed"
    assert any(m == "rollback failed; escalated" for m in _timeline(inc))
    failed = [a for a in inc["actions"] if a["kind"] == "integrity_check"]
    assert failed[0]["status"] == "failed" and "12 rows differ" in failed[0]["last_error"]
    # The restore asked for a backup from before the bad deploy started, not before the request.
    [restore] = [r for r in recorder.on("/restore") if r.json["action"] == "restore"]
    assert restore.json["before"] == pytest.approx(deployed, abs=1e-3)
    assert restore.json["before_basis"] == "the deploy of 2.4.0 started"
    assert restore.json["backup_id"] == "wal-1"
    assert inc["rollback"]["restore_basis"] == "the deploy of 2.4.0 started"


@pytest.mark.parametrize("status", [500, 400], ids=["chat-down", "chat-refuses"])
async def test_a_chat_outage_never_fails_the_rollback(
    stack: MakeStack, recorder: Recorder, status: int
) -> None:
    """Chat answers 500 (retried until the outbox gives up) or 400 to every message: the
    rollback still completes — notices never gate a phase — with exactly one revert, and the
    failed "rollback initiated" notice is on the timeline."""
    s = await stack()
    recorder.fail_next(10_000, status=status, path="/chat")
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert call")
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    initiated = f"{inc['id']}:chat:rollback_initiated"

    def notice_failed(i: dict[str, Any]) -> bool:
        return any(
            a["idempotency_key"] == initiated and a["status"] == "failed" for a in i["actions"]
        )

    inc = await s.wait_incident("chat-api", notice_failed, what="the notice failed for good")
    assert len(_one_effect(recorder, "/rollback")) == 1
    assert recorder.on("/chat") and {r.answered for r in recorder.on("/chat")} == {status}
    assert "chat rollback_initiated failed" in _timeline(inc)
    phases = {p["phase"]: p for p in inc["rollback"]["phases"]}
    assert (phases["prepare"]["status"], phases["prepare"]["attempt"]) == ("succeeded", 1)
    assert not any("attempt 1 failed" in m for m in _timeline(inc))


async def test_a_hung_chat_receiver_does_not_hold_up_the_rollbacks_control_calls(
    stack: MakeStack, recorder: Recorder
) -> None:
    """Every chat message hangs for as long as the delivery timeout allows (30 s): the control
    calls are claimed and sent in a lane of their own, so the rollback completes while the
    first chat message is still waiting for its answer."""
    s = await stack(delivery={"timeout_s": 30.0, "lease_s": 60.0})
    recorder.stall_next(10_000, path="/chat")
    await s.send(decision("chat-api", Severity.CRITICAL))
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident(
        "chat-api", lambda i: i["rollback_status"] == "succeeded", within_s=15
    )
    assert len(recorder.on("/chat")) == 1  # the first message is still in flight
    [chat] = [a for a in inc["actions"] if a["status"] == "sending"]
    assert chat["kind"] == "chat"
    _ordered(
        _calls(recorder), "/breaker:open:chat-api", "/rollback:rollback", "/breaker:close:chat-api"
    )
    await recorder.wait_for(lambda r: "/pager:trigger" in _calls(r), what="the page, not held up")
    recorder.release()


async def test_a_phase_over_its_configured_budget_says_so_on_the_timeline(
    stack: MakeStack, recorder: Recorder
) -> None:
    """The revert takes a second against a configured budget of half of one: the phase's real
    duration is recorded, flagged over budget on the phase and the timeline; prepare, well
    inside its 60 s, is not."""
    s = await stack(
        delivery={"timeout_s": 3.0, "lease_s": 6.0}, rollback={"revert_code_budget_s": 0.5}
    )
    recorder.stall_next(1, path="/rollback", stall_s=1.0)
    await s.send(decision("chat-api", Severity.CRITICAL))
    s.background(s.feed_healthy("chat-api"))
    inc = await s.wait_incident("chat-api", lambda i: i["rollback_status"] == "succeeded")
    phases = {p["phase"]: p for p in inc["rollback"]["phases"]}
    revert, prepare = phases["revert_code"], phases["prepare"]
    assert revert["duration_s"] >= 1.0 and revert["budget_s"] == 0.5
    assert (revert["detail"]["over_budget"], prepare["detail"]["over_budget"]) == (True, False)
    [note] = [t for t in inc["timeline"] if t["message"].startswith("phase revert_code done in")]
    assert note["message"].endswith("(plan 0.5 s) — over budget")
    assert note["result"]["over_budget"] is True and note["result"]["duration_s"] >= 1.0
