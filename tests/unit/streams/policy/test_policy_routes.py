"""Per-team routes in the policy: the first team route that takes a service (and severity)
wins, else the default; routes name secrets, never hold them; mistakes name route and field."""

from __future__ import annotations

import pytest

from schemas.severity import Severity
from streams.policy import PolicyInvalid, load_policy, parse_policy

RULES = """
rules:
  - {name: r, metric: error_rate, comparison: ">", threshold: 1%, min_samples: 1, for: 0s,
     keep_firing_for: 0s, window: 1m, severity: LOW, response: record}
"""

ROUTES = (
    RULES
    + """
routes:
  default: {pager: platform, chat: ops}
  teams:
    - name: chat-team
      match: {service: ["chat-*", "re:bot-(runner|api)"]}
      severity: [critical, HIGH]
      pager: {on_call: chat-oncall, team_lead: chat-leads, final_contact: dave}
      chat: chat-room
    - name: search
      match: {service: search-api}
      pager: search-oncall
"""
)


def test_the_first_route_that_takes_the_service_and_severity_wins_else_the_default() -> None:
    routes = parse_policy(ROUTES).routes
    chat = routes.route_for("chat-api", Severity.CRITICAL)
    assert (chat.name, chat.chat) == ("chat-team", "chat-room")
    assert [
        chat.pager_name(t) for t in ("on_call", "lead_engineer", "team_lead", "final_contact")
    ] == [
        "chat-oncall",
        "chat-oncall",  # a tier not named takes on_call's
        "chat-leads",
        "dave",
    ]
    assert routes.route_for("bot-runner", Severity.HIGH).name == "chat-team"
    assert routes.route_for("chat-api", Severity.MEDIUM).name == "default"  # severity not taken
    search = routes.route_for("search-api", Severity.LOW)
    assert (search.name, search.pager_name("team_lead"), search.chat) == (
        "search",
        "search-oncall",
        "default",
    )
    default = routes.route_for("billing", Severity.CRITICAL)
    assert (default.name, default.pager_name("final_contact"), default.chat) == (
        "default",
        "platform",
        "ops",
    )
    assert routes.pager_names() == {
        "platform",
        "chat-oncall",
        "chat-leads",
        "dave",
        "search-oncall",
    }
    assert routes.chat_names() == {"ops", "chat-room", "default"}


def test_the_built_in_plan_sends_everything_to_the_default_secrets() -> None:
    route = load_policy(None).routes.route_for("chat-api", Severity.CRITICAL)
    assert (route.name, route.pager_name("team_lead"), route.chat) == (
        "default",
        "default",
        "default",
    )


@pytest.mark.parametrize(
    ("teams", "field", "says"),
    [
        (
            "- {name: a, match: {host: web-1}}",
            "routes.teams.0.match.host",
            "expected match keys among service",
        ),
        (
            "- {name: a, match: {service: 're:('}}",
            "routes.teams.0.match.service",
            "valid regular expression",
        ),
        ("- {name: default}", "routes.teams.0.name", "'default' is the default route's name"),
        ("- {name: a}\n    - {name: a}", "routes.teams.1.name", "expected a unique name; route #1"),
        ("- {name: a, severity: [urgent]}", "routes.teams.0.severity.0", "expected one of"),
        (
            "- {name: a, pager: {night_shift: x}}",
            "routes.teams.0.pager.night_shift",
            "unknown field",
        ),
        ("- {name: 'a b'}", "routes.teams.0.name", "pattern"),
    ],
)
def test_policy_check_names_the_route_field_and_what_was_expected(
    teams: str, field: str, says: str
) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(RULES + "routes:\n  teams:\n    " + teams, "team.yaml")
    problems = [p for p in caught.value.problems if p.field == field]
    assert problems and says in problems[0].message, caught.value.report()
    assert str(problems[0]).startswith(f"team.yaml: field {field}: ")
