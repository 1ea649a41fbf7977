"""``alertpipe policy check|test|default``: validate and unit-test alerting policies offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.config_cmd import load_settings
from app.errors import PolicyError
from app.policy import load_policy_file
from schemas.maintenance import MaintenanceWindow, TimeInterval
from streams.evaluate.offline import TestResult, run_file
from streams.policy import (
    DEFAULT_POLICY,
    Condition,
    Policy,
    PolicyInvalid,
    Rule,
    default_policy_text,
    format_duration,
)
from streams.policy.durations import format_value
from streams.policy.routes import Route

__all__ = ["register"]

_CHECK = """\
Validate a policy file and print its rules. Exit 0 when valid; 2 with one line per problem
(file, rule, field, what was expected) when not. Without FILE: the policy in effect
(ALERTPIPE_POLICY, or the built-in plan).
"""

_TEST = """\
Run unit tests of a policy, like promtool's rule tests: input series per scope (one value
per pane: "70x60", "0x30 12x30", "_x10") and the decisions expected at given times, or
expected absent. Exit 0 when every test passes, 1 when one fails, 2 when the tests file or
the policy is invalid. See examples/policy-tests.yaml for the format.
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "policy",
        help="validate and test alerting policies",
        description="Validate and unit-test alerting policies offline (no servers needed).",
    )
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    check = sub.add_parser(
        "check", help="validate a policy file", description=_CHECK, formatter_class=raw
    )
    check.add_argument("file", nargs="?", type=Path, help="policy YAML (default: in effect)")
    check.set_defaults(handler=_check)
    test = sub.add_parser(
        "test", help="run unit tests of a policy", description=_TEST, formatter_class=raw
    )
    test.add_argument("tests", type=Path, help="tests YAML")
    test.add_argument("--policy", type=Path, help="test this policy instead of the file's own")
    test.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    test.set_defaults(handler=_test)
    default = sub.add_parser(
        "default",
        help="print the built-in policy (a starting point for your own)",
        description="Print the built-in policy YAML: the plan's thresholds as rules.",
    )
    default.set_defaults(handler=_default)


def _scope_text(rule: Rule) -> str:
    if not rule.match:
        return f"every {rule.info.dimension}"
    return "; ".join(f"{key} {', '.join(values)}" for key, values in rule.match.items())


def _condition_text(condition: Condition) -> str:
    threshold = format_value(condition.threshold, condition.info.unit)
    return f"{condition.metric} {condition.comparison} {threshold}"


def _rule_text(rule: Rule) -> str:
    return " and ".join(_condition_text(c) for c in (rule, *rule.also))


def _summary_line(rule: Rule) -> str:
    window = format_duration(rule.window_ms)
    if rule.short_window_ms:
        window += f" and {format_duration(rule.short_window_ms)}"
    timing = f"over {window}, " if rule.info.windowed else "on the whole history, "
    timing += f">= {rule.min_samples} {rule.info.samples}"
    if rule.confidence is not None:
        timing += f" at {rule.confidence * 100:g}% confidence"
    if rule.tolerance is not None:
        timing += f" (precise within {rule.tolerance * 100:g}%)"
    if rule.for_ms:
        timing += f", for {format_duration(rule.for_ms)}"
    if rule.keep_firing_for_ms:
        timing += f", keep {format_duration(rule.keep_firing_for_ms)}"
    scenario = f" {rule.scenario}" if rule.scenario else ""
    trial = " (dry run)" if rule.dry_run else ""
    return (
        f"  {rule.severity:<8} {rule.name:<30} {_rule_text(rule)} {timing}; "
        f"{_scope_text(rule)} -> {rule.response}{scenario}{trial}"
    )


def _interval_text(interval: TimeInterval) -> str:
    parts = [", ".join(f"{r.start_time}-{r.end_time}" for r in interval.times)]
    for name in ("weekdays", "days_of_month", "months", "years"):
        values = getattr(interval, name)
        if values:
            parts.append(f"{name} {', '.join(values)}")
    return " ".join(p for p in parts if p) + f" {interval.location}"


def _window_line(window: MaintenanceWindow) -> str:
    if window.starts_at is not None and window.ends_at is not None:
        when = f"{window.starts_at.isoformat()} to {window.ends_at.isoformat()}"
    else:
        when = "; ".join(_interval_text(i) for i in window.time_intervals)
    held = "holds automation" if window.hold_automation else "automation runs"
    return (
        f"  window   {window.name:<30} {', '.join(window.services)}: {when}; "
        f"notifications {window.notifications}, {held}"
    )


