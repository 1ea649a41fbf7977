"""Which receiver serves which action kind: the configured HTTP one, or the console.

Each kind's receiver and URL are its row of ``handlers.actions.ACTIONS``; ``urls`` maps a URL's
name there (``pager``, ``restore`` …) to its value, and a URL that is missing or None means
"print to the console instead". ``setup`` adds what the receivers need besides (the policy's
routes and the secrets they name, the console links, more named URLs, headers, the store of
Statuspage ids).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from handlers.actions import ACTIONS, HttpReceiver, ReceiverSetup
from handlers.config import DeliveryConfig
from handlers.receivers.base import Receiver
from handlers.receivers.console import ConsoleReceiver
from handlers.receivers.drill import DrillReceivers
from handlers.receivers.http import WebhookPoster
from handlers.receivers.routing import Destinations
from schemas.clock import Clock
from schemas.incidents import ActionKind

__all__ = ["ReceiverUrls", "build_drill_receivers", "build_receivers"]

# Plain (secret) URLs by their name in ``ACTIONS``; missing or None: the console receiver.
ReceiverUrls = Mapping[str, str | None]


def build_receivers(
    urls: ReceiverUrls,
    client: httpx.AsyncClient,
    cfg: DeliveryConfig,
    clock: Clock,
    *,
    secret: str | None = None,
    routing_key: str | None = None,
    write: Callable[[str], None] = print,
    setup: ReceiverSetup | None = None,
) -> Mapping[ActionKind, Receiver]:
    """``routing_key`` (the default route's) is a shorthand for a ``setup`` whose destinations
    hold it under ``default``."""
    if setup is None:
        keys = {"default": routing_key} if routing_key else {}
        setup = ReceiverSetup(destinations=Destinations(routing_keys=keys))
    found: dict[ActionKind, Receiver] = {}
    for kind, spec in ACTIONS.items():
        console = ConsoleReceiver(kind, write)
        named = {"default": urls.get(spec.url), **setup.named_urls.get(spec.url, {})}
        posters = {
            name: WebhookPoster(
                kind,
                client,
                url,
                clock=clock,
                timeout_s=cfg.timeout_s,
                secret=secret,
                headers=setup.headers.get(spec.url),
            )
            for name, url in named.items()
            if url
        }
        if not posters:
            found[kind] = console
            continue
        first = posters.get("default") or next(iter(posters.values()))
        found[kind] = spec.receiver(HttpReceiver(kind, first, posters, setup, clock, console))
    return found


def build_drill_receivers(
    urls: ReceiverUrls,
    drill_urls: ReceiverUrls,
    client: httpx.AsyncClient,
    cfg: DeliveryConfig,
    clock: Clock,
    *,
    secret: str | None = None,
    drill_routing_key: str | None = None,
    write: Callable[[str], None] = print,
) -> DrillReceivers:
    """A drill's receivers (``handlers.receivers.drill``): chat as configured; pages to the
    pager with the drill routing key, or the console without one; the status page never
    (the console); control calls to ``drill_urls`` (by URL name, e.g. ``rollback``), or the
    console. ``live``: production's receivers, for a drill an operator started ``--live``."""
    production = build_receivers(urls, client, cfg, clock, secret=secret, write=write)
    routed: dict[ActionKind, Receiver] = {}
    for kind, spec in ACTIONS.items():
        if kind == "chat":
            routed[kind] = production[kind]
        elif kind == "page" and drill_routing_key is not None:
            paged = build_receivers(
                {spec.url: urls.get(spec.url)}, client, cfg, clock,
                secret=secret, routing_key=drill_routing_key, write=write,
            )  # fmt: skip
            routed[kind] = paged[kind]
        elif spec.notification:
            routed[kind] = ConsoleReceiver(kind, write)
        else:
            only = {spec.url: drill_urls.get(spec.url)}
            routed[kind] = build_receivers(only, client, cfg, clock, secret=secret, write=write)[
                kind
            ]
    return DrillReceivers(routed, production)
