"""The drill report: the plan's success criteria, each with pass/fail and its evidence.

``build_report`` (stored, served as JSON) and ``report_markdown`` are pure: they read the
drill's row and its incidents as the API serves them, so the report judges what an operator
sees. Budgets are scaled by the pipeline's time compression. The criteria, their evidence and
the steps expected per scenario (``PLAN_STEPS``): docs/drills.md, "The drill report".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from handlers.config import ResponseConfig

__all__ = ["PLAN_STEPS", "PLAN_TOTAL_S", "build_report", "report_markdown"]

PLAN_TOTAL_S = (600.0, 1500.0)  # "Total Time: 10-25 minutes"

# The plan's steps per scenario, in its order (docs/dr-rollback-plan.md), as this pipeline
# records them: "Alert operations team", "circuit breaker open", the rollback's five phases …
PLAN_STEPS: Mapping[str, tuple[str, ...]] = {
    "s1": ("announce", "detect", "page", "breaker_open", "rollback_requested",
           "prepare", "revert_code", "verify", "resume", "mitigated"),
    "s2": ("announce", "detect", "page", "bots_stopped", "isolate", "rollback_requested",
           "prepare", "revert_code", "restore_data", "verify", "resume", "mitigated"),
    "s3": ("announce", "detect", "page", "investigation", "rollback_requested",
           "prepare", "revert_code", "verify", "resume", "mitigated"),
    "s4": ("announce", "detect", "page", "emergency_stop", "rollback_requested",
           "prepare", "revert_code", "verify", "resume", "mitigated"),
}  # fmt: skip

_PHASES = ("prepare", "revert_code", "restore_data", "verify", "resume")


def _t(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _earliest(values: Sequence[float | None]) -> float | None:
    return min((v for v in values if v is not None), default=None)


def _actions(incidents: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [a for i in incidents for a in i.get("actions", []) if a["kind"] == kind]


def _breaker(incidents: Sequence[Mapping[str, Any]], which: str) -> float | None:
    def matches(target: str) -> bool:
        if which == "all":
            return target == "*"
        if which == "data":
            return target.endswith("/data")
        return target != "*" and not target.endswith("/data")

    return _earliest(
        [
            _t(a["created_at"])
            for a in _actions(incidents, "breaker")
            if a["payload"].get("action") == "open" and matches(str(a["payload"].get("target", "")))
        ]
    )


def _rollbacks(incidents: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [i["rollback"] for i in incidents if i.get("rollback")]


def _phase_started(incidents: Sequence[Mapping[str, Any]], phase: str) -> float | None:
    return _earliest(
        [
            _t(p["started_at"])
            for rb in _rollbacks(incidents)
            for p in rb["phases"]
            if p["phase"] == phase and p["status"] != "skipped"
        ]
    )


def observed_steps(
    drill: Mapping[str, Any],
    incidents: Sequence[Mapping[str, Any]],
    first_decision_at: float | None,
) -> dict[str, float | None]:
    """When each step of the plan was first seen (epoch s), None where it was not."""
    pages = [
        _t(a["created_at"])
        for a in _actions(incidents, "page")
        if a["payload"].get("event") == "trigger"
    ]
    stops = [
        _t(a["created_at"])
        for a in _actions(incidents, "bot_restart")
        if a["payload"].get("action") == "stop"
    ]
    investigation = [
        _t(e["at"])
        for i in incidents
        for e in i.get("timeline", [])
        if e["kind"] == "timer" and str(e["message"]).startswith("investigation window of")
    ]
    steps: dict[str, float | None] = {
        "announce": _t(drill.get("announced_at")),
        "detect": first_decision_at,
        "page": _earliest(pages),
        "breaker_open": _breaker(incidents, "service"),
        "bots_stopped": _earliest(stops),
        "isolate": _breaker(incidents, "data"),
        "emergency_stop": _breaker(incidents, "all"),
        "investigation": _earliest(investigation),
        "rollback_requested": _earliest([_t(rb["requested_at"]) for rb in _rollbacks(incidents)]),
        "mitigated": _earliest([_t(i.get("mitigated_at")) for i in incidents]),
    }
    for phase in _PHASES:
        steps[phase] = _phase_started(incidents, phase)
    return steps


def _documentation(scenario: str, steps: Mapping[str, float | None]) -> dict[str, Any]:
    expected = PLAN_STEPS[scenario]
    missing = [s for s in expected if steps.get(s) is None]
    out_of_order: list[str] = []
    latest: float | None = None
    for step in expected:
        at = steps.get(step)
        if at is None:
            continue
        if latest is not None and at < latest:
            out_of_order.append(step)
        latest = at if latest is None else max(latest, at)
    return {
        "criterion": "process documentation accurate",
        "passed": not missing and not out_of_order,
        "evidence": {
            "expected": list(expected),
            "observed": {s: steps.get(s) for s in expected},
            "missing": missing,
            "out_of_order": out_of_order,
        },
    }


def _rollback_in_time(incidents: Sequence[Mapping[str, Any]], compress: float) -> dict[str, Any]:
    low, high = (t / compress for t in PLAN_TOTAL_S)
    rollbacks = []
    passed = bool(_rollbacks(incidents))
    for rb in _rollbacks(incidents):
        phases = [
            {
                "phase": p["phase"],
                "status": p["status"],
                "duration_s": p["duration_s"],
                "budget_s": p["budget_s"],
                "plan_budget_s": p["budget_s"] * compress,
                "within_budget": p["duration_s"] is not None and p["duration_s"] <= p["budget_s"],
            }
            for p in rb["phases"]
            if p["status"] != "skipped"
        ]
        started, finished = _t(rb.get("started_at")), _t(rb.get("finished_at"))
        total = None if started is None or finished is None else finished - started
        ok = (
            rb["status"] == "succeeded"
            and all(p["within_budget"] for p in phases)
            and total is not None
            and total <= high
        )
        passed = passed and ok
        rollbacks.append(
            {
                "rollback": rb["id"],
                "status": rb["status"],
                "outcome": rb.get("outcome"),
                "phases": phases,
                "over_budget": [p["phase"] for p in phases if not p["within_budget"]],
                "total_s": total,
                "passed": ok,
            }
        )
    return {
        "criterion": "rollback executed within planned time",
        "passed": passed,
        "evidence": {
            "plan_total_s": [low, high],
            "compress": compress,
            "rollbacks": rollbacks or "no rollback ran",
        },
    }


def _verified(incidents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    verifies = [p for rb in _rollbacks(incidents) for p in rb["phases"] if p["phase"] == "verify"]
    seen = [
        {
            "status": p["status"],
            "verdict": (p["detail"].get("evidence") or {}).get("verdict"),
            "error_rate": (p["detail"].get("evidence") or {}).get("error_rate"),
            "p95_ms": (p["detail"].get("evidence") or {}).get("p95_ms"),
            "requests": (p["detail"].get("evidence") or {}).get("requests"),
        }
        for p in verifies
    ]
    return {
        "criterion": "system verified working after rollback",
        "passed": bool(seen) and all(v["status"] == "succeeded" for v in seen),
        "evidence": seen or "no verify phase ran",
    }


def _tier_windows(cfg: ResponseConfig) -> dict[str, float | None]:
    return {
        "on-call": cfg.lead_engineer_after_s,
        cfg.lead_engineer: cfg.team_lead_after_s - cfg.lead_engineer_after_s,
        cfg.team_lead: cfg.final_contact_after_s - cfg.team_lead_after_s,
        cfg.final_contact: None,
    }


def _roles(incidents: Sequence[Mapping[str, Any]], cfg: ResponseConfig) -> dict[str, Any]:
    windows = _tier_windows(cfg)
    tiers = []
    for incident in incidents:
        acked = _t(incident.get("acknowledged_at"))
        for page in _actions([incident], "page"):
            if page["payload"].get("event") != "trigger":
                continue
            tier = page["payload"].get("contact") or "on-call"
            paged = _t(page["created_at"])
            window = windows.get(tier)
            within = (
                acked is not None
                and paged is not None
                and (window is None or acked - paged <= window or acked <= paged)
            )
            tiers.append(
                {
                    "incident": incident["id"],
                    "tier": tier,
                    "paged_at": paged,
                    "delivery": page["status"],
                    "acknowledged_at": acked,
                    "acknowledged_by": incident.get("acknowledged_by"),
                    "window_s": window,
                    "acknowledged_in_window": within,
                }
            )
    passed = bool(tiers) and all(
        t["delivery"] == "sent" and t["acknowledged_in_window"] for t in tiers
    )
    return {
        "criterion": "all team members know their roles",
        "passed": passed,
        "evidence": tiers or "nobody was paged",
    }


def _since(onset: float | None, at: float | None) -> float | None:
    return None if onset is None or at is None else round(at - onset, 3)


def build_report(
    drill: Mapping[str, Any],
    incidents: Sequence[Mapping[str, Any]],
    first_decision_at: float | None,
    cfg: ResponseConfig,
) -> dict[str, Any]:
    compress = float(drill.get("compress") or 1.0)
    steps = observed_steps(drill, incidents, first_decision_at)
    onset = _t(drill.get("fault_at"))
    criteria = [
        _rollback_in_time(incidents, compress),
        _verified(incidents),
        _roles(incidents, cfg),
        _documentation(str(drill["scenario"]), steps),
    ]
    sent_pages = [
        _t(a["finished_at"]) for a in _actions(incidents, "page") if a["status"] == "sent"
    ]
    return {
        "drill": drill["id"],
        "scenario": str(drill["scenario"]).upper(),
        "service": drill.get("service"),
        "status": drill.get("status"),
        "outcome": drill.get("outcome"),
        "live": bool(drill.get("live")),
        "compress": compress,
        "fault_at": onset,
        "passed": all(c["passed"] for c in criteria),
        "criteria": criteria,
        "times_s": {
            "onset_to_detection": _since(onset, steps["detect"]),
            "onset_to_page": _since(onset, _earliest(sent_pages) or steps["page"]),
            "onset_to_mitigation": _since(onset, steps["mitigated"]),
        },
        "incidents": [
            {
                "id": i["id"],
                "service": i["service"],
                "severity": i["severity"],
                "scenario": i.get("scenario"),
                "status": i["status"],
            }
            for i in incidents
        ],
        "events_sent": drill.get("events_sent", 0),
    }


def _seconds(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f} s"


def report_markdown(report: Mapping[str, Any], debrief: Mapping[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "FAILED"
    lines = [
        f"# DR drill {report['drill']} — {report['scenario']} — {verdict}",
        "",
        f"Status: {report['status']}"
        + (f" ({report['outcome']})" if report.get("outcome") else "")
        + f"; time compression ×{report['compress']:g}"
        + ("; LIVE control calls" if report.get("live") else ""),
        "",
        "## Success criteria",
        "",
    ]
    for c in report["criteria"]:
        mark = "pass" if c["passed"] else "FAIL"
        lines.append(f"- **{c['criterion']}**: {mark}")
        lines.extend(_evidence_lines(c))
    times = report["times_s"]
    lines += [
        "",
        "## Times from fault onset",
        "",
        f"- to detection: {_seconds(times['onset_to_detection'])}",
        f"- to page: {_seconds(times['onset_to_page'])}",
        f"- to mitigation: {_seconds(times['onset_to_mitigation'])}",
        "",
        "## Incidents",
        "",
    ]
    lines += [
        f"- {i['id']} {i['service']} {i['severity']} {i.get('scenario') or ''} {i['status']}"
        for i in report["incidents"]
    ] or ["- none"]
    lines += ["", "## Debrief", ""]
    for name in ("lessons", "went_well", "went_wrong", "actions"):
        value = debrief.get(name)
        lines.append(f"- {name.replace('_', ' ')}: {value if value else '(to fill)'}")
    return "\n".join(lines) + "\n"


def _ratio(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def _ms(value: Any) -> str:
    return "—" if value is None else f"{float(value):.0f} ms"


def _evidence_lines(criterion: Mapping[str, Any]) -> list[str]:
    evidence = criterion["evidence"]
    name = criterion["criterion"]
    if isinstance(evidence, str):
        return [f"  - {evidence}"]
    if name.startswith("rollback"):
        low, high = evidence["plan_total_s"]
        out = [f"  - plan total {low:.0f}–{high:.0f} s (scaled ×1/{evidence['compress']:g})"]
        for rb in evidence["rollbacks"] if isinstance(evidence["rollbacks"], list) else []:
            out.append(f"  - {rb['rollback']}: {rb['status']}, total {_seconds(rb['total_s'])}")
            out += [
                f"    - {p['phase']}: {_seconds(p['duration_s'])} of {p['budget_s']:g} s"
                + ("" if p["within_budget"] else " — OVER BUDGET")
                for p in rb["phases"]
            ]
        return out
    if name.startswith("system verified"):
        return [
            f"  - verify {v['status']}: {v['verdict']} (error rate {_ratio(v['error_rate'])}, "
            f"p95 {_ms(v['p95_ms'])}, {v['requests']} requests)"
            for v in evidence
        ]
    if name.startswith("all team"):
        return [
            f"  - {t['tier']} paged ({t['delivery']}); "
            + (
                f"acknowledged by {t['acknowledged_by']}"
                + ("" if t["acknowledged_in_window"] else " — outside its window")
                if t["acknowledged_at"] is not None
                else "not acknowledged during the drill"
            )
            for t in evidence
        ]
    missing = ", ".join(evidence["missing"]) or "none"
    order = ", ".join(evidence["out_of_order"]) or "none"
    return [
        f"  - expected: {' → '.join(evidence['expected'])}",
        f"  - missing: {missing}; out of order: {order}",
    ]
