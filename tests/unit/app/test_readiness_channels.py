"""The readiness gate's communication plan looks at the chat channel of the service's route."""

from __future__ import annotations

from typing import Any

from app.readiness import ReadinessService
from handlers.config import ReadinessConfig
from schemas.clock import SystemClock
from streams.policy import Policy, default_policy_text, parse_policy

ROUTES = """
routes:
  teams:
    - name: payments
      match: {service: ["billing-*"]}
      chat: payments-chat
"""


def _service(policy: Policy, chat_url: str | None, channels: tuple[str, ...]) -> ReadinessService:
    none: Any = None  # the store, panes and drills are not read by this
    receivers = {"pager": "https://events.pagerduty.com/v2/enqueue", "chat": chat_url}
    return ReadinessService(
        none, none, none, policy, receivers, ReadinessConfig(), SystemClock(), channels
    )


def test_a_team_service_is_told_on_its_routes_channel_and_others_on_the_default() -> None:
    policy = parse_policy(default_policy_text() + ROUTES)
    only_default = _service(policy, "https://hooks.slack.com/services/T/B/x", ())
    assert only_default._communication("billing-api") == {
        "receivers": {"pager": True, "chat": False},
        "chat_channel": "payments-chat",
    }
    assert only_default._communication("chat-api")["receivers"]["chat"] is True
    only_team = _service(policy, None, ("payments-chat",))
    assert only_team._communication("billing-api")["receivers"]["chat"] is True
    assert only_team._communication("chat-api") == {
        "receivers": {"pager": True, "chat": False},
        "chat_channel": "default",
    }
