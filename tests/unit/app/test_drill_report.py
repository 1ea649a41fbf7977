"""The drill report's criteria from recorded evidence: budgets scaled by the compression, the
plan's steps in order (missing and out-of-order ones named), acknowledgement windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.drills.report import build_report, report_markdown
from handlers.config import ResponseConfig

T = 1_800_000_000.0


def _at(s: float) -> datetime:
    return datetime.fromtimestamp(T + s, tz=UTC)


def _phase(name: str, start: float, took: float, budget: float) -> dict[str, Any]:
    return {"phase": name, "status": "succeeded", "started_at": _at(start),
            "finished_at": _at(start + took), "duration_s": took, "budget_s": budget,
            "detail": {"evidence": {"verdict": "back under the baseline", "error_rate": 0.0,
                                    "p95_ms": 120.0, "requests": 400}} if name == "verify" else {}}  # fmt: skip


def _incident(breaker_at: float, verify_took: float, acked: float | None) -> dict[str, Any]:
    phases = [_phase("prepare", 20, 1, 6), _phase("revert_code", 21, 2, 12),
              _phase("verify", 23, verify_took, 30), _phase("resume", 23 + verify_took, 1, 6)]  # fmt: skip
    return {
        "id": "inc_1", "service": "chat-api", "severity": "CRITICAL", "scenario": "S1",
        "status": "resolved", "mitigated_at": _at(40), "acknowledged_at": None if acked is None
        else _at(acked), "acknowledged_by": "ana", "timeline": [],
        "actions": [
            {"kind": "page", "status": "sent", "created_at": _at(10), "finished_at": _at(10.2),
             "payload": {"event": "trigger", "contact": None}},
            {"kind": "breaker", "status": "sent", "created_at": _at(breaker_at),
             "finished_at": _at(breaker_at), "payload": {"action": "open", "target": "chat-api"}},
        ],
        "rollback": {"id": "rb_1", "status": "succeeded", "outcome": "every phase done",
                     "requested_at": _at(19), "started_at": _at(20),
                     "finished_at": _at(24 + verify_took), "phases": phases},
    }  # fmt: skip


DRILL = {"id": "drill_1", "scenario": "s1", "compress": 10.0, "announced_at": _at(0),
         "fault_at": _at(5), "status": "finished"}  # fmt: skip


def _criteria(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["criterion"]: c for c in report["criteria"]}


def test_a_drill_run_to_plan_passes_with_its_evidence() -> None:
    report = build_report(DRILL, [_incident(15, 5, acked=12)], T + 9, ResponseConfig())
    criteria = _criteria(report)
    assert all(c["passed"] for c in criteria.values()), criteria
    timing = criteria["rollback executed within planned time"]["evidence"]
    assert timing["plan_total_s"] == [60.0, 150.0]  # 10–25 min ÷ 10
    assert timing["rollbacks"][0]["total_s"] == 9.0
    assert report["times_s"] == {
        "onset_to_detection": 4.0, "onset_to_page": 5.2, "onset_to_mitigation": 35.0
    }  # fmt: skip
    assert "PASSED" in report_markdown(report, {"lessons": "practise S2 next"})


def test_an_over_budget_phase_fails_the_time_criterion_and_names_the_phase() -> None:
    report = build_report(DRILL, [_incident(15, 45, acked=12)], T + 9, ResponseConfig())
    timing = _criteria(report)["rollback executed within planned time"]
    assert not timing["passed"]
    assert timing["evidence"]["rollbacks"][0]["over_budget"] == ["verify"]
    assert "OVER BUDGET" in report_markdown(report, {})


def test_steps_out_of_the_plans_order_and_missing_ones_are_listed() -> None:
    late_breaker = _incident(25, 5, acked=12)  # opened after the rollback was requested
    docs = _criteria(build_report(DRILL, [late_breaker], None, ResponseConfig()))
    evidence = docs["process documentation accurate"]["evidence"]
    assert evidence["missing"] == ["detect"]
    assert evidence["out_of_order"] == ["rollback_requested", "prepare", "revert_code", "verify"]


def test_nobody_acknowledging_fails_the_team_roles_criterion() -> None:
    roles = _criteria(build_report(DRILL, [_incident(15, 5, None)], T + 9, ResponseConfig()))
    assert not roles["all team members know their roles"]["passed"]
    late = _criteria(build_report(DRILL, [_incident(15, 5, 10 + 301)], T + 9, ResponseConfig()))
    assert not late["all team members know their roles"]["evidence"][0]["acknowledged_in_window"]
