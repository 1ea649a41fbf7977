"""The policy's maintenance windows and dry run: validated with file, window, field and reason;
a dry-run rule's (or policy's) decisions are marked, the others are not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.cli import main
from streams.evaluate.engine import Evaluation
from streams.evaluate.synthetic import SeriesInput, build_panes
from streams.policy import PolicyInvalid, parse_policy

RULES = """
rules:
  - name: errors
    metric: error_rate
    comparison: ">"
    threshold: 10%
    min_samples: 10
    window: 5s
    for: 0s
    keep_firing_for: 0s
    severity: CRITICAL
    response: rollback
  - name: trial
    metric: error_rate
    comparison: ">"
    threshold: 5%
    min_samples: 10
    window: 5s
    for: 0s
    keep_firing_for: 0s
    severity: HIGH
    response: investigate
    dry_run: true
"""

WINDOWS = """
maintenance:
  - name: weekly-db
    services: [chat-api, "web-*"]
    time_intervals:
      - weekdays: ["saturday"]
        times: [{start_time: "02:00", end_time: "04:00"}]
        location: Europe/Berlin
  - name: load-test
    starts_at: 2026-05-01T10:00:00Z
    ends_at: 2026-05-01T12:00:00Z
    notifications: send
    hold_automation: true
"""


def test_windows_and_dry_run_load() -> None:
    policy = parse_policy(RULES + WINDOWS)
    assert [w.name for w in policy.maintenance] == ["weekly-db", "load-test"]
    assert policy.maintenance[0].covers("web-1") and not policy.maintenance[0].covers("search")
    # the file's own rules; the plan's backup rules (generated, no backups: section) run too
    dry = {r.name: policy.is_dry_run(r) for r in policy.rules}
    assert [dry["errors"], dry["trial"]] == [False, True]
    assert not any(v for name, v in dry.items() if name not in ("errors", "trial"))
    assert parse_policy(RULES + "dry_run: true\n").is_dry_run(policy.rules[0])
    assert parse_policy(RULES + "dry_run: true\n").cascade_as_run().dry_run


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (
            '{name: w, time_intervals: [{weekdays: ["funday"]}]}',
            "window w: field time_intervals.0.weekdays: expected a name (monday",
        ),
        (
            '{name: w, time_intervals: [{location: "Mars/Olympus"}]}',
            "window w: field time_intervals.0.location: expected an IANA time zone",
        ),
        (
            "{name: w, starts_at: 2026-05-01T10:00:00Z, ends_at: 2026-05-01T09:00:00Z}",
            "window w: field ends_at: expected a time after starts_at",
        ),
        ("{name: w}", "window w: expected time_intervals (recurring) or starts_at and ends_at"),
        (
            "{name: w, time_intervals: [{}], hold: true}",
            "window w: field hold: unknown field; expected one of name, services",
        ),
    ],
)
def test_a_bad_window_is_reported_with_file_window_field_and_reason(
    window: str, expected: str
) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(RULES + f"maintenance:\n  - {window}\n", "team.yaml")
    assert any(str(p).startswith(f"team.yaml: {expected}") for p in caught.value.problems), (
        caught.value.report()
    )


def test_two_windows_of_one_name_are_refused() -> None:
    twice = (
        "maintenance:\n  - {name: w, time_intervals: [{}]}\n  - {name: w, time_intervals: [{}]}\n"
    )
    expected = "team.yaml: window w: field name: expected a unique name; window #1 has it too"
    with pytest.raises(PolicyInvalid, match=re.escape(expected)):
        parse_policy(RULES + twice, "team.yaml")


def test_policy_check_validates_and_lists_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(RULES + WINDOWS, encoding="utf-8")
    assert main(["policy", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "2 maintenance windows" in out and "-> investigate (dry run)" in out
    assert "window   weekly-db" in out and "notifications mute, holds automation" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES + "maintenance:\n  - {name: w, time_intervals: [{months: [13]}]}\n")
    assert main(["policy", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: window w: field time_intervals.0.months: expected month from 1 to 12" in err


def test_a_dry_run_rules_decisions_are_marked_and_the_others_are_not() -> None:
    policy = parse_policy(RULES)
    series = SeriesInput(
        scope={"service": "chat-api", "endpoint": "POST /x"}, requests="100x10", errors="20x10"
    )
    engine = Evaluation(policy)
    decisions = []
    for panes in build_panes((series,)):
        for pane in panes:
            engine.add(pane)
        decisions += engine.advance().decisions
    fired = {(d.rule, d.dry_run) for d in decisions if d.state == "firing"}
    assert fired == {("errors", False), ("trial", True)}
