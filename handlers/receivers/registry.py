"""Which receiver serves which action kind: the configured HTTP one, or the console.

Each kind's receiver and URL are its row of ``handlers.actions.ACTIONS``; ``urls`` maps a URL's
name there (``pager``, ``restore`` …) to its value, and a URL that is missing or None means
"print to the console instead".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from handlers.actions import ACTIONS, HttpReceiver
from handlers.config import DeliveryConfig
from handlers.receivers.base import Receiver
from handlers.receivers.console import ConsoleReceiver
from handlers.receivers.http import WebhookPoster
from schemas.clock import Clock
from schemas.incidents import ActionKind

__all__ = ["ReceiverUrls", "build_receivers"]

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
) -> Mapping[ActionKind, Receiver]:
    found: dict[ActionKind, Receiver] = {}
    for kind, spec in ACTIONS.items():
        url = urls.get(spec.url)
        if url is None:
            found[kind] = ConsoleReceiver(kind, write)
            continue
        poster = WebhookPoster(
            kind, client, url, clock=clock, timeout_s=cfg.timeout_s, secret=secret
        )
        found[kind] = spec.receiver(HttpReceiver(kind, poster, routing_key))
    return found
