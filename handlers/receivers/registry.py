"""Which receiver serves which action kind: the configured HTTP one, or the console.

``integrity_check`` goes to the restore receiver (the service that restored the data is the
one that checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from handlers.config import DeliveryConfig
from handlers.receivers.base import Receiver
from handlers.receivers.chat import ChatReceiver
from handlers.receivers.console import ConsoleReceiver
from handlers.receivers.http import WebhookPoster
from handlers.receivers.pager import PagerReceiver
from handlers.receivers.statuspage import StatusPageReceiver
from handlers.receivers.webhook import ControlReceiver
from schemas.clock import Clock
from schemas.incidents import ActionKind

__all__ = ["ReceiverUrls", "build_receivers"]

_URL_OF: dict[ActionKind, str] = {
    "page": "pager",
    "chat": "chat",
    "status_page": "statuspage",
    "breaker": "breaker",
    "rollback": "rollback",
    "restore": "restore",
    "integrity_check": "restore",
    "bot_restart": "bot_restart",
}


@dataclass(frozen=True)
class ReceiverUrls:
    """Plain (secret) URLs; None means "print to the console instead"."""

    pager: str | None = None
    chat: str | None = None
    statuspage: str | None = None
    breaker: str | None = None
    rollback: str | None = None
    restore: str | None = None
    bot_restart: str | None = None


def _http(kind: ActionKind, poster: WebhookPoster, routing_key: str | None) -> Receiver:
    if kind == "page":
        return PagerReceiver(poster, routing_key)
    if kind == "chat":
        return ChatReceiver(poster)
    if kind == "status_page":
        return StatusPageReceiver(poster)
    return ControlReceiver(kind, poster)


def build_receivers(
    urls: ReceiverUrls,
    client: httpx.AsyncClient,
    cfg: DeliveryConfig,
    clock: Clock,
    *,
    secret: str | None = None,
    routing_key: str | None = None,
    write: Callable[[str], None] = print,
) -> Mapping[ActionKind, Receiver]:
    found: dict[ActionKind, Receiver] = {}
    for kind, field_name in _URL_OF.items():
        url = getattr(urls, field_name)
        if url is None:
            found[kind] = ConsoleReceiver(kind, write)
            continue
        poster = WebhookPoster(
            kind, client, url, clock=clock, timeout_s=cfg.timeout_s, secret=secret
        )
        found[kind] = _http(kind, poster, routing_key)
    return found