def _check(args: argparse.Namespace) -> int:
    path: Path | None = args.file
    if path is None:
        path = load_settings().policy
    policy = load_policy_file(path)
    trial = " — dry run: decisions and actions recorded, nothing sent" if policy.dry_run else ""
    print(
        f"{path or DEFAULT_POLICY}: valid, policy {policy.name!r}, {len(policy.rules)} rules, "
        f"{len(policy.maintenance)} maintenance windows{trial}"
    )
    for rule in policy.rules:
        print(_summary_line(rule))
    cascade = policy.cascade
    if cascade.enabled:
        print(
            f"  {cascade.severity:<8} {cascade.name:<30} >= {cascade.min_critical} CRITICAL "
            f"alerts within {format_duration(cascade.window_ms)} across services "
            f"-> {cascade.response}"
        )
    for window in policy.maintenance:
        print(_window_line(window))
    for line in _sources_lines(policy):
        print(line)
    _print_objectives(policy)
    return 0


def _route_line(route: Route) -> str:
    takes = "; ".join(f"{key} {', '.join(values)}" for key, values in route.match.items())
    severities = ", ".join(s.value for s in route.severity)
    where = " and ".join(filter(None, (takes, severities))) or "everything else"
    on_call = route.pager_name("on_call")
    tiers = [
        f"{tier} {route.pager_name(tier)}"
        for tier in ("lead_engineer", "team_lead", "final_contact")
        if route.pager_name(tier) != on_call
    ]
    pager = on_call + (f" ({', '.join(tiers)})" if tiers else "")
    return f"  route    {route.name:<30} {where} -> pager {pager}, chat {route.chat}"


def _sources_lines(policy: Policy) -> list[str]:
    """Where incidents go, and how Alertmanager's alerts and OTLP gauges are read."""
    lines = [_route_line(route) for route in policy.routes.all()]
    am = policy.alertmanager
    severities = ", ".join(f"{label}={s.value}" for label, s in am.severities.items())
    responses = ", ".join(f"{s.value}->{r}" for s, r in am.responses.items())
    lines.append(
        f"  alertmanager: service from {', '.join(am.service_labels)}; severity from "
        f"{am.severity_label} ({severities}; else {am.default_severity.value}); {responses}; "
        f"{len(am.alerts)} per-alert override(s)"
    )
    gauges = [f"queue {q.metric} by {q.attribute}" for q in policy.otlp.queues]
    gauges += [f"bot {b.metric} by {b.attribute}" for b in policy.otlp.bots]
    lines.append(f"  otlp: {'; '.join(gauges) or 'CPU and memory utilization only'}")
    return lines


def _print_objectives(policy: Policy) -> None:
    """What the responder measures a restore against, and the readiness gate's baselines."""
    backups = policy.backups
    if backups.enabled:
        print(
            f"recovery objectives (full system RTO {format_duration(backups.full_system_rto_ms)}):"
        )
        for d in backups.datasets:
            print(
                f"  {d.dataset:<30} RPO {format_duration(d.rpo_ms):<6} "
                f"RTO {format_duration(d.rto_ms):<6} {d.description}"
            )
    r = policy.readiness
    print(
        f"readiness gate over {format_duration(r.window_ms)} (>= {r.min_samples} requests): "
        f"error rate < {r.error_rate * 100:g}%, p95 < {format_value(r.p95_ms, 'ms')}, "
        f"CPU < {r.cpu_pct:g}%, memory < {r.mem_pct:g}%; a deploy that skipped it: "
        f"{r.unready_deploy}"
    )


def _print_result(result: TestResult, quiet: bool) -> None:
    if result.passed:
        if not quiet:
            print(f"  PASS  {result.name}")
        return
    print(f"  FAIL  {result.name}")
    for failure in result.failures:
        print(f"        {failure}")


def _test(args: argparse.Namespace) -> int:
    try:
        results = run_file(args.tests, args.policy)
    except PolicyInvalid as error:
        raise PolicyError(error.report()) from None
    print(f"{args.tests}: {len(results)} tests")
    for result in results:
        _print_result(result, args.quiet)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _default(args: argparse.Namespace) -> int:
    print(default_policy_text(), end="")
    return 0
