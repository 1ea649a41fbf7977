"""Unit tests for a policy, run offline: synthetic pane series in, expected decisions out.

A tests file (YAML) names the policy and lists tests, each with input series per scope in the
compact notation of ``streams.evaluate.series`` and the decisions expected; the format and
what an expectation means: docs/policy.md, "Checking and testing a policy", and
examples/policy-tests.yaml. The engine is the evaluator's own, so a test passing here passes
in production; the decisions then go through the S4 correlator, so a test may expect the
cascade too. All the series of a test share one partition: a series that ends is a silent
service, and idle ticks move the partition on up to the last ``at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.decisions import AlertState, Decision
from streams.evaluate.correlate import Cascade, correlate
from streams.evaluate.engine import EngineConfig, Evaluation
from streams.evaluate.synthetic import START_MS, DurationMs, SeriesInput, SeriesText, build_panes
from streams.policy.duplicates import duplicate_keys
from streams.policy.errors import PolicyInvalid, Problem
from streams.policy.load import load_policy
from streams.policy.model import CascadePolicy, Policy
from streams.policy.routes import Routes

__all__ = ["PolicyTests", "TestResult", "load_tests", "run_file", "run_tests"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Expectation(_Model):
    at_ms: DurationMs = Field(alias="at")
    rule: str
    scope: dict[str, str] = Field(default_factory=dict)
    state: AlertState | None = None
    absent: bool = False
    severity: str | None = None
    version: SeriesText | None = None
    last_good_version: SeriesText | None = None
    post_deploy: bool | None = None
    changed_at_ms: DurationMs | None = Field(default=None, alias="changed_at")
    breaching: bool | None = None
    route: str | None = None
    pager: str | None = None
    chat: str | None = None


class PolicyTest(_Model):
    name: str
    series: tuple[SeriesInput, ...]
    expect: tuple[Expectation, ...]


class PolicyTests(_Model):
    policy: str = "default"
    pane_ms: DurationMs = Field(default=1000, alias="pane", gt=0)
    tests: tuple[PolicyTest, ...]


@dataclass
class TestResult:
    name: str
    failures: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


# --- loading -------------------------------------------------------------------------------


def load_tests(path: Path) -> PolicyTests:
    """Read and validate a tests file; problems name the file, the test and the field."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as error:
        raise PolicyInvalid([Problem(source, None, None, f"cannot read tests: {error}")]) from None
    repeated = duplicate_keys(text, source, items="tests", item="test")
    if repeated:
        raise PolicyInvalid(repeated)
    try:
        return PolicyTests.model_validate(data)
    except ValidationError as error:
        raise PolicyInvalid([_problem(source, data, d) for d in error.errors()]) from None


def _problem(source: str, data: Any, detail: Any) -> Problem:
    loc = list(detail["loc"])
    test = None
    if len(loc) >= 2 and loc[0] == "tests" and isinstance(loc[1], int):
        test = _test_name(data, loc[1])
        loc = loc[2:]
    field_name = ".".join(str(part) for part in loc) or None
    message = str(detail["msg"]).removeprefix("Value error, ")
    return Problem(source, test, field_name, message, item="test")


def _test_name(data: Any, index: int) -> str:
    try:
        return str(data["tests"][index]["name"])
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"


def policy_for(tests: PolicyTests, tests_path: Path, override: Path | None = None) -> Policy:
    if override is not None:
        return load_policy(override)
    if tests.policy in ("", "default"):
        return load_policy(None)
    return load_policy(tests_path.parent / tests.policy)


# --- running -------------------------------------------------------------------------------


def _decisions(test: PolicyTest, policy: Policy, pane_ms: int) -> list[Decision]:
    """The evaluator's decisions on the test's series, then the S4 correlator's on those."""
    decisions = _evaluated(test, policy, pane_ms)
    if policy.cascade.enabled:
        decisions.extend(_correlated(decisions, policy.cascade_as_run()))
    return sorted(decisions, key=lambda d: d.at_ms)


def _evaluated(test: PolicyTest, policy: Policy, pane_ms: int) -> list[Decision]:
    """Panes go in as they close; where no series has a pane, the evaluator's wall clock —
    here running at the panes' pace — moves the partition on by idle ticks, up to the last
    expectation, as it would when every service of a partition went silent."""
    engine = Evaluation(policy, EngineConfig(idle_after_ms=2 * pane_ms))
    groups = {group[0].end_ms: group for group in build_panes(test.series, pane_ms)}
    until = max([*groups, *(START_MS + e.at_ms for e in test.expect)], default=START_MS)
    decisions: list[Decision] = []
    for end in range(START_MS + pane_ms, until + 1, pane_ms):
        group = groups.get(end)
        if group is None:
            decisions.extend(engine.idle_tick(end).decisions)
            continue
        for pane in group:
            engine.add(pane)
        decisions.extend(engine.advance().decisions)
    return decisions


