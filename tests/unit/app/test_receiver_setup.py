"""A receiver that would be refused at its first call is refused at start instead: a pager URL
needs the routing key of every route (32 characters), chat the webhook of every route once any
is set, Statuspage its API key. The setup resolves route names to the settings' secrets."""

from __future__ import annotations

import pytest

from app.errors import ConfigError
from app.pipeline import build_pipeline
from app.receivers import check_receivers, receiver_setup
from app.settings import Settings
from schemas.severity import Severity
from streams.policy import load_policy, parse_policy

KEY = "a" * 32
TEAMS = """
rules:
  - {name: r, metric: error_rate, comparison: ">", threshold: 1%, min_samples: 1, for: 0s,
     keep_firing_for: 0s, window: 1m, severity: LOW, response: record}
routes:
  teams:
    - {name: chat, match: {service: chat-api}, pager: {on_call: chat-oncall, final_contact: dave}, chat: chat-room}
"""


def test_a_pager_url_without_its_routing_key_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="ALERTPIPE_PAGER_ROUTING_KEY: the pager URL is set"):
        check_receivers(Settings(pager_url="https://events.example.com/v2/enqueue"), load_policy())
    with pytest.raises(ConfigError, match="expected 32 letters and digits"):
        settings = Settings(pager_url="https://e.example.com", pager_routing_key="rk-1")
        check_receivers(settings, load_policy())
    check_receivers(
        Settings(pager_url="https://e.example.com", pager_routing_key=KEY), load_policy()
    )
    check_receivers(Settings(), load_policy())  # no pager: the console, nothing to check


def test_every_name_a_route_gives_must_be_configured() -> None:
    policy = parse_policy(TEAMS)
    settings = Settings(
        pager_url="https://e.example.com",
        pager_routing_key=KEY,
        pager_routing_keys={"chat-oncall": "b" * 32},
        chat_urls={"other": "https://hooks.example.com/x"},
        statuspage_url="https://api.statuspage.io/v1/pages/p1",
    )
    with pytest.raises(ConfigError) as caught:
        check_receivers(settings, policy)
    message = str(caught.value)
    assert "ALERTPIPE_PAGER_ROUTING_KEYS['dave']" in message
    assert "ALERTPIPE_CHAT_URLS['chat-room']" in message and "ALERTPIPE_CHAT_URL:" in message
    assert "ALERTPIPE_STATUSPAGE_API_KEY" in message
    assert "chat-oncall" not in message and KEY not in message  # never a secret in the message


def test_the_setup_resolves_routes_to_secrets_and_links_to_the_console() -> None:
    settings = Settings(
        pager_routing_key=KEY,
        pager_routing_keys={"chat-oncall": "b" * 32, "dave": "c" * 32},
        chat_urls={"chat-room": "https://hooks.example.com/chat"},
        statuspage_api_key="sp-key",
        statuspage_components={"chat-api": "cmp1"},
        public_url="https://alertpipe.example.com/",
    )
    setup = receiver_setup(settings, parse_policy(TEAMS))
    keys = setup.destinations
    assert keys.routing_key("chat-api", Severity.HIGH, "on_call") == ("chat", "b" * 32)
    assert keys.routing_key("chat-api", Severity.HIGH, "final_contact") == ("chat", "c" * 32)
    assert keys.routing_key("chat-api", Severity.HIGH, "team_lead") == ("chat", "b" * 32)
    assert keys.routing_key("billing", Severity.HIGH, "team_lead") == ("default", KEY)
    assert setup.named_urls == {"chat": {"chat-room": "https://hooks.example.com/chat"}}
    assert setup.headers == {"statuspage": {"Authorization": "OAuth sp-key"}}
    assert setup.statuspage_components == {"chat-api": "cmp1"}
    assert setup.links.incident("inc_1") == "https://alertpipe.example.com/#/incidents/inc_1"


async def test_the_composition_root_refuses_before_it_builds_anything() -> None:
    """No database or broker is reached: the check comes first."""
    settings = Settings(
        pager_url="https://events.example.com/v2/enqueue",
        database_url="postgresql://nobody@127.0.0.1:9/none",
        kafka_bootstrap="127.0.0.1:9",
    )
    with pytest.raises(ConfigError, match="ALERTPIPE_PAGER_ROUTING_KEY"):
        await build_pipeline(settings, ("responder",), http=False)
