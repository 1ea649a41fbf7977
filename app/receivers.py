"""The receivers' setup from the settings and the policy's routes, checked at start.

A pager URL with no routing key is refused here, at start, not by PagerDuty at the first page
(a 400 that would be recorded and never retried): the default route's key
(``ALERTPIPE_PAGER_ROUTING_KEY``) and every key a route names (``ALERTPIPE_PAGER_ROUTING_KEYS``)
must be there, each 32 characters as PagerDuty's integration keys are. So must every chat
webhook a route names, once chat is configured at all, and Statuspage's API key with its URL.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from app.errors import ConfigError
from app.settings import Settings
from handlers.actions import ReceiverSetup, receiver_urls
from handlers.receivers.refs import MemoryRefs, ReceiverRefs
from handlers.receivers.routing import ConsoleLinks, Destinations
from streams.policy import Policy
from streams.policy.routes import DEFAULT

__all__ = ["ROUTING_KEY_LENGTH", "check_receivers", "receiver_setup", "routing_keys"]

ROUTING_KEY_LENGTH = 32  # a PagerDuty Events v2 integration key


def _plain(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def routing_keys(settings: Settings) -> dict[str, str]:
    keys = {name: key.get_secret_value() for name, key in settings.pager_routing_keys.items()}
    default = _plain(settings.pager_routing_key)
    return {DEFAULT: default, **keys} if default else keys


def _chat_urls(settings: Settings) -> dict[str, str]:
    return {name: url.get_secret_value() for name, url in settings.chat_urls.items()}


def _missing(named: set[str], have: Mapping[str, str]) -> list[str]:
    return sorted(name for name in named if not have.get(name))


def check_receivers(settings: Settings, policy: Policy) -> None:
    """``ConfigError`` naming every setting the configured receivers lack."""
    problems: list[str] = []
    urls = receiver_urls(settings)
    if urls["pager"] is not None:
        keys = routing_keys(settings)
        for name in _missing(policy.routes.pager_names(), keys):
            setting = (
                "ALERTPIPE_PAGER_ROUTING_KEY"
                if name == DEFAULT
                else f"ALERTPIPE_PAGER_ROUTING_KEYS[{name!r}]"
            )
            problems.append(f"{setting}: the pager URL is set, so the routing key is required")
        for name, key in keys.items():
            if len(key) != ROUTING_KEY_LENGTH or not key.isalnum():
                problems.append(
                    f"routing key {name!r}: expected {ROUTING_KEY_LENGTH} letters and digits "
                    f"(a PagerDuty integration key), got {len(key)} characters"
                )
    chat = {**_chat_urls(settings), **({DEFAULT: x} if (x := urls["chat"]) else {})}
    if chat:
        for name in _missing(policy.routes.chat_names(), chat):
            setting = "ALERTPIPE_CHAT_URL" if name == DEFAULT else f"ALERTPIPE_CHAT_URLS[{name!r}]"
            problems.append(f"{setting}: a route sends chat there, and it is not set")
    drill_key = settings.drill.pager_routing_key
    if drill_key is not None:
        key = drill_key.get_secret_value()
        if len(key) != ROUTING_KEY_LENGTH or not key.isalnum():
            problems.append(
                f"ALERTPIPE_DRILL__PAGER_ROUTING_KEY: expected {ROUTING_KEY_LENGTH} letters and "
                f"digits (a PagerDuty integration key), got {len(key)} characters"
            )
    if urls["statuspage"] is not None and settings.statuspage_api_key is None:
        problems.append(
            "ALERTPIPE_STATUSPAGE_API_KEY: the Statuspage URL is set, so its API key is required"
        )
    if problems:
        raise ConfigError("; ".join(problems))


def receiver_setup(
    settings: Settings, policy: Policy | None, refs: ReceiverRefs | None = None
) -> ReceiverSetup:
    api_key = _plain(settings.statuspage_api_key)
    headers = {"statuspage": {"Authorization": f"OAuth {api_key}"}} if api_key else {}
    routes = policy.routes if policy is not None else None
    return ReceiverSetup(
        destinations=Destinations(routing_keys=routing_keys(settings))
        if routes is None
        else Destinations(routes, routing_keys(settings)),
        links=ConsoleLinks(settings.public_url),
        named_urls={"chat": _chat_urls(settings)},
        headers=headers,
        refs=refs if refs is not None else MemoryRefs(),
        statuspage_components=dict(settings.statuspage_components),
    )