def _correlated(decisions: list[Decision], policy: CascadePolicy) -> list[Decision]:
    """What the cascade correlator decides reading ``decisions`` in event-time order."""
    cascade, made = Cascade(), []
    for decision in sorted(decisions, key=lambda d: d.at_ms):
        cascade, found = correlate(cascade, decision, policy)
        if found is not None:
            made.append(found)
    return made


def _relative(at_ms: int) -> str:
    return f"{(at_ms - START_MS) / 1000:g}s"


def _matching(decisions: list[Decision], expect: Expectation, up_to: int) -> list[Decision]:
    return [
        d
        for d in decisions
        if d.rule == expect.rule
        and d.at_ms <= up_to
        and all(d.scope.get(k) == v for k, v in expect.scope.items())
    ]


def _describe(decision: Decision) -> str:
    return (
        f"{decision.rule} {decision.scope} {decision.previous}->{decision.state} at "
        f"{_relative(decision.at_ms)} (observed {decision.evidence.observed}, version "
        f"{decision.version}, last good {decision.last_good_version})"
    )


def _check_absent(expect: Expectation, found: list[Decision]) -> list[str]:
    if expect.state is not None:
        found = [d for d in found if d.state == expect.state]
    if not found:
        return []
    return [f"expected no decision up to {expect.at_ms / 1000:g}s, got: {_describe(found[0])}"]


def _check_state(expect: Expectation, found: list[Decision]) -> list[str]:
    latest = found[-1] if found else None
    state = latest.state if latest is not None else "inactive"
    at = f"{expect.at_ms / 1000:g}s"
    if expect.state is not None and state != expect.state:
        history = "; ".join(_describe(d) for d in found) or "no decisions"
        return [f"at {at}: expected state {expect.state}, got {state} ({history})"]
    if latest is None:
        return []
    return _check_fields(expect, latest, _entered(found), at)


def _check_route(expect: Expectation, latest: Decision, at: str, routes: Routes) -> list[str]:
    route = routes.route_for(latest.service, latest.severity)
    sent = {"route": route.name, "pager": route.pager_name("on_call"), "chat": route.chat}
    wanted = {"route": expect.route, "pager": expect.pager, "chat": expect.chat}
    return [
        f"at {at}: expected {name} {value!r}, got {sent[name]!r} "
        f"({latest.service}, {latest.severity.value})"
        for name, value in wanted.items()
        if value is not None and sent[name] != value
    ]


def _entered(found: list[Decision]) -> Decision:
    """The decision that entered the latest state (a firing alert's later turns between
    breaching and held keep the state it entered)."""
    state = found[-1].state
    turns = [d for d in found if d.state == state and d.previous != state]
    return turns[-1] if turns else found[-1]


def _check_fields(expect: Expectation, latest: Decision, entered: Decision, at: str) -> list[str]:
    wanted: dict[str, Any] = {
        "severity": expect.severity,
        "version": expect.version,
        "last_good_version": expect.last_good_version,
        "post_deploy": expect.post_deploy,
        "breaching": expect.breaching,
    }
    failures = [
        f"at {at}: expected {name} {value!r}, got {getattr(latest, name)!r}"
        for name, value in wanted.items()
        if value is not None and str(getattr(latest, name)) != str(value)
    ]
    if expect.changed_at_ms is not None and entered.at_ms != START_MS + expect.changed_at_ms:
        failures.append(
            f"at {at}: expected the change at {expect.changed_at_ms / 1000:g}s, "
            f"got {_relative(entered.at_ms)}"
        )
    return failures


def _check(expect: Expectation, decisions: list[Decision], routes: Routes) -> list[str]:
    found = _matching(decisions, expect, START_MS + expect.at_ms)
    label = f"{expect.rule} {expect.scope or ''}".strip()
    check = _check_absent if expect.absent else _check_state
    failures = check(expect, found)
    if found and not expect.absent:
        failures += _check_route(expect, found[-1], f"{expect.at_ms / 1000:g}s", routes)
    return [f"{label}: {failure}" for failure in failures]


def _rule_names(policy: Policy) -> set[str]:
    names = {rule.name for rule in policy.rules}
    if policy.cascade.enabled:
        names.add(policy.cascade.name)
    return names


def run_tests(tests: PolicyTests, policy: Policy) -> list[TestResult]:
    results = []
    for test in tests.tests:
        result = TestResult(test.name)
        try:
            result.decisions = _decisions(test, policy, tests.pane_ms)
        except ValueError as error:
            result.failures.append(f"invalid series: {error}")
            results.append(result)
            continue
        unknown = [e.rule for e in test.expect if e.rule not in _rule_names(policy)]
        result.failures.extend(f"unknown rule {name!r} in expect" for name in unknown)
        for expect in test.expect:
            result.failures.extend(_check(expect, result.decisions, policy.routes))
        results.append(result)
    return results


def run_file(path: Path, policy_override: Path | None = None) -> list[TestResult]:
    """Load a tests file and its policy, run every test."""
    tests = load_tests(path)
    return run_tests(tests, policy_for(tests, path, policy_override))
