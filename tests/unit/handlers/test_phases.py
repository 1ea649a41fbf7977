"""The rollback procedure as a state machine: what next, and why (table-tested)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handlers.config import PhaseRetries, RollbackConfig
from handlers.incidents.incident import AlertEntry, Incident
from handlers.rollback.phases import (
    PHASES,
    AttemptFailure,
    Phase,
    PhaseRecord,
    Rollback,
    attempt_actions,
    budget,
    next_step,
    phase_actions,
    phase_notices,
    phase_plan,
    restore_point,
    retry_plan,
    verify_step,
)
from schemas.severity import Severity

CFG = RollbackConfig()
T0 = 1_800_000_000.0
RB = Rollback("rb_1", "inc_1", "chat-api", "CRITICAL", "running", T0, "2.4.0", "2.3.9")
INC = Incident("inc_1", "chat-api", Severity.CRITICAL, "open", "t", T0, T0)


def done(*phases: Phase, running: Phase | None = None) -> dict[Phase, PhaseRecord]:
    found = {p: PhaseRecord(p, "succeeded", T0, T0 + 1) for p in phases}
    if "verify" in phases or running in ("verify", "resume"):
        found["restore_data"] = PhaseRecord("restore_data", "skipped", T0 + 1, T0 + 1)
    if running is not None:
        found[running] = PhaseRecord(running, "running", T0 + 1)
    return found


def test_the_plan_skips_restore_unless_data_is_involved() -> None:
    assert [(p, s is None) for p, s in phase_plan(RB)] == [
        ("prepare", True),
        ("revert_code", True),
        ("restore_data", False),
        ("verify", True),
        ("resume", True),
    ]
    data = replace(RB, involves_data=True, target_version=None)
    skipped = {p for p, s in phase_plan(data) if s}
    assert skipped == {"revert_code"}


@pytest.mark.parametrize(
    ("rb", "actions", "kind", "phase"),
    [
        (RB, {}, "start", "prepare"),
        (replace(RB, phases=done(running="prepare")), {"a": "pending"}, "wait", "prepare"),
        (replace(RB, phases=done(running="prepare")), {"a": "sending"}, "wait", "prepare"),
        # a call a maintenance window or a global hold holds has not gone out: the phase waits
        (
            replace(RB, phases=done(running="prepare")),
            {"a": "sent", "b": "held"},
            "wait",
            "prepare",
        ),
        (
            replace(RB, phases=done(running="prepare")),
            {"a": "sent", "b": "muted"},
            "finish",
            "prepare",
        ),
        (
            replace(RB, phases=done("prepare", running="revert_code")),
            {"a": "failed"},
            "retry",
            "revert_code",
        ),
        (replace(RB, phases=done("prepare")), {}, "start", "revert_code"),
        (
            replace(RB, phases=done("prepare", "revert_code")),
            {},
            "skip",
            "restore_data",
        ),
        (
            replace(
                RB,
                phases={
                    **done("prepare", "revert_code"),
                    "restore_data": PhaseRecord("restore_data", "skipped", T0),
                },
            ),
            {},
            "start",
            "verify",
        ),
        (
            replace(RB, phases=done("prepare", "revert_code", running="verify")),
            {},
            "probe",
            "verify",
        ),
        (replace(RB, phases=done(*PHASES)), {}, "complete", None),
        (replace(RB, status="succeeded"), {}, "done", None),
        (
            replace(RB, target_version=None, phases=done("prepare")),
            {},
            "fail",
            "revert_code",
        ),
    ],
)
def test_next_step(rb: Rollback, actions: dict, kind: str, phase: Phase | None) -> None:
    step = next_step(rb, actions, T0 + 5, CFG)
    assert (step.kind, step.phase) == (kind, phase), step.reason


@pytest.mark.parametrize(
    ("healthy", "elapsed", "kind"),
    [(True, 1, "finish"), (False, 10, "wait"), (False, CFG.verify_budget_s, "fail")],
)
def test_verify_until_healthy_or_out_of_budget(healthy: bool, elapsed: float, kind: str) -> None:
    record = PhaseRecord("verify", "running", T0)
    assert verify_step(record, healthy, T0 + elapsed, CFG).kind == kind


@pytest.mark.parametrize(
    ("rb", "why"),
    [
        (replace(RB, from_version="2.3.9"), "already running the last known good version 2.3.9"),
        (replace(RB, target_version=None, emergency=True), "emergency stop of a service"),
        (replace(RB, target_version=None, involves_data=True), "data restore only"),
    ],
    ids=["nothing-newer", "emergency-unknown", "data-only"],
)
def test_revert_is_skipped_when_there_is_nothing_to_revert(rb: Rollback, why: str) -> None:
    skip = dict(phase_plan(rb))["revert_code"]
    assert skip is not None and why in skip
    step = next_step(replace(rb, phases=done("prepare")), {}, T0 + 2, CFG)
    assert (step.kind, step.phase) == ("skip", "revert_code")


def test_an_unknown_good_version_still_fails_a_plain_rollback() -> None:
    rb = replace(RB, target_version=None, phases=done("prepare"))
    step = next_step(rb, {}, T0 + 2, CFG)
    assert (step.kind, step.phase) == ("fail", "revert_code")


def test_each_phase_calls_its_receiver_with_a_fixed_key() -> None:
    calls = {
        p: [(a.kind, a.payload.get("action"), a.key) for a in phase_actions(RB, p, INC)]
        for p in PHASES
    }
    assert ("breaker", "open", "inc_1:breaker:open:chat-api") in calls["prepare"]
    assert calls["revert_code"] == [("rollback", "rollback", "inc_1:rollback:revert_code")]
    assert calls["restore_data"][0][:2] == ("restore", "restore")
    assert calls["verify"] == []
    assert calls["resume"] == [("breaker", "close", "inc_1:breaker:close:chat-api")]


def test_emergency_and_data_rollbacks_use_every_breaker_and_the_bots() -> None:
    rb = replace(RB, emergency=True, capacity=0.5, involves_data=True)
    resume = phase_actions(rb, "resume", INC)
    assert (resume[0].payload["target"], resume[0].payload["capacity"]) == ("*", 0.5)
    assert ("bot_restart", "start") in [(a.kind, a.payload["action"]) for a in resume]
    verify = phase_actions(rb, "verify", INC)
    assert [a.kind for a in verify] == ["integrity_check"]


def test_budgets_are_the_plans_numbers_by_default() -> None:
    assert [budget(p, CFG)[1] for p in PHASES] == [60, 120, 600, 300, 60]
    assert budget("restore_data", CFG)[0] == 300


def _second_attempt(phase: Phase, at: float = T0 + 1) -> PhaseRecord:
    return PhaseRecord(phase, "running", T0, attempt=2, attempt_started_at=at)


def test_a_failed_phase_is_tried_again_as_the_policy_says_then_fails() -> None:
    """Default: one retry of a receiver phase. The second failure ends the rollback (never a
    loop); with no retries configured, the first failure does."""
    first = replace(RB, phases=done("prepare", running="revert_code"))
    step = next_step(first, {"k": "failed"}, T0 + 5, CFG)
    assert (step.kind, step.phase) == ("retry", "revert_code")
    assert "attempt 1 of 2" in step.reason
    second = replace(RB, phases={**done("prepare"), "revert_code": _second_attempt("revert_code")})
    step = next_step(second, {"k#2": "failed"}, T0 + 5, CFG)
    assert (step.kind, step.phase) == ("fail", "revert_code")
    assert "attempt 2 of 2" in step.reason
    none = RollbackConfig(phase_retries=PhaseRetries(revert_code=0))
    assert next_step(first, {"k": "failed"}, T0 + 5, none).kind == "fail"


def test_verify_is_not_retried_by_default_and_a_retry_gets_a_fresh_budget() -> None:
    record = PhaseRecord("verify", "running", T0)
    out = T0 + CFG.verify_budget_s
    assert verify_step(record, False, out, CFG).kind == "fail"
    again = RollbackConfig(phase_retries=PhaseRetries(verify=1))
    assert verify_step(record, False, out, again).kind == "retry"
    retried = _second_attempt("verify", at=out)
    assert verify_step(retried, False, out + 10, again).kind == "wait"  # budget from the retry
    assert verify_step(retried, False, out + again.verify_budget_s, again).kind == "fail"


def test_a_retry_requeues_what_may_have_acted_and_renames_what_was_refused() -> None:
    """prepare: the breaker timed out (exhausted: it may have acted), nothing refused → the
    breaker goes again under its own key. revert: refused (400) → a new request under ``…#2``;
    a third attempt would be ``…#3``."""
    prepare = PhaseRecord("prepare", "running", T0)
    keys = [a.key for a in phase_actions(RB, "prepare", INC)]
    breaker = "inc_1:breaker:open:chat-api"
    plan = retry_plan(RB, INC, prepare, {breaker: False})
    assert (plan.requeue, plan.resend, plan.attempt) == ((breaker,), (), 2)
    assert keys == [breaker]

    revert = PhaseRecord("revert_code", "running", T0)
    plan = retry_plan(RB, INC, revert, {"inc_1:rollback:revert_code": True})
    assert [a.key for a in plan.resend] == ["inc_1:rollback:revert_code#2"]
    second = replace(revert, attempt=2, keys=plan.keys)
    assert [a.key for a in attempt_actions(RB, "revert_code", INC, second)] == [
        "inc_1:rollback:revert_code#2"
    ]
    third = retry_plan(RB, INC, second, {"inc_1:rollback:revert_code#2": True})
    assert [a.key for a in third.resend] == ["inc_1:rollback:revert_code#3"]
    assert third.resend[0].payload == phase_actions(RB, "revert_code", INC)[0].payload


