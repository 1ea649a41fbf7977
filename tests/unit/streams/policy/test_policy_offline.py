"""`alertpipe policy check|test`: the shipped example tests pass, failures are reported, and
invalid files name file, rule or test, and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from streams.evaluate.offline import run_file
from streams.policy import PolicyInvalid

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "policy-tests.yaml"

ONE_TEST = """
policy: default
tests:
  - name: s1
    series:
      - scope: {service: chat-api, endpoint: "POST /api/message"}
        requests: 70x60
        errors: 0x30 28x30
    expect:
      - {at: 60s, rule: core-error-rate-critical, state: STATE}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_example_test_of_the_default_policy_passes() -> None:
    results = run_file(EXAMPLE)
    assert len(results) >= 10
    assert [r.failures for r in results if not r.passed] == []


def test_a_wrong_expectation_fails_and_says_what_happened(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.yaml", ONE_TEST.replace("STATE", "inactive"))
    (result,) = run_file(path)
    assert not result.passed
    assert "expected state inactive, got firing" in result.failures[0]


def test_an_unknown_rule_in_expect_fails(tmp_path: Path) -> None:
    text = ONE_TEST.replace("STATE", "firing").replace("core-error-rate-critical", "nope")
    (result,) = run_file(_write(tmp_path, "t.yaml", text))
    assert "unknown rule 'nope' in expect" in result.failures


def test_an_invalid_tests_file_names_file_test_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.yaml", ONE_TEST.replace("STATE", "burning"))
    with pytest.raises(PolicyInvalid) as caught:
        run_file(path)
    assert str(caught.value.problems[0]).startswith(f"{path}: test s1: field expect.0.state:")


def test_a_key_written_twice_in_a_tests_file_names_the_test_and_both_lines(
    tmp_path: Path,
) -> None:
    text = ONE_TEST.replace("STATE", "firing").replace(
        "        requests: 70x60\n", "        requests: 70x60\n        requests: 7x60\n"
    )
    path = _write(tmp_path, "t.yaml", text)
    with pytest.raises(PolicyInvalid) as caught:
        run_file(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: test s1: field series.0.requests: duplicate key 'requests' on lines 7 and 8: "
        "write it once (YAML would silently keep the last value)"
    ]


def test_the_cli_check_refuses_a_threshold_written_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "streams/policy/default.yaml").read_text()
    twice = text.replace("    threshold: 10%\n", "    threshold: 10%\n    threshold: 90%\n", 1)
    path = _write(tmp_path, "team.yaml", twice)
    assert main(["policy", "check", str(path)]) != 0
    captured = capsys.readouterr()
    line = text[: text.index("    threshold: 10%")].count("\n") + 1
    assert (
        f"{path}: rule core-error-rate-critical: field threshold: duplicate key 'threshold' "
        f"on lines {line} and {line + 1}"
    ) in captured.out + captured.err


def test_the_cli_runs_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "0 failed" in out


def test_the_cli_exits_1_when_a_test_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "t.yaml", ONE_TEST.replace("STATE", "resolved"))
    assert main(["policy", "test", str(path)]) == 1
    assert "FAIL  s1" in capsys.readouterr().out


def test_the_cli_tests_another_policy_with_the_same_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lenient = (
        (ROOT / "streams/policy/default.yaml")
        .read_text()
        .replace("threshold: 10%", "threshold: 50%")
    )
    policy = _write(tmp_path, "lenient.yaml", lenient)
    tests = _write(tmp_path, "t.yaml", ONE_TEST.replace("STATE", "firing"))
    assert main(["policy", "test", str(tests), "--policy", str(policy)]) == 1


CASCADE = """
policy: default
tests:
  - name: five services broken at once
    series:
SERIES
    expect:
      - {at: 40s, rule: cascading-failures, scope: {service: "*"}, state: STATE}
"""


def _cascade_test(services: int, state: str) -> str:
    """Each service: a broken core endpoint (one CRITICAL alert) beside healthy traffic that
    keeps the service's overall 5xx rate (10%) under the service-wide CRITICAL rule's 20%."""
    series = "\n".join(
        f'      - {{scope: {{service: svc-{n}, endpoint: "POST /api/search"}}, '
        f"requests: 100x40, errors: 0x10 40x30}}\n"
        f'      - {{scope: {{service: svc-{n}, endpoint: "GET /api/items"}}, requests: 300x40}}'
        for n in range(services)
    )
    return CASCADE.replace("SERIES", series).replace("STATE", state)


def test_the_cascade_is_correlated_from_the_evaluated_decisions(tmp_path: Path) -> None:
    (result,) = run_file(_write(tmp_path, "t.yaml", _cascade_test(5, "firing")))
    assert result.passed, result.failures
    (cascade,) = [d for d in result.decisions if d.rule == "cascading-failures"]
    assert cascade.scenario == "S4" and cascade.response == "emergency_stop"
    critical = [d for d in result.decisions if d.severity == "CRITICAL" and d.state == "firing"]
    assert {d.rule for d in critical} == {"core-error-rate-critical", "cascading-failures"}
    alerts = [d for d in critical if d.rule == "core-error-rate-critical"]
    assert len(alerts) == 5 and cascade.at_ms == max(d.at_ms for d in alerts)  # the fifth


def test_four_critical_alerts_are_no_cascade(tmp_path: Path) -> None:
    (result,) = run_file(_write(tmp_path, "t.yaml", _cascade_test(4, "firing")))
    assert result.failures == [
        "cascading-failures {'service': '*'}: at 40s: expected state firing, got inactive "
        "(no decisions)"
    ]


def test_a_policy_without_the_cascade_does_not_know_its_name(tmp_path: Path) -> None:
    text = (ROOT / "streams/policy/default.yaml").read_text()
    policy = _write(tmp_path, "p.yaml", text.replace("cascade:\n", "cascade:\n  enabled: false\n"))
    tests = _write(tmp_path, "t.yaml", _cascade_test(5, "firing"))
    (result,) = run_file(tests, policy)
    assert "unknown rule 'cascading-failures' in expect" in result.failures


def test_check_prints_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(ROOT / "streams/policy/default.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "core-error-rate-critical" in out and "error_rate > 10%" in out


def test_check_of_an_invalid_policy_exits_2_naming_file_rule_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        (ROOT / "streams/policy/default.yaml")
        .read_text()
        .replace("threshold: 5s", "threshold: fast")
    )
    path = _write(tmp_path, "bad.yaml", text)
    assert main(["policy", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path}: rule latency-p95-high: field threshold: expected a number of milliseconds or a duration like 5s"
        in err
    )


def test_default_prints_the_built_in_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "default"]) == 0
    assert "core-error-rate-critical" in capsys.readouterr().out
