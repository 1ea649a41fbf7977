"""Silence matching and inhibition, each answer naming the silence or the inhibiting incident."""

from __future__ import annotations

import re

import pytest

from handlers.silences import Inhibitor, Matcher, Silence, inhibited_by, silenced_by
from schemas.severity import Severity

LABELS = {
    "service": "chat-api",
    "severity": "HIGH",
    "rule": "p95_latency",
    "endpoint": "POST /api/search",
}


@pytest.mark.parametrize(
    ("matcher", "hit"),
    [
        (Matcher("service", "chat-api"), True),
        (Matcher("service", "bot-runner"), False),
        (Matcher("service", "bot-runner", "!="), True),
        (Matcher("endpoint", "POST /api/.*", "=~"), True),
        (Matcher("endpoint", "GET .*", "=~"), False),
        (Matcher("rule", "p95.*", "!~"), False),
        (Matcher("missing", ""), True),
    ],
)
def test_matchers(matcher: Matcher, hit: bool) -> None:
    assert matcher.matches(LABELS) is hit


def test_a_bad_regex_is_refused_at_creation() -> None:
    with pytest.raises(re.error):
        Matcher("rule", "(", "=~")


def test_silence_mutes_only_while_active_and_when_every_matcher_matches() -> None:
    s = Silence(
        "sil_1", (Matcher("service", "chat-api"), Matcher("severity", "HIGH")), 100, 200, "ana"
    )
    assert [s.state(t) for t in (99, 100, 199, 200)] == ["pending", "active", "active", "expired"]
    assert silenced_by([s], LABELS, 150) is s
    assert silenced_by([s], LABELS, 250) is None
    assert silenced_by([s], {**LABELS, "severity": "CRITICAL"}, 150) is None


def test_a_critical_incident_inhibits_lower_notices_of_its_service_only() -> None:
    critical = Inhibitor("inc_9", "chat-api", Severity.CRITICAL)
    high = Inhibitor("inc_8", "chat-api", Severity.HIGH)
    assert inhibited_by([high, critical], "chat-api", Severity.HIGH, "inc_1") is critical
    assert inhibited_by([critical], "chat-api", Severity.CRITICAL, "inc_1") is None
    assert inhibited_by([critical], "bot-runner", Severity.LOW, "inc_1") is None
    assert inhibited_by([high], "chat-api", Severity.LOW, "inc_1") is None