@pytest.mark.parametrize(
    "rb",
    [RB, replace(RB, involves_data=True), replace(RB, emergency=True, capacity=0.5)],
    ids=["plain", "data", "emergency"],
)
def test_a_phase_waits_on_control_calls_only_and_its_notices_are_side_effects(
    rb: Rollback,
) -> None:
    """What gates a phase (``phase_actions``: the orchestrator reads only their outbox state)
    is never a notification, so a chat or status-page outage cannot fail a phase; prepare's
    "rollback initiated" notice is sent beside it."""
    for phase in PHASES:
        assert not [a.kind for a in phase_actions(rb, phase, INC) if a.notification], phase
        assert all(a.notification for a in phase_notices(rb, phase, INC)), phase
    [initiated] = phase_notices(rb, "prepare", INC)
    assert (initiated.kind, initiated.key) == ("chat", "inc_1:chat:rollback_initiated")


def test_what_later_steps_read_back_is_typed_and_stored_in_the_detail_as_before() -> None:
    """A row's detail JSON (as the orchestrator has always written it: ``keys``, ``failures``,
    ``close_platform`` beside what the phase reports) reads back into the record's fields and
    is written back unchanged."""
    stored = {
        "waiting_for": ["web-api"],
        "close_platform": False,
        "failures": [{"attempt": 1, "reason": "a receiver of resume failed", "at": T0 + 3}],
        "keys": {"inc_1:breaker:close:*": "inc_1:breaker:close:*#2"},
        "duration_s": 1.5,
    }
    record = PhaseRecord.from_stored("resume", "running", T0, None, stored, 2, T0 + 3)
    assert record.keys == {"inc_1:breaker:close:*": "inc_1:breaker:close:*#2"}
    assert record.failures == (AttemptFailure(1, "a receiver of resume failed", T0 + 3),)
    assert record.close_platform is False
    assert record.detail == {"waiting_for": ["web-api"], "duration_s": 1.5}
    assert record.stored_detail() == stored
    assert PhaseRecord("verify", "running", T0).stored_detail() == {}
    requeued_only = replace(record, keys={}, close_platform=None)
    assert requeued_only.stored_detail()["keys"] == {}  # a retry always recorded its keys


