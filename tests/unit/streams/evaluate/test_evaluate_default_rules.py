"""Every default rule through the engine, table-driven: a healthy stretch, a breach, a
recovery. It fires exactly `for` after its breach began (never before), holds at least
`keep_firing_for` after the input recovered, resolves, and reports no data when its scope
goes quiet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from schemas.decisions import Decision
from schemas.panes import Scope
from streams.evaluate.decide import fingerprint
from streams.evaluate.engine import Evaluation
from streams.evaluate.synthetic import START_MS, SeriesInput, build_panes
from streams.policy import Policy, load_policy

POLICY = load_policy()
HEALTHY, BREACH, RECOVERY = 90, 90, 240  # panes (seconds) of each phase
ENDPOINT = {"service": "svc", "endpoint": "POST /api/message"}
HOST = {"service": "svc", "host": "web-1"}
QUEUE = {"service": "svc", "queue": "tasks"}
BOT = {"service": "svc", "bot": "bot-1"}
CHECK = {"service": "svc", "check": "chat_history"}
HEARTBEAT = {
    "scope": {"service": "svc", "host": "heartbeat"},
    "cpu": f"40x{HEALTHY + BREACH + RECOVERY + 200}",
}


@dataclass(frozen=True)
class Case:
    """One scope's fields per phase (value or None for "no pane"), plus other scopes."""

    scope: dict[str, str]
    healthy: dict[str, str]
    breach: dict[str, str]
    quiet: dict[str, str] | None = None  # None: the scope sends nothing (no data)
    others: list[tuple[dict[str, str], dict[str, str], dict[str, str]]] = field(
        default_factory=list
    )  # (scope, healthy fields, breach fields) of other scopes the rule joins


def _bots(offline: int) -> list[tuple[dict[str, str], dict[str, str], dict[str, str]]]:
    return [
        ({"service": "svc", "bot": f"b{n}"}, {"status": "online"},
         {"status": "offline" if n < offline else "online"})
        for n in range(4)
    ]  # fmt: skip


OK_REQUESTS = {"requests": "100", "errors": "0", "latency_ms": "100"}
CASES: dict[str, Case] = {
    "core-error-rate-critical": Case(ENDPOINT, OK_REQUESTS, {**OK_REQUESTS, "errors": "100"}),
    "core-error-rate-high": Case(ENDPOINT, OK_REQUESTS, {**OK_REQUESTS, "errors": "100"}),
    "latency-p95-critical": Case(ENDPOINT, OK_REQUESTS, {**OK_REQUESTS, "latency_ms": "20000"}),
    "latency-p95-high": Case(ENDPOINT, OK_REQUESTS, {**OK_REQUESTS, "latency_ms": "8000"}),
    "throughput-collapse": Case(ENDPOINT, OK_REQUESTS, {**OK_REQUESTS, "requests": "10"},
                                quiet={"requests": "0"}),  # silence is a collapse, not no data
    "cpu-high": Case(HOST, {"cpu": "40", "mem": "50"}, {"cpu": "95", "mem": "50"},
                     quiet={"mem": "50"}),
    "memory-high": Case(HOST, {"cpu": "40", "mem": "50"}, {"cpu": "40", "mem": "95"},
                        quiet={"cpu": "40"}),
    "queue-depth-high": Case(QUEUE, {"depth": "20"}, {"depth": "150"}),
    "queue-growing": Case(QUEUE, {"depth": "20"}, {"depth": "20+3"}),
    "queue-growing-with-bot-errors": Case(
        QUEUE, {"depth": "20"}, {"depth": "20+3"},
        others=[(BOT, {"status": "online"}, {"status": "error"})]),
    "bot-crash": Case(BOT, {"status": "online"}, {"status": "crashed"}),
    "bots-offline": Case({"service": "svc"}, {}, {}, others=_bots(offline=3)),
    "integrity-failure": Case(CHECK, {"checks": "1", "failures": "0"},
                              {"checks": "1", "failures": "1"}),
}  # fmt: skip


def _phase(fields: dict[str, str], panes: int, start: int = 0) -> dict[str, str]:
    out = {}
    for name, value in fields.items():
        if "+" in value:  # a ramp continues from where it was
            first, step = (float(v) for v in value.split("+"))
            out[name] = f"{first + step * start:g}+{step:g}x{panes}"
        else:
            out[name] = f"{value}x{panes}"
    return out


def _series(
    scope: dict[str, str], phases: list[tuple[dict[str, str] | None, int]]
) -> dict[str, Any]:
    columns: dict[str, list[str]] = {}
    offset = 0
    names = {n for fields, _ in phases if fields for n in fields}
    for fields, panes in phases:
        chunk = _phase(fields, panes, offset) if fields is not None else {}
        for name in names:
            columns.setdefault(name, []).append(chunk.get(name, f"_x{panes}"))
        offset += panes
    return {"scope": scope, **{name: " ".join(parts) for name, parts in columns.items()}}


