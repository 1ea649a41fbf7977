"""The readiness checklist on hand-made evidence: every item's pass, its failure and its fix;
the baselines measured on panes; the gate's verdict on a deploy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from handlers.config import ResponseConfig
from handlers.incidents.incident import Incident
from handlers.incidents.response import DecisionContext, on_decision
from handlers.readiness.baselines import HostLoad, Measured, measure
from handlers.readiness.checklist import (
    BASELINES,
    CHECKLIST,
    Attestation,
    DatasetBackups,
    Deploy,
    DrillRun,
    Evidence,
    GateConfig,
    judge,
)
from handlers.readiness.gate import unready_decision
from handlers.readiness.verdict import CheckedVersion, gate_verdict
from schemas.panes import LatencySketch, PaneSummary, RequestStats, ResourceStats, Scope
from schemas.severity import Severity

NOW = 1_800_000_000.0
DAY = 86_400.0
CFG = GateConfig()
END_MS = int(NOW * 1000)
HEALTHY = Measured(
    "chat-api",
    END_MS - 600_000,
    END_MS,
    requests=1200,
    errors=3,
    p95_ms=350.0,
    hosts=(HostLoad("web-1", 600, 38.0, 52.0), HostLoad("web-2", 600, 41.0, 55.0)),
    newest_pane_end_ms=END_MS - 1000,
    scopes=("endpoint POST /api/message", "host web-1"),
)
READY = Evidence(
    service="chat-api",
    version="2.4.0",
    now=NOW,
    measured=HEALTHY,
    drills_recorded=True,
    service_drill=DrillRun("drill_1", "chat-api", NOW - 3 * DAY),
    any_drill=DrillRun("drill_1", "chat-api", NOW - 3 * DAY),
    last_deploy=Deploy("2.3.9", "succeeded", NOW - 5 * DAY),
    stable=Deploy("2.3.9", "succeeded", NOW - 5 * DAY),
    datasets=(DatasetBackups("chat_messages", "full-1", NOW - 1800, "full-0", NOW - 2 * DAY),),
    rules=("core-error-rate-critical", "backup-rpo-chat_messages"),
    attestation=Attestation("ana", NOW - 10 * DAY, NOW + 80 * DAY, "runbook walkthrough"),
    receivers={"pager": True, "chat": True, "statuspage": True},
)


def _status(evidence: Evidence) -> dict[str, str]:
    report = judge(evidence, CFG)
    return {r.item: r.status for r in (*report.checklist, *report.baselines)}


def test_a_service_with_every_piece_of_evidence_is_ready() -> None:
    report = judge(READY, CFG)
    assert report.ready and report.failed == []
    assert [r.item for r in report.checklist] == list(CHECKLIST)  # the plan's order
    assert [r.item for r in report.baselines] == list(BASELINES)
    assert all(r.fix is None for r in (*report.checklist, *report.baselines))
    body = report.to_json()
    assert body["ready"] is True and body["failed"] == []


def test_a_fresh_service_fails_each_item_and_says_what_would_make_it_pass() -> None:
    fresh = Evidence(
        "new-svc",
        "1.0.0",
        NOW,
        Measured("new-svc", END_MS - 600_000, END_MS),
        drills_recorded=True,
    )
    report = judge(fresh, CFG)
    assert not report.ready
    statuses = {r.item: r.status for r in (*report.checklist, *report.baselines)}
    # no drill on record at all: whether the procedure works is not known — never a pass
    drills = {"rollback_tested", "dr_drill"}
    assert {statuses[i] for i in drills} == {"unknown"}
    assert {s for i, s in statuses.items() if i not in drills} == {"fail"}
    fixes = {r.item: r.fix for r in report.failed}
    assert "alertpipe drill start --scenario s1 --service new-svc" in (
        fixes["rollback_tested"] or ""
    )
    assert "`backup` telemetry" in (fixes["backup_tested"] or "")
    assert "`deploy` telemetry" in (fixes["last_stable_version"] or "")
    assert "POST /v1/readiness/new-svc/attestations" in (fixes["team_trained"] or "")
    assert fixes["communication_plan"] == (
        "set ALERTPIPE_PAGER_URL, ALERTPIPE_CHAT_URL, ALERTPIPE_STATUSPAGE_URL"
    )
    assert "at least 100 requests" in (fixes["error_rate"] or "")
    assert "`resource` telemetry" in (fixes["cpu_pct"] or "")


def test_a_drill_item_names_the_drill_its_time_and_its_result() -> None:
    report = judge(READY, CFG)
    [tested] = [r for r in report.checklist if r.item == "rollback_tested"]
    assert tested.status == "pass" and tested.detail.startswith("drill drill_1 passed ")
    assert tested.evidence["drill_id"] == "drill_1"
    assert tested.evidence["result"] == "passed" and tested.evidence["ended_at"]
    # The latest drill of the service failed, the last passed one is too old: fail, naming it.
    failed = DrillRun("drill_2", "chat-api", NOW - DAY, passed=False, scenario="S2")
    old = DrillRun("drill_0", "chat-api", NOW - 40 * DAY)
    report = judge(replace(READY, service_drill=old, service_last=failed), CFG)
    [tested] = [r for r in report.checklist if r.item == "rollback_tested"]
    assert tested.status == "fail" and "the latest, drill_2, failed " in tested.detail
    assert (tested.evidence["drill_id"], tested.evidence["result"]) == ("drill_2", "failed")
    assert tested.evidence["scenario"] == "S2" and tested.fix
    # No drill of the service ever ran: unknown, not a pass.
    none = judge(replace(READY, service_drill=None, service_last=None), CFG)
    assert {r.item: r.status for r in none.checklist}["rollback_tested"] == "unknown"
    assert not none.ready


def test_without_drills_recorded_the_drill_items_are_unknown_never_a_pass() -> None:
    statuses = _status(replace(READY, drills_recorded=False))
    assert (statuses["rollback_tested"], statuses["dr_drill"]) == ("unknown", "unknown")
    assert not judge(replace(READY, drills_recorded=False), CFG).ready


@pytest.mark.parametrize(
    ("change", "item"),
    [
        ({"service_drill": DrillRun("d", "chat-api", NOW - 31 * DAY)}, "rollback_tested"),
        ({"any_drill": None}, "dr_drill"),
        # a full backup from before the last deploy is not the pre-deployment one
        ({"last_deploy": Deploy("2.3.9", "succeeded", NOW - 600)}, "backup_tested"),
        (
            {"datasets": (DatasetBackups("chat_messages", "f", NOW - 60, "t", NOW - 8 * DAY),)},
            "backup_tested",
        ),
        ({"datasets": ()}, "backup_tested"),
        ({"stable": None}, "last_stable_version"),
        ({"rules": ()}, "alert_thresholds"),
        ({"attestation": Attestation("ana", NOW - 100 * DAY, NOW - DAY)}, "team_trained"),
        ({"receivers": {"pager": True, "chat": True}}, "communication_plan"),
    ],
)
def test_each_item_fails_on_its_own(change: dict[str, Any], item: str) -> None:
    statuses = _status(replace(READY, **change))
    assert [name for name, status in statuses.items() if status != "pass"] == [item]


@pytest.mark.parametrize(
    ("measured", "item", "value"),
    [
        ({"errors": 24}, "error_rate", 0.02),  # 2% of 1200
        ({"p95_ms": 1000.0}, "p95_ms", 1000.0),  # the baseline is "below"
        ({"hosts": (HostLoad("web-1", 60, 71.5, 40.0),)}, "cpu_pct", 71.5),
        ({"hosts": (HostLoad("web-1", 60, 20.0, 60.0),)}, "mem_pct", 60.0),
        ({"newest_pane_end_ms": END_MS - 301_000}, "monitoring", None),
    ],
)
def test_a_failed_baseline_names_the_metric_its_value_and_the_window(
    measured: dict[str, Any], item: str, value: float | None
) -> None:
    report = judge(replace(READY, measured=replace(HEALTHY, **measured)), CFG)
    [failed] = report.failed
    assert failed.item == item and failed.fix
    if value is not None:
        evidence = failed.evidence
        assert (evidence["metric"], evidence["value"]) == (item, pytest.approx(value))
        assert (
            evidence["window_start"] == "2027-01-15T07:50:00.000Z" and evidence["window_s"] == 600
        )
        assert item in failed.detail and "over the last 10 min" in failed.detail


def _pane(scope: Scope, start_ms: int, **fields: Any) -> PaneSummary:
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start_ms),
        scope=scope,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        **fields,
    )


def test_baselines_are_measured_over_the_window_on_the_latest_revisions() -> None:
    endpoint = Scope(service="chat-api", dimension="endpoint", key="POST /api/message")
    host = Scope(service="chat-api", dimension="host", key="web-1")
    fast = LatencySketch(alpha=0.01, offset=150, counts=[90])  # ~20 ms
    slow = LatencySketch(alpha=0.01, offset=350, counts=[10])  # ~1.1 s

    def requests(count: int, errors: int, sketch: LatencySketch) -> RequestStats:
        return RequestStats(count=count, errors=errors, latency=sketch, min_ms=1, max_ms=5000)

    first = _pane(endpoint, 0, requests=requests(90, 0, fast))
    refined = first.model_copy(update={"revision": 3, "requests": requests(90, 5, fast)})
    panes = [
        first,
        refined,
        _pane(endpoint, 1000, requests=requests(10, 0, slow)),
        _pane(endpoint, 9000, requests=requests(500, 500, fast)),  # after the window
        _pane(host, 0, resource=ResourceStats(samples=1, cpu_last=30.0, mem_last=50.0)),
        _pane(host, 1000, resource=ResourceStats(samples=1, cpu_last=50.0, mem_last=None)),
    ]
    m = measure("chat-api", panes, 0, 5000)
    assert (m.requests, m.errors) == (100, 5)  # the refinement replaced, never added
    assert m.p95_ms is not None and 1000 < m.p95_ms < 1200  # one merged sketch: the slow tail
    [load] = m.hosts
    assert (load.cpu_pct, load.mem_pct, load.samples) == (40.0, 50.0, 2)
    assert m.newest_pane_end_ms == 2000


@pytest.mark.parametrize(
    ("check", "ready", "reason"),
    [
        (None, False, "no readiness check of 2.4.0 on record before the deploy"),
        (CheckedVersion(1, True, NOW - 7200), False, "2 h before the deploy"),
        (
            CheckedVersion(2, False, NOW - 60, ("dr_drill", "error_rate")),
            False,
            "failed: dr_drill, error_rate",
        ),
        (CheckedVersion(3, True, NOW - 60), True, "checked ready at"),
    ],
)
def test_the_gate_verdict_on_a_deploy(
    check: CheckedVersion | None, ready: bool, reason: str
) -> None:
    verdict = gate_verdict("chat-api", "2.4.0", NOW, check, 3600.0)
    assert verdict.ready is ready and reason in verdict.reason


def test_a_deploy_that_skipped_the_gate_is_a_medium_decision_asking_a_human() -> None:
    verdict = gate_verdict("chat-api", "2.4.0", NOW, None, 3600.0)
    decision = unready_decision(verdict, Severity.MEDIUM)
    assert (decision.rule, decision.severity, decision.response) == (
        "deployed-while-not-ready", Severity.MEDIUM, "notify")  # fmt: skip
    assert decision.version == "2.4.0" and decision.at_ms == int(NOW * 1000)
    assert decision.decision_id == unready_decision(verdict, Severity.MEDIUM).decision_id
    other = unready_decision(replace(verdict, version="2.4.1"), Severity.MEDIUM)
    assert other.fingerprint != decision.fingerprint  # each unready version: its own alert
    cfg = ResponseConfig()
    effects = on_decision(None, decision, DecisionContext(NOW, "inc_1"), cfg)
    assert effects is not None and effects.incident.severity is Severity.MEDIUM
    assert [a.kind for a in effects.actions] == ["chat"]  # a human decides; nothing rolls back
    assert effects.rollback is None


def test_every_incident_of_an_unready_deploy_notes_it_once() -> None:
    from tests.support.decisions import decision

    verdict = gate_verdict("chat-api", "2.4.0", NOW, None, 3600.0)
    ctx = DecisionContext(NOW, "inc_9", unready_deploy=verdict)
    cfg = ResponseConfig()
    first = on_decision(None, decision("chat-api", Severity.CRITICAL), ctx, cfg)
    assert first is not None
    notes = [t for t in first.timeline if t.message == "2.4.0 was deployed while not ready"]
    assert len(notes) == 1 and notes[0].reason == verdict.reason
    incident: Incident = first.incident
    again = on_decision(incident, decision("chat-api", Severity.HIGH, rule="other"), ctx, cfg)
    assert again is not None
    assert not [t for t in again.timeline if "deployed while not ready" in t.message]


def test_a_team_routes_missing_chat_channel_names_its_setting() -> None:
    team = replace(READY, receivers={**READY.receivers, "chat": False}, chat_channel="payments")
    [result] = [r for r in judge(team, CFG).checklist if r.item == "communication_plan"]
    assert result.status == "fail"
    assert result.fix == 'set ALERTPIPE_CHAT_URLS["payments"] (its route\'s channel)'