def test_an_emergency_resume_closes_the_platform_breaker_only_as_the_last_one() -> None:
    rb = replace(RB, emergency=True)
    held = PhaseRecord("resume", "running", T0, close_platform=False)
    last = PhaseRecord("resume", "running", T0, close_platform=True)
    assert phase_actions(replace(rb, phases={"resume": held}), "resume", INC) == []
    closing = phase_actions(replace(rb, phases={"resume": last}), "resume", INC)
    assert [(a.payload["action"], a.payload["target"]) for a in closing] == [("close", "*")]


def _data_incident(*window_starts: float) -> Incident:
    alerts = {
        f"fp{n}": AlertEntry(f"fp{n}", "integrity", "firing", Severity.CRITICAL, T0, {}, start)
        for n, start in enumerate(window_starts)
    }
    return replace(INC, bad_version="2.4.0", alerts=alerts, involves_data=True)


@pytest.mark.parametrize(
    ("deploy_started", "window_starts", "before", "basis"),
    [
        (T0 - 900, (T0 - 60,), T0 - 900, "the deploy of 2.4.0 started"),
        (None, (T0 - 60, T0 - 120), T0 - 120, "the first alert's window started"),
        (None, (), T0, "no deploy or alert window on record: the rollback request"),
    ],
    ids=["bad-deploy-known", "first-alert-window", "nothing-on-record"],
)
def test_s2_restores_a_backup_from_before_the_corruption_could_begin(
    deploy_started: float | None, window_starts: tuple[float, ...], before: float, basis: str
) -> None:
    """Not "before the rollback request": detection comes after the corruption began, and a
    backup taken in between would bring the corrupt data back."""
    inc = _data_incident(*window_starts)
    assert restore_point(inc, deploy_started, T0) == (before, basis)
    rb = replace(RB, involves_data=True, restore_before=before, restore_basis=basis)
    [restore] = phase_actions(rb, "restore_data", inc)
    assert (restore.payload["before"], restore.payload["before_basis"]) == (before, basis)
