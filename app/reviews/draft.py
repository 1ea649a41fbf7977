"""The post-incident review draft, from the evidence (the plan's "Post-Incident Review").

``draft_review`` (stored, served as JSON) and ``review_markdown`` are pure: ``Evidence`` is
the incident as the API serves it, its decisions, the panes its traffic produced (of the same
drill or of the real traffic), the deploy history and the incidents open beside it, so drafting
again gives the same draft and people's edits, stored beside it, are never lost. The figures
(requests failed, peak error rate over seconds with at least ``PEAK_MIN_REQUESTS`` requests,
peak p95 of the slowest endpoint, first breach): docs/drills.md, "Post-incident reviews"; why
the responder drafts it: docs/design.md record 37.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.config import ResponseConfig
from handlers.incidents.notices import duration_text
from handlers.rollback.health import window_of
from schemas.panes import PaneSummary, Scope
from schemas.window import WindowStats, merge_panes
from streams.evaluate.engine import Evaluation
from streams.policy.model import Policy

__all__ = [
    "CORRECTIVE_ACTIONS",
    "PEAK_MIN_REQUESTS",
    "Evidence",
    "draft_review",
    "impact_of",
    "review_markdown",
]

PEAK_MIN_REQUESTS = 20
# The plan's four corrective actions, in its order.
CORRECTIVE_ACTIONS: tuple[tuple[str, str], ...] = (
    ("fix_bug", "Fix the bug"),
    ("add_monitoring", "Add monitoring/alerting to catch it earlier"),
    ("add_regression_test", "Add a test case to prevent regression"),
    ("update_runbooks", "Update runbooks/documentation"),
)
_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_DEPLOY_LOOKBACK_S = 3600.0  # a deploy this long before the first breach is a candidate


@dataclass(frozen=True)
class Evidence:
    incident: Mapping[str, Any]
    decisions: Sequence[Mapping[str, Any]] = ()  # decision bodies, oldest first
    panes: Sequence[PaneSummary] = ()
    deploys: Sequence[Mapping[str, Any]] = ()  # the service's (service, version, status, at)
    neighbours: Sequence[Mapping[str, Any]] = ()  # other incidents open at the same time
    edits: Mapping[str, Any] = field(default_factory=dict)


def _t(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _span(incident: Mapping[str, Any]) -> tuple[float, float]:
    """From the first evidence (the first firing alert's window start) to resolution."""
    starts = [a.get("window_start") for a in incident.get("alerts", {}).values()]
    first = min((s for s in starts if s is not None), default=None)
    opened = _t(incident["opened_at"]) or 0.0
    end = _t(incident.get("resolved_at")) or _t(incident.get("updated_at")) or opened
    return (first if first is not None else opened), end


def _seconds_of(
    service: str, panes: Sequence[PaneSummary], start: float, end: float, drill: str | None
) -> list[WindowStats]:
    """One window per pane start of the service (all its endpoints) inside [start, end)."""
    starts = sorted(
        {p.start_ms for p in panes if p.scope.service == service and p.requests is not None}
    )
    width = {p.start_ms: p.end_ms for p in panes}
    return [
        window_of(service, panes, s, width[s], drill)
        for s in starts
        if start * 1000 <= s < end * 1000
    ]


def impact_of(
    service: str, panes: Sequence[PaneSummary], start: float, end: float, drill: str | None
) -> dict[str, Any]:
    """Requests, failed requests, peak error rate and peak p95 of ``service`` in [start, end)."""
    seconds = _seconds_of(service, panes, start, end, drill)
    rates = [w.error_rate for w in seconds if w.requests >= PEAK_MIN_REQUESTS and w.error_rate]
    p95s = [w.p95_ms for w in seconds if w.p95_ms is not None]
    return {
        "requests": sum(w.requests for w in seconds),
        "requests_failed": sum(w.errors for w in seconds),
        "peak_error_rate": _round(max(rates, default=None), 4),
        "peak_p95_ms": _round(max(p95s, default=None), 1),
    }


def _affected_endpoints(
    service: str, panes: Sequence[PaneSummary], start: float, end: float
) -> list[str]:
    found: dict[str, list[int]] = {}
    for p in panes:
        inside = start * 1000 <= p.start_ms < end * 1000
        if p.scope.service == service and p.scope.dimension == "endpoint" and p.requests and inside:
            counts = found.setdefault(p.scope.key, [0, 0])
            counts[0] += p.requests.count
            counts[1] += p.requests.errors
    return sorted(k for k, (n, e) in found.items() if n and e / n > 0.05)


def _other_services(
    incident: Mapping[str, Any], panes: Sequence[PaneSummary], start: float, end: float
) -> list[str]:
    """Other services whose error rate was over 5% in the same span."""
    totals: dict[str, list[int]] = {}
    for p in panes:
        inside = start * 1000 <= p.start_ms < end * 1000
        if p.scope.service != incident["service"] and p.requests is not None and inside:
            counts = totals.setdefault(p.scope.service, [0, 0])
            counts[0] += p.requests.count
            counts[1] += p.requests.errors
    return sorted(s for s, (n, e) in totals.items() if n and e / n > 0.05)


def _in_span(
    panes: Sequence[PaneSummary],
    service: str,
    start: float,
    end: float,
) -> list[PaneSummary]:
    return [
        p for p in panes if p.scope.service == service and start * 1000 <= p.start_ms < end * 1000
    ]


def _bots_and_data(panes: Sequence[PaneSummary]) -> dict[str, Any]:
    down = sorted(
        {
            p.scope.key
            for p in panes
            if p.bot is not None and any(s in ("crashed", "offline") for _, s in p.bot.transitions)
        }
    )
    failures = [p for p in panes if p.integrity is not None and p.integrity.failures]
    return {
        "bots_down": down,
        "integrity_failures": sum(p.integrity.failures for p in failures if p.integrity),
        "integrity_checks_failed": sorted({p.scope.key for p in failures}),
    }


def _sent(actions: Sequence[Mapping[str, Any]], kind: str, **match: Any) -> list[float]:
    return sorted(
        t
        for a in actions
        if a["kind"] == kind
        and all(a["payload"].get(k) == v for k, v in match.items())
        and a["status"] == "sent"
        and (t := _t(a["finished_at"])) is not None
    )


def _first_page(actions: Sequence[Mapping[str, Any]]) -> float | None:
    sent = _sent(actions, "page", event="trigger")
    return sent[0] if sent else None


def _status_page_time(actions: Sequence[Mapping[str, Any]]) -> float | None:
    posted = _sent(actions, "status_page")
    resolved = _sent(actions, "status_page", status="resolved")
    if not posted:
        return None
    return _round((resolved[-1] if resolved else posted[-1]) - posted[0], 1)


def _first_breach(
    first: Mapping[str, Any] | None, panes: Sequence[PaneSummary], drill: str | None
) -> PaneSummary | None:
    """The first pane of the first decision's scope that breached its threshold."""
    if first is None:
        return None
    evidence, scope = first["evidence"], first["scope"]
    compare = _COMPARE.get(evidence["comparison"])
    metric = evidence["metric"]
    if compare is None or metric not in ("error_rate", "p95_ms"):
        return None
    dimension = "endpoint" if "endpoint" in scope else "service"
    key = scope.get("endpoint", scope["service"])
    target = Scope(service=scope["service"], dimension=dimension, key=key, drill=drill)
    for pane in sorted(panes, key=lambda p: p.start_ms):
        if pane.scope != target or pane.requests is None:
            continue
        stats = merge_panes(target, [pane], pane.start_ms, pane.end_ms)
        value = stats.error_rate if metric == "error_rate" else stats.p95_ms
        if value is not None and compare(value, evidence["threshold"]):
            return pane
    return None


def _detection(ev: Evidence, drill: str | None) -> dict[str, Any]:
    first = next((d for d in ev.decisions if d["state"] == "firing"), None)
    breach = _first_breach(first, ev.panes, drill)
    page = _first_page(ev.incident.get("actions", []))
    breach_at = None if breach is None else breach.start_ms / 1000
    found: dict[str, Any] = {
        "first_breaching_pane": None if breach is None else breach.pane_id,
        "first_breach_at": breach_at,
        "first_page_at": page,
        "first_breach_to_page_s": _round(page - breach_at) if page and breach_at else None,
    }
    if first is not None:
        evidence = first["evidence"]
        found |= {
            "rule": first["rule"],
            "scope": first["scope"],
            "observed": evidence["observed"],
            "comparison": evidence["comparison"],
            "threshold": evidence["threshold"],
            "window_s": (evidence["window_end_ms"] - evidence["window_start_ms"]) / 1000,
            "decided_at_ms": first["at_ms"],
        }
    return found


def _regressed(
    service: str,
    panes: Sequence[PaneSummary],
    bad: str,
    good: str | None,
) -> list[str]:
    """Endpoints whose error rate on ``bad`` (panes it served most) is above that on ``good``."""
    rates: dict[tuple[str, str], list[int]] = {}
    for p in panes:
        if p.scope.service != service or p.scope.dimension != "endpoint" or not p.requests:
            continue
        versions = p.requests.versions
        if not versions:
            continue
        main = max(versions, key=lambda v: versions[v])
        counts = rates.setdefault((p.scope.key, main), [0, 0])
        counts[0] += p.requests.count
        counts[1] += p.requests.errors

    def rate(endpoint: str, version: str | None) -> float | None:
        n, e = rates.get((endpoint, version or ""), [0, 0])
        return e / n if n else None

    found = []
    for endpoint in sorted({e for e, _ in rates}):
        on_bad, on_good = rate(endpoint, bad), rate(endpoint, good)
        if on_bad is not None and on_bad > 0.05 and (on_good is None or on_bad > 2 * on_good):
            found.append(endpoint)
    return found


def _candidates(ev: Evidence, breach_at: float, drill: str | None) -> list[dict[str, Any]]:
    inc = ev.incident
    found: list[dict[str, Any]] = []
    start, end = _span(inc)
    service = inc["service"]
    deploys = [
        d
        for d in ev.deploys
        if d["status"] in ("started", "succeeded")
        and breach_at - _DEPLOY_LOOKBACK_S <= (_t(d["at"]) or 0) <= breach_at
    ]
    if deploys:
        latest = max(deploys, key=lambda d: _t(d["at"]) or 0)
        at = _t(latest["at"]) or 0.0
        regressed = _regressed(service, ev.panes, latest["version"], inc.get("last_good_version"))
        found.append(
            {
                "kind": "deploy",
                "rank_score": 100 - (breach_at - at) / 60,
                "summary": f"deploy of {latest['version']} at "
                f"{datetime.fromtimestamp(at).isoformat()} preceded the first breach by "
                f"{breach_at - at:.0f} s"
                + (
                    f"; regressed on {latest['version']} against "
                    f"{inc.get('last_good_version') or 'the version before'}: "
                    f"{', '.join(regressed)}"
                    if regressed
                    else ""
                ),
                "evidence": {
                    "version": latest["version"],
                    "at": at,
                    "before_breach_s": round(breach_at - at, 1),
                    "last_good_version": inc.get("last_good_version"),
                    "regressed_endpoints": regressed,
                },
            }
        )
    mine = _in_span(ev.panes, service, start, end)
    data = _bots_and_data(mine)
    if data["integrity_failures"]:
        found.append(
            {
                "kind": "integrity",
                "rank_score": 90,
                "summary": f"{data['integrity_failures']} failed integrity checks "
                f"({', '.join(data['integrity_checks_failed'])})",
                "evidence": data,
            }
        )
    if data["bots_down"]:
        found.append(
            {
                "kind": "bot_crashes",
                "rank_score": 70,
                "summary": f"bots crashed or offline: {', '.join(data['bots_down'])}",
                "evidence": {"bots": data["bots_down"]},
            }
        )
    hot = [
        p
        for p in mine
        if p.resource and ((p.resource.cpu_max or 0) > 80 or (p.resource.mem_max or 0) > 85)
    ]
    if hot:
        cpu = max((p.resource.cpu_max or 0) for p in hot if p.resource)
        mem = max((p.resource.mem_max or 0) for p in hot if p.resource)
        found.append(
            {
                "kind": "resource_saturation",
                "rank_score": 60,
                "summary": f"resource saturation: CPU up to {cpu:.0f}%, memory up to {mem:.0f}%",
                "evidence": {
                    "hosts": sorted({p.scope.key for p in hot}),
                    "cpu_max": cpu,
                    "mem_max": mem,
                },
            }
        )
    others = _other_services(inc, ev.panes, start, end)
    if others:
        found.append(
            {
                "kind": "other_services_failing",
                "rank_score": 50,
                "summary": f"other services failing at the same time: {', '.join(others)}",
                "evidence": {"services": others, "incidents": [n["id"] for n in ev.neighbours]},
            }
        )
    found.sort(key=lambda c: -float(c["rank_score"]))
    for rank, candidate in enumerate(found, 1):
        candidate["rank"] = rank
        del candidate["rank_score"]
    return found


def _resolution(inc: Mapping[str, Any]) -> dict[str, Any]:
    rb = inc.get("rollback")
    tiers = sorted(
        {
            a["payload"].get("contact")
            for a in inc.get("actions", [])
            if a["kind"] == "page" and a["payload"].get("contact")
        }
    )
    if rb is None:
        return {"rollback": None, "escalation_tiers_reached": ["on-call", *tiers]}
    phases = [
        {
            "phase": p["phase"],
            "status": p["status"],
            "duration_s": p["duration_s"],
            "budget_s": p["budget_s"],
            "over_budget": p["duration_s"] is not None and p["duration_s"] > p["budget_s"],
        }
        for p in rb["phases"]
    ]
    return {
        "rollback": {
            "id": rb["id"],
            "status": rb["status"],
            "from_version": rb["from_version"],
            "target_version": rb["target_version"],
            "outcome": rb.get("outcome"),
        },
        "phases": phases,
        "over_budget": [p["phase"] for p in phases if p["over_budget"]],
        # S2: each dataset's backup, the data lost against the RPO, the restore against the RTO
        "restored": [_restored(r) for r in rb.get("restored", [])],
        "escalation_tiers_reached": ["on-call", *tiers],
    }


def _restored(found: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("dataset", "backup_id", "loss_window_s", "rpo_s", "within_rpo")
    return {k: found.get(k) for k in (*keys, "restore_duration_s", "rto_s", "within_rto")}


def _restored_line(r: Mapping[str, Any]) -> str:
    """``restored chat_messages from backup …: data-loss window 4 min (within the RPO of
    10 min); restored in 42 s (within the RTO of 10 min)``."""
    line = f"restored {r['dataset']} from backup {r['backup_id']}: data-loss window "
    line += duration_text(round(float(r["loss_window_s"] or 0.0)))
    if r.get("rpo_s") is not None:
        within = "within" if r.get("within_rpo") else "BEYOND"
        line += f" ({within} the RPO of {duration_text(r['rpo_s'])})"
    if r.get("restore_duration_s") is not None and r.get("rto_s") is not None:
        within = "within" if r.get("within_rto") else "BEYOND"
        took = duration_text(round(float(r["restore_duration_s"])))
        line += f"; restored in {took} ({within} the RTO of {duration_text(r['rto_s'])})"
    return line


def _well_and_wrong(
    inc: Mapping[str, Any],
    resolution: Mapping[str, Any],
) -> tuple[list[str], list[str]]:
    well: list[str] = []
    wrong: list[str] = []
    for phase in resolution.get("phases", []):
        if phase["status"] == "skipped":
            continue
        line = f"{phase['phase']}: {phase['duration_s'] or 0:.1f} s of {phase['budget_s']:g} s"
        (wrong if phase["over_budget"] else well).append(f"phase {line}")
    for r in resolution.get("restored", []):
        beyond = r.get("within_rpo") is False or r.get("within_rto") is False
        (wrong if beyond else well).append(_restored_line(r))
    actions = inc.get("actions", [])
    for a in actions:
        if a["status"] == "failed":
            wrong.append(f"{a['kind']} {a['idempotency_key']} failed: {a.get('last_error')}")
        elif a["kind"] == "page" and a["attempts"] > 1:
            wrong.append(f"page {a['idempotency_key']} needed {a['attempts']} attempts")
        late = (_t(a.get("finished_at")) or 0) - (_t(a["created_at"]) or 0)
        if a["status"] == "sent" and late > 30:
            wrong.append(f"{a['kind']} {a['idempotency_key']} delivered {late:.0f} s late")
    first = _first_page(actions)
    acked = _t(inc.get("acknowledged_at"))
    if first is not None and acked is not None:
        by = inc.get("acknowledged_by")
        line = f"acknowledged {acked - first:.0f} s after the first page by {by}"
        (well if acked - first <= 300 else wrong).append(line)
    elif first is not None:
        wrong.append("nobody acknowledged the page")
    return well, wrong


def _shorter_window(
    policy: Policy | None, ev: Evidence, drill: str | None
) -> dict[str, Any] | None:
    """Replay the incident's panes through the policy engine: the first rule as it is and with
    half its window; a concrete suggestion when the shorter one fires earlier."""
    first = next((d for d in ev.decisions if d["state"] == "firing"), None)
    if policy is None or first is None:
        return None
    rule = next((r for r in policy.rules if r.name == first["rule"]), None)
    if rule is None or rule.window_ms < 2000:
        return None
    shorter = rule.model_copy(
        update={
            "name": f"{rule.name}-short",
            "window_ms": rule.window_ms // 2,
            "min_samples": max(1, rule.min_samples // 2),
        }
    )
    service = ev.incident["service"]
    panes = [p for p in ev.panes if p.scope.service == service]
    as_is = _replay_first(policy.model_copy(update={"rules": (rule,)}), panes)
    short = _replay_first(policy.model_copy(update={"rules": (shorter,)}), panes)
    if as_is is None or short is None or short >= as_is:
        return None
    return {
        "rule": rule.name,
        "window_s": rule.window_ms / 1000,
        "suggested_window_s": shorter.window_ms / 1000,
        "earlier_by_s": (as_is - short) / 1000,
        "text": f"{rule.name} with a {shorter.window_ms / 1000:g} s window (instead of "
        f"{rule.window_ms / 1000:g} s) would have fired {(as_is - short) / 1000:g} s earlier on "
        "this incident's panes (replayed through the policy engine)",
    }


def _replay_first(policy: Policy, panes: Sequence[PaneSummary]) -> int | None:
    evaluation = Evaluation(policy)
    for pane in sorted(panes, key=lambda p: (p.end_ms, p.pane_id)):
        evaluation.add(pane)
        for decision in evaluation.advance().decisions:
            if decision.state == "firing":
                return decision.at_ms
    return None


def _actions_checklist(ev: Evidence, suggestion: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    owners, due = ev.edits.get("owners") or {}, ev.edits.get("due") or {}
    return [
        {
            "action": key,
            "title": title,
            "owner": owners.get(key),
            "due": due.get(key),
            "suggestion": suggestion["text"] if key == "add_monitoring" and suggestion else None,
        }
        for key, title in CORRECTIVE_ACTIONS
    ]


def draft_review(ev: Evidence, policy: Policy | None, cfg: ResponseConfig) -> dict[str, Any]:
    inc = ev.incident
    drill = inc.get("drill")
    start, end = _span(inc)
    detection = _detection(ev, drill)
    # The first breaching pane where the metric is one a pane shows (error rate, p95), else
    # when the first alert fired: a deploy before it is a candidate.
    decided = detection.get("decided_at_ms")
    breach_at = detection["first_breach_at"] or (decided / 1000 if decided else start)
    mitigated, resolved = _t(inc.get("mitigated_at")), _t(inc.get("resolved_at"))
    impact = impact_of(inc["service"], ev.panes, start, end, drill) | {
        "first_breach_to_mitigation_s": _round(mitigated - breach_at) if mitigated else None,
        "first_breach_to_resolution_s": _round(resolved - breach_at) if resolved else None,
        "services": [inc["service"], *_other_services(inc, ev.panes, start, end)],
        "endpoints": _affected_endpoints(inc["service"], ev.panes, start, end),
        **_bots_and_data(_in_span(ev.panes, inc["service"], start, end)),
        # A drill never reaches the status page (its calls there are the console's).
        "status_page_s": None if drill else _status_page_time(inc.get("actions", [])),
        "span": [start, end],
    }
    resolution = _resolution(inc)
    well, wrong = _well_and_wrong(inc, resolution)
    suggestion = _shorter_window(policy, ev, drill)
    return {
        "incident": inc["id"],
        "drill": drill,
        "summary": f"{inc['severity']} {inc.get('scenario') or ''} incident on {inc['service']}: "
        f"{inc['title']}; {impact['requests_failed']} requests failed; "
        + (
            f"rolled back to {inc.get('last_good_version')}"
            if inc.get("rollback")
            else "no rollback"
        ),
        "due_at": (resolved or end) + cfg.review_due_within_s,
        "impact": impact,
        "detection": detection,
        "timeline": [
            {
                "at": _t(e["at"]),
                "actor": e["actor"],
                "kind": e["kind"],
                "message": e["message"],
                "reason": e.get("reason", ""),
            }
            for e in inc.get("timeline", [])
        ],
        "root_cause_candidates": _candidates(ev, breach_at, drill),
        "resolution": resolution,
        "went_well": well,
        "went_wrong": wrong,
        "action_items": _actions_checklist(ev, suggestion),
        "suggestion": suggestion,
        "root_cause": ev.edits.get("root_cause"),
        "lessons": ev.edits.get("lessons"),
    }


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: Any, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


def review_markdown(review: Mapping[str, Any]) -> str:
    imp, det, res = review["impact"], review["detection"], review["resolution"]
    drill = f" [DRILL {review['drill']}]" if review.get("drill") else ""
    lines = [
        f"# Post-incident review: {review['incident']}{drill}",
        "",
        review["summary"],
        "",
        f"Due: {datetime.fromtimestamp(review['due_at']).isoformat()} (the plan: within 24 h)",
        "",
        "## Impact",
        "",
        f"- requests failed: {imp['requests_failed']} of {imp['requests']}",
        f"- peak error rate: {_pct(imp['peak_error_rate'])}; "
        f"peak p95: {_fmt(imp['peak_p95_ms'], ' ms')}",
        f"- first breach → mitigation: {_fmt(imp['first_breach_to_mitigation_s'], ' s')}; "
        f"→ resolution: {_fmt(imp['first_breach_to_resolution_s'], ' s')}",
        f"- services: {', '.join(imp['services'])}; "
        f"endpoints: {', '.join(imp['endpoints']) or '—'}",
        f"- bots down: {', '.join(imp['bots_down']) or 'none'}; integrity failures: "
        f"{imp['integrity_failures']}; status page: {_fmt(imp['status_page_s'], ' s')}",
        "",
        "## Detection",
        "",
        f"- rule {det.get('rule')}: observed {det.get('observed')} {det.get('comparison')} "
        f"{det.get('threshold')} over {det.get('window_s')} s",
        f"- first breaching pane → first page: {_fmt(det['first_breach_to_page_s'], ' s')}",
        "",
        "## Timeline",
        "",
    ]
    lines += [
        f"- {datetime.fromtimestamp(e['at']).isoformat() if e['at'] else '?'} {e['actor']}: "
        f"{e['message']}"
        for e in review["timeline"]
    ]
    lines += ["", "## Root-cause candidates", ""]
    lines += [f"{c['rank']}. {c['summary']}" for c in review["root_cause_candidates"]] or [
        "- none found"
    ]
    lines += [
        "",
        f"Root cause (filled by people): {review.get('root_cause') or '(to fill)'}",
        "",
        "## Resolution",
        "",
    ]
    rb = res.get("rollback")
    if rb:
        lines.append(
            f"- rollback {rb['id']} {rb['status']}: {rb['from_version']} → {rb['target_version']}"
        )
        lines += [
            f"  - {p['phase']}: {_seconds(p['duration_s'])} of {p['budget_s']:g} s"
            + (" — OVER BUDGET" if p["over_budget"] else "")
            for p in res["phases"]
        ]
        lines += [f"  - {_restored_line(r)}" for r in res.get("restored", [])]
    lines.append(f"- escalation tiers reached: {', '.join(res['escalation_tiers_reached'])}")
    lines += ["", "## What went well", ""] + [f"- {w}" for w in review["went_well"]]
    wrong = review["went_wrong"] or ["nothing the evidence shows"]
    lines += ["", "## What went wrong", ""] + [f"- {w}" for w in wrong]
    lines += ["", "## Action items", ""]
    for item in review["action_items"]:
        owner = item["owner"] or "(owner)"
        due = item["due"] or "(due)"
        lines.append(f"- [ ] {item['title']} — {owner}, {due}")
        if item["suggestion"]:
            lines.append(f"  - suggestion: {item['suggestion']}")
    lines += ["", f"Lessons: {review.get('lessons') or '(to fill)'}"]
    return "\n".join(lines) + "\n"
