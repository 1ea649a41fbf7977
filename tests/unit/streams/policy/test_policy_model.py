"""The policy file: durations, thresholds, matchers, defaults, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.panes import Scope
from schemas.severity import Severity
from streams.policy import (
    PolicyInvalid,
    format_duration,
    load_policy,
    parse_duration_ms,
    parse_policy,
)
from streams.policy.durations import parse_threshold

RULE = """
rules:
  - name: r
    metric: error_rate
    comparison: ">"
    threshold: 10%
    severity: CRITICAL
    response: rollback
"""


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30s", 30_000), ("1m", 60_000), ("2m30s", 150_000), ("500ms", 500), ("1h", 3_600_000),
     ("1.5s", 1500), (0, 0), ("0s", 0)],
)  # fmt: skip
def test_durations(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["1", "10", 5, "1 minute", "m", "", "1m-", True])
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration like 30s"):
        parse_duration_ms(bad)


def test_durations_format_back() -> None:
    assert [format_duration(ms) for ms in (0, 500, 60_000, 90_000, 3_600_000)] == [
        "0s", "500ms", "1m", "1m30s", "1h"]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [("10%", "ratio", 0.1), (0.1, "ratio", 0.1), ("5s", "ms", 5000.0), (5000, "ms", 5000.0),
     ("80%", "percent", 80.0), (80, "percent", 80.0), (100, "count", 100.0)],
)  # fmt: skip
def test_thresholds_in_the_metric_unit(value: object, unit: str, expected: float) -> None:
    assert parse_threshold(value, unit) == pytest.approx(expected)


def test_the_default_policy_encodes_every_number_of_the_plan() -> None:
    policy = load_policy()
    by_name = {rule.name: rule for rule in policy.rules}
    expected = {
        "core-error-rate-critical": (0.10, Severity.CRITICAL, "S1", "rollback"),
        "core-error-rate-high": (0.05, Severity.HIGH, None, "investigate"),
        "service-error-rate-critical": (0.20, Severity.CRITICAL, None, "rollback"),
        "service-error-rate-high": (0.05, Severity.HIGH, None, "investigate"),
        "latency-p95-critical": (10_000.0, Severity.CRITICAL, "S3", "rollback"),
        "latency-p95-high": (5_000.0, Severity.HIGH, "S3", "investigate"),
        "throughput-collapse": (0.5, Severity.HIGH, "S3", "investigate"),
        "cpu-high": (80.0, Severity.MEDIUM, None, "scale_up"),
        "memory-high": (85.0, Severity.MEDIUM, None, "scale_up"),
        "queue-depth-high": (100.0, Severity.MEDIUM, None, "notify"),
        "queue-growing": (0.5, Severity.MEDIUM, None, "notify"),
        "queue-growing-with-bot-errors": (0.5, Severity.HIGH, "S3", "investigate"),
        "bot-crash": (0.0, Severity.MEDIUM, None, "restart_bot"),
        "bots-offline": (3.0, Severity.CRITICAL, "S4", "emergency_stop"),
        "integrity-failure": (0.0, Severity.CRITICAL, "S2", "restore_data"),
        # the SRE workbook's burn rates on the default SLO (99%: a 1% budget)
        "slo-availability-page-fast": (0.144, Severity.HIGH, None, "investigate"),
        "slo-availability-page-slow": (0.06, Severity.HIGH, None, "investigate"),
        "slo-availability-ticket": (0.01, Severity.LOW, None, "record"),
        # the backup schedule and the RPOs (default.yaml says why each severity)
        "backup-rpo-chat_messages": (600_000.0, Severity.HIGH, None, "page"),
        "backup-rpo-bot_state": (3_600_000.0, Severity.MEDIUM, None, "notify"),
        "backup-rpo-configuration": (3_600_000.0, Severity.MEDIUM, None, "notify"),
        "backup-full-overdue": (3_600_000.0, Severity.MEDIUM, None, "notify"),
        "backup-offsite-overdue": (6 * 3_600_000.0, Severity.MEDIUM, None, "notify"),
        "restore-test-overdue": (7 * 86_400_000.0, Severity.LOW, None, "record"),
        "backup-failed": (0.0, Severity.MEDIUM, None, "notify"),
    }
    got = {n: (r.threshold, r.severity, r.scenario, r.response) for n, r in by_name.items()}
    assert got == expected
    objectives = {d.dataset: (d.rpo_ms, d.rto_ms) for d in policy.backups.datasets}
    assert objectives == {
        "chat_messages": (10 * 60_000, 10 * 60_000),  # RTO: critical data 10 min
        "bot_state": (3_600_000, 3_600_000),  # non-critical data 1 h
        "configuration": (3_600_000, 3_600_000),
    }
    assert policy.backups.full_system_rto_ms == 30 * 60_000
    assert by_name["core-error-rate-critical"].window_ms == 60_000
    readiness = policy.readiness
    assert (readiness.error_rate, readiness.p95_ms, readiness.cpu_pct, readiness.mem_pct) == (
        0.01, 1000.0, 50.0, 60.0)  # fmt: skip
    assert (readiness.window_ms, readiness.unready_deploy) == (10 * 60_000, Severity.MEDIUM)
    cascade = policy.cascade
    assert (cascade.min_critical, cascade.severity, cascade.scenario) == (5, "CRITICAL", "S4")
    assert policy.deploys.post_deploy_window_ms == 15 * 60_000


def test_defaults_fill_what_a_rule_leaves_out() -> None:
    policy = parse_policy("defaults: {window: 2m, min_samples: 7, for: 30s}\n" + RULE)
    rule = policy.rules[0]
    assert (rule.window_ms, rule.min_samples, rule.for_ms, rule.keep_firing_for_ms) == (
        120_000, 7, 30_000, 0)  # fmt: skip
    overridden = parse_policy(RULE.replace("    severity", "    window: 10s\n    severity"))
    assert overridden.rules[0].window_ms == 10_000


@pytest.mark.parametrize(
    ("patterns", "key", "matches"),
    [
        ("POST /api/message", "POST /api/message", True),
        ("POST /api/message", "POST /api/messages", False),
        ("POST /api/*", "POST /api/search", True),
        ("POST /api/*", "GET /api/search", False),
        ("re:POST /api/(search|message)", "POST /api/search", True),
        ("re:POST /api/(search|message)", "POST /api/search/x", False),  # full match
        (["GET /x", "POST /api/*"], "POST /api/bot/launch", True),
    ],
)
def test_scope_matchers_exact_glob_and_regex(
    patterns: str | list[str], key: str, matches: bool
) -> None:
    match = json.dumps({"endpoint": patterns})  # JSON is YAML
    rule = parse_policy(RULE.replace("    metric", f"    match: {match}\n    metric")).rules[0]
    assert rule.matches(Scope(service="svc", dimension="endpoint", key=key)) is matches


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, "team.yaml")
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("threshold: 10%", "threshold: ten"),
         "team.yaml: rule r: field threshold: expected a number or a percentage like 10%"),
        (("comparison: \">\"", "comparison: \">>\""),
         "team.yaml: rule r: field comparison: expected one of '>', '>='"),
        (("severity: CRITICAL", "severity: URGENT"),
         "team.yaml: rule r: field severity: expected one of 'LOW', 'MEDIUM', 'HIGH' or"),
        (("metric: error_rate", "metric: eror_rate"),
         "team.yaml: rule r: field metric: expected one of error_rate, p50_ms"),
        (("    response: rollback", "    response: rollback\n    for: 5"),
         "team.yaml: rule r: field for: expected a duration like 30s"),
        (("    response: rollback", "    response: rollback\n    windw: 1m"),
         "team.yaml: rule r: field windw: unknown field; expected one of "),
        (("    response: rollback", "    response: rollback\n    match: {host: web-1}"),
         "team.yaml: rule r: field match.host: metric error_rate is per endpoint; expected match"),
        (("  - name: r\n", "  - \n"), "team.yaml: rule #1: field name: required field is missing"),
        (("    response: rollback", "    response: rollback\n    match: {endpoint: 're:('}"),
         "team.yaml: rule r: field match.endpoint: expected a valid regular expression after "
         "re:, got 're:('"),
    ],
)  # fmt: skip
def test_errors_name_file_rule_field_and_expectation(
    change: tuple[str, str], expected: str
) -> None:
    problems = _problems(RULE.replace(*change))
    assert any(p.startswith(expected) for p in problems), problems


def test_duplicate_rule_names_and_bad_yaml_are_reported() -> None:
    assert _problems(RULE + RULE.removeprefix("\nrules:\n")) == [
        "team.yaml: rule r: field name: expected a unique name; rule #1 has it too"
    ]
    assert _problems("rules: [")[0].startswith("team.yaml: line 1, column")
    assert "expected a mapping" in _problems("- a\n- b\n")[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("    threshold: 10%\n", "    threshold: 10%\n    threshold: 20%\n"),
         "team.yaml: rule r: field threshold: duplicate key 'threshold' on lines 6 and 7"),
        (("    response: rollback", "    response: rollback\n    match: {endpoint: a, endpoint: b}"),
         "team.yaml: rule r: field match.endpoint: duplicate key 'endpoint' on lines 9 and 9"),
        (("\nrules:\n", "\nname: a\nname: b\nrules:\n"),
         "team.yaml: field name: duplicate key 'name' on lines 2 and 3"),
        (("  - name: r\n", "  - metric: error_rate\n"),
         "team.yaml: rule #1: field metric: duplicate key 'metric' on lines 3 and 4"),
    ],
)  # fmt: skip
def test_a_key_written_twice_is_refused_with_both_lines(
    change: tuple[str, str], expected: str
) -> None:
    """YAML would keep the last value silently; the policy means what it says or nothing."""
    assert _problems(RULE.replace(*change)) == [
        f"{expected}: write it once (YAML would silently keep the last value)"
    ]


def test_every_duplicate_key_is_reported_at_once() -> None:
    twice = RULE.replace("    severity: CRITICAL\n", "    severity: CRITICAL\n    severity: LOW\n")
    problems = _problems(twice.replace("    threshold: 10%\n", "    threshold: 10%\n" * 3))
    assert [p.split(": write")[0] for p in problems] == [
        "team.yaml: rule r: field threshold: duplicate key 'threshold' on lines 6 and 7",
        "team.yaml: rule r: field threshold: duplicate key 'threshold' on lines 6 and 8",
        "team.yaml: rule r: field severity: duplicate key 'severity' on lines 9 and 10",
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid, match=r"nope\.yaml: cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_one_mistake_is_one_error() -> None:
    """A bad default is reported once (not again as a missing field of every rule); an
    unknown metric is not also reported as a threshold in the wrong unit."""
    bad_default = "defaults:\n  window: 0s\n" + RULE
    assert _problems(bad_default) == [
        "team.yaml: field defaults.window: expected greater than 0, got 0"
    ]
    unknown = _problems(RULE.replace("metric: error_rate", "metric: eror_rate"))
    assert len(unknown) == 1 and "field metric" in unknown[0]


def test_an_also_condition_of_the_wrong_dimension_names_its_entry() -> None:
    also = "    also:\n      - {metric: queue_depth, comparison: '>', threshold: 5}\n"
    problems = _problems(RULE + also)
    assert problems == [
        "team.yaml: rule r: field also.0.metric: queue_depth is per queue; expected a metric "
        "per endpoint or per service"
    ]


@pytest.mark.parametrize(
    ("metric", "threshold", "expected"),
    [
        ("error_rate", "150%", "expected a threshold from 0% to 100% (error_rate is 5xx "
         "responses / requests), got 150%"),
        ("error_rate", "-1%", "expected a threshold from 0% to 100%"),
        ("p95_ms", "-5", "expected a threshold 0ms or more (p95_ms is 95th percentile "
         "latency), got -5ms"),
        ("cpu_max_pct", "120%", "expected a threshold from 0% to 100% (cpu_max_pct is highest "
         "CPU reading), got 120%"),
        ("mem_pct", "-3", "expected a threshold from 0% to 100%"),
        ("queue_depth", "-1", "expected a threshold 0 or more (queue_depth is latest queue "
         "depth), got -1"),
        ("request_rate", "-2", "expected a threshold 0 or more"),
    ],
)  # fmt: skip
def test_a_threshold_the_metric_can_never_reach_is_refused(
    metric: str, threshold: str, expected: str
) -> None:
    text = RULE.replace("metric: error_rate", f"metric: {metric}").replace("10%", threshold)
    (problem,) = _problems(text)
    assert problem.startswith(f"team.yaml: rule r: field threshold: {expected}"), problem


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [("error_rate", "100%"), ("error_rate", "0%"), ("throughput_ratio", "200%"),
     ("queue_growth", "-5"), ("cpu_pct", "100%"), ("p95_ms", "0")],
)  # fmt: skip
def test_thresholds_at_the_ends_of_a_metric_range_are_fine(metric: str, threshold: str) -> None:
    text = RULE.replace("metric: error_rate", f"metric: {metric}").replace("10%", threshold)
    assert parse_policy(text).rules[0].metric == metric


def test_an_also_threshold_out_of_range_names_its_entry() -> None:
    also = "    also:\n      - {metric: bot_errors, comparison: '>', threshold: -1}\n"
    problems = _problems(RULE.replace("error_rate", "queue_growth").replace("10%", "0.5") + also)
    assert problems == [
        "team.yaml: rule r: field also.0.threshold: expected a threshold 0 or more (bot_errors "
        "is bots with errors), got -1"
    ]


@pytest.mark.parametrize("text", ["rules: []\n", "name: nothing\n", ""])
def test_a_policy_without_rules_is_refused(text: str) -> None:
    assert _problems(text) == [
        "team.yaml: field rules: expected at least one rule (a policy without rules never alerts)"
    ]


def test_every_mistake_of_a_rule_is_reported_at_once() -> None:
    text = RULE.replace("10%", "150%").replace(
        "    response: rollback", "    response: rollback\n    match: {host: web-1}"
    )
    assert _problems(text) == [
        "team.yaml: rule r: field threshold: expected a threshold from 0% to 100% (error_rate is "
        "5xx responses / requests), got 150%",
        "team.yaml: rule r: field match.host: metric error_rate is per endpoint; expected match "
        "keys among service, endpoint",
    ]


def test_an_expected_rate_names_its_match_key() -> None:
    text = RULE + "throughput:\n  expected: [{match: {host: web-1}, rps: 5}]\n"
    assert _problems(text) == [
        "team.yaml: field throughput.expected.0.match.host: expected match keys among service, "
        "endpoint"
    ]
