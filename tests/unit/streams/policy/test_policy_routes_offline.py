"""``policy test`` can assert where a decision would be sent (route, on-call routing key,
chat webhook), and ``policy check`` shows the routes and the other tools' mappings."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from streams.evaluate.offline import run_file

POLICY = """
rules:
  - name: errors
    metric: error_rate
    comparison: ">"
    threshold: 10%
    window: 10s
    min_samples: 5
    for: 0s
    keep_firing_for: 0s
    severity: CRITICAL
    response: rollback
routes:
  default: {pager: platform, chat: ops}
  teams:
    - name: chat-team
      match: {service: "chat-*"}
      pager: {on_call: chat-oncall, final_contact: dave}
      chat: chat-room
otlp:
  queues: [{metric: app.queue.depth, attribute: queue.name}]
"""

TESTS = """
policy: policy.yaml
tests:
  - name: where the pages go
    series:
      - {scope: {service: chat-api, endpoint: "POST /api/message"}, requests: 10x20, errors: 0x5 5x15}
      - {scope: {service: billing, endpoint: "POST /pay"}, requests: 10x20, errors: 0x5 5x15}
    expect:
      - {at: 20s, rule: errors, scope: {service: chat-api}, state: firing, route: chat-team, pager: chat-oncall, chat: chat-room}
      - {at: 20s, rule: errors, scope: {service: billing}, state: firing, route: default, pager: platform, chat: ops}
"""


def _files(tmp_path: Path, tests: str = TESTS) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "tests.yaml").write_text(tests)
    return tmp_path / "tests.yaml"


def test_a_test_can_say_where_a_decision_is_sent(tmp_path: Path) -> None:
    [result] = run_file(_files(tmp_path))
    assert result.passed, result.failures


def test_a_wrong_route_fails_and_says_where_it_went(tmp_path: Path) -> None:
    wrong = TESTS.replace("route: default, pager: platform", "route: chat-team, pager: platform")
    [result] = run_file(_files(tmp_path, wrong))
    assert result.failures == [
        "errors {'service': 'billing'}: at 20s: expected route 'chat-team', got 'default' "
        "(billing, CRITICAL)"
    ]


def test_policy_check_shows_the_routes_and_mappings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _files(tmp_path)
    assert main(["policy", "check", str(tmp_path / "policy.yaml")]) == 0
    out = capsys.readouterr().out
    assert (
        "route    chat-team                      service chat-* -> pager chat-oncall "
        "(final_contact dave), chat chat-room"
    ) in out
    assert (
        "route    default                        everything else -> pager platform, chat ops" in out
    )
    assert "alertmanager: service from service, job; severity from severity" in out
    assert "otlp: queue app.queue.depth by queue.name" in out