def _decisions(
    rule: str, phases: list[str], breach: int = BREACH, policy: Policy = POLICY
) -> list[Decision]:
    case = CASES[rule]
    lengths = {"healthy": HEALTHY, "breach": breach, "recovery": RECOVERY, "quiet": 200}
    pick = {"healthy": case.healthy, "breach": case.breach, "recovery": case.healthy,
            "quiet": case.quiet}  # fmt: skip
    series = [HEARTBEAT]
    if case.healthy:
        series.append(_series(case.scope, [(pick[p], lengths[p]) for p in phases]))
    for scope, healthy, breach in case.others:
        per = {"healthy": healthy, "breach": breach, "recovery": healthy, "quiet": None}
        series.append(_series(scope, [(per[p], lengths[p]) for p in phases]))
    engine = Evaluation(policy)
    decisions: list[Decision] = []
    for panes in build_panes(tuple(SeriesInput.model_validate(s) for s in series)):
        for pane in panes:
            engine.add(pane)
        decisions.extend(d for d in engine.advance().decisions if d.rule == rule)
    return decisions


def _at(decision: Decision) -> int:
    return decision.at_ms - START_MS


@pytest.mark.parametrize("rule", sorted(CASES))
def test_fires_for_after_the_breach_holds_then_resolves(rule: str) -> None:
    spec = POLICY.rule(rule)
    decisions = _decisions(rule, ["healthy", "breach", "recovery"])
    states = [d.state for d in decisions if d.state in ("pending", "firing", "resolved")]
    assert states[:1] == (["pending"] if spec.for_ms else ["firing"])
    assert "resolved" in states, states
    healthy_end, breach_end = HEALTHY * 1000, (HEALTHY + BREACH) * 1000
    assert all(_at(d) > healthy_end for d in decisions if d.state in ("pending", "firing"))
    firing = next(d for d in decisions if d.state == "firing")
    if spec.for_ms:
        pending = next(d for d in decisions if d.state == "pending")
        assert _at(firing) - _at(pending) == spec.for_ms
    resolved = next(d for d in decisions if d.state == "resolved")
    assert _at(resolved) >= breach_end + spec.keep_firing_for_ms
    assert firing.severity == spec.severity and firing.response == spec.response


def _without_hold(rule: str) -> Policy:
    rules = tuple(
        r.model_copy(update={"keep_firing_for_ms": 0}) if r.name == rule else r
        for r in POLICY.rules
    )
    return POLICY.model_copy(update={"rules": rules})


@pytest.mark.parametrize("rule", sorted(CASES))
def test_keep_firing_for_holds_the_alert_exactly_that_long_after_it_cleared(rule: str) -> None:
    """The same series with the rule's hold set to 0 resolves at the first clear evaluation:
    with the hold, it resolves exactly ``keep_firing_for`` later (hysteresis, not a delay of
    the window's length or an accident of the series)."""
    spec = POLICY.rule(rule)
    phases = ["healthy", "breach", "recovery"]

    def resolved_at(policy: Policy) -> int:
        found = [d for d in _decisions(rule, phases, policy=policy) if d.state == "resolved"]
        return _at(found[0])

    assert resolved_at(POLICY) - resolved_at(_without_hold(rule)) == spec.keep_firing_for_ms


def _for_outlasts_window(rule: str) -> bool:
    spec = POLICY.rule(rule)
    return spec.for_ms > spec.window_ms


@pytest.mark.parametrize("rule", sorted(filter(_for_outlasts_window, CASES)))
def test_a_breach_shorter_than_for_never_fires(rule: str) -> None:
    """The window stretches a breach by its length: breach + window < `for` must not fire."""
    spec = POLICY.rule(rule)
    short = (spec.for_ms - spec.window_ms) // 1000 // 2
    decisions = _decisions(rule, ["healthy", "breach", "recovery"], breach=short)
    states = [d.state for d in decisions]
    assert "pending" in states and "firing" not in states


@pytest.mark.parametrize("rule", sorted(CASES))
def test_a_quiet_scope_is_no_data_never_a_silent_pass(rule: str) -> None:
    case = CASES[rule]
    decisions = _decisions(rule, ["healthy", "quiet"])
    expected = "firing" if rule == "throughput-collapse" else "no_data"
    assert expected in [d.state for d in decisions if _at(d) > HEALTHY * 1000], (
        case.quiet, [(d.state, _at(d)) for d in decisions])  # fmt: skip


def test_a_scope_whose_first_window_fills_is_counted_as_warming_then_judged() -> None:
    """A new endpoint with a handful of requests: not judged before its first window filled
    (no decision), but reported — counted as warming — and then judged (no_data here)."""
    scope = {"service": "svc", "endpoint": "GET /api/rare"}
    sparse = {"requests": "1", "errors": "0", "latency_ms": "100"}
    engine = Evaluation(POLICY)
    seen: list[tuple[int, dict[str, int], list[Decision]]] = []
    series = [HEARTBEAT, _series(scope, [(sparse, 90)])]
    for tick, panes in enumerate(build_panes(tuple(SeriesInput.model_validate(s) for s in series))):
        for pane in panes:
            engine.add(pane)
        found = [
            d for d in engine.advance().decisions if d.scope.get("endpoint") == scope["endpoint"]
        ]
        seen.append((tick, engine.alert_states(), found))
    early = seen[10]
    assert early[1]["warming"] > 0 and early[2] == []
    late = seen[-1][1]
    assert late["no_data"] > 0, late
    # the endpoint's own rules are judged now (its service's SLO rules still warm: their long
    # windows are an hour and more)
    service = engine.service("svc")
    endpoint = Scope(service="svc", dimension="endpoint", key=scope["endpoint"])
    own = {fingerprint(r.name, endpoint.id) for r in service.rules_for(endpoint)}
    assert own and not own & service.warming
    assert {f for f in service.warming} == {
        fingerprint(r.name, "svc|service|svc") for r in POLICY.rules if r.slo is not None
    }
