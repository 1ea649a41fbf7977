"""Every kind of action in one table: its receiver, its URL setting, its outbox lane, and
whether it is a notification.

``ACTIONS`` has one row per ``schemas.incidents.ActionKind`` (checked when this module is
imported). The rest of alertpipe reads it: the receiver registry builds each kind's receiver,
``app.settings`` has one ``ALERTPIPE_<URL>_URL`` setting per URL named here, the outbox
dispatcher runs one loop per lane, and the notification stages (silences, inhibitions, stale
notices) act on the notification kinds only. A notification never gates a rollback phase;
every other kind is a control call, in the control lane, so a backlog of pages or chat
messages never holds up a rollback. docs/extending.md: adding a receiver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from pydantic import SecretStr

from handlers.receivers.base import Receiver
from handlers.receivers.chat import ChatReceiver
from handlers.receivers.http import WebhookPoster
from handlers.receivers.pager import PagerReceiver
from handlers.receivers.refs import MemoryRefs, ReceiverRefs
from handlers.receivers.routing import ConsoleLinks, Destinations
from handlers.receivers.statuspage import StatusPageReceiver
from handlers.receivers.webhook import ControlReceiver
from schemas.clock import Clock
from schemas.incidents import ActionKind

__all__ = [
    "ACTIONS",
    "CARRIED_KINDS",
    "LANES",
    "NOTIFICATION_KINDS",
    "URL_SETTINGS",
    "ActionSpec",
    "HttpReceiver",
    "Lane",
    "ReceiverSetup",
    "receiver_urls",
]

Lane = Literal["control", "page", "updates"]


@dataclass(frozen=True)
class ReceiverSetup:
    """What receivers are built from besides their URLs (all optional: a bare setup routes
    every incident to the ``default`` secrets and links nowhere)."""

    destinations: Destinations = field(default_factory=Destinations)
    links: ConsoleLinks = field(default_factory=ConsoleLinks)
    # More URLs of a URL setting, by the name a route gives them (``{"chat": {"team": url}}``).
    named_urls: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Headers a URL setting's calls carry (Statuspage's ``Authorization: OAuth <key>``).
    headers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    refs: ReceiverRefs = field(default_factory=MemoryRefs)
    statuspage_components: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpReceiver:
    """What a receiver is built from when its URL (or a named one) is configured."""

    kind: ActionKind
    poster: WebhookPoster  # the URL setting's own, else the first named one
    posters: Mapping[str, WebhookPoster]  # by name: ``default`` is the URL setting's own
    setup: ReceiverSetup
    clock: Clock
    console: Receiver  # where a route whose name has no URL is printed instead


def _control(r: HttpReceiver) -> Receiver:
    return ControlReceiver(r.kind, r.poster)


@dataclass(frozen=True)
class ActionSpec:
    """One kind of action's row."""

    receiver: Callable[[HttpReceiver], Receiver]
    """Builds the kind's receiver (with no URL configured, the console prints instead)."""
    url: str
    """Its URL setting is ``ALERTPIPE_<URL>_URL``; kinds served by one service share it."""
    lane: Lane
    """The outbox loop that claims it."""
    notification: bool
    """Silences and inhibitions apply; a rollback phase never waits for it."""
    about: str = ""
    """What the URL points at (said once per URL, by its first kind)."""
    until_delivered: bool = False
    """Retried (capped backoff, ``Retry-After``) until delivered or its incident ends, never
    given up after ``delivery.max_attempts``. A notification kind without it that fails for
    good is carried into the next notice of its channel (``CARRIED_KINDS``)."""


ACTIONS: Mapping[ActionKind, ActionSpec] = {
    "page": ActionSpec(
        lambda r: PagerReceiver(r.poster, r.setup.destinations, r.setup.links, r.clock),
        url="pager",
        lane="page",
        notification=True,
        about="PagerDuty Events v2 endpoint (`https://events.pagerduty.com/v2/enqueue`)",
        until_delivered=True,  # on-call must hear of an open incident, however late
    ),
    "chat": ActionSpec(
        lambda r: ChatReceiver(r.posters, r.console, r.setup.destinations, r.setup.links),
        url="chat",
        lane="updates",
        notification=True,
        about="Slack incoming webhook of the policy's default route",
    ),
    "status_page": ActionSpec(
        lambda r: StatusPageReceiver(r.poster, r.setup.refs, r.setup.statuspage_components),
        url="statuspage",
        lane="updates",
        notification=True,
        about="Statuspage page API (`https://api.statuspage.io/v1/pages/<page_id>`)",
    ),
    "breaker": ActionSpec(
        _control,
        url="breaker",
        lane="control",
        notification=False,
        about="circuit breaker webhook",
    ),
    "rollback": ActionSpec(
        _control,
        url="rollback",
        lane="control",
        notification=False,
        about="deploy tooling: revert to a version",
    ),
    "restore": ActionSpec(
        _control,
        url="restore",
        lane="control",
        notification=False,
        about="data restore and integrity re-check",
    ),
    "bot_restart": ActionSpec(
        _control,
        url="bot_restart",
        lane="control",
        notification=False,
        about="bot restart / stop / resume",
    ),
    # The service that restored the data is the one that checks it: restore's URL.
    "integrity_check": ActionSpec(_control, url="restore", lane="control", notification=False),
    # Where alertpipe says that the pager has been failing (plain JSON, like the control calls).
    "pager_fallback": ActionSpec(
        _control,
        url="pager_fallback",
        lane="updates",
        notification=True,
        about="where alertpipe says the pager has been failing: any JSON webhook (a second "
        "pager, an SMS gateway); unset: the console",
    ),
}


def _check_table() -> None:
    """At import: one row per kind, in ``ActionKind``'s order."""
    kinds = get_args(ActionKind)
    if tuple(ACTIONS) != kinds:
        raise TypeError(f"ACTIONS has rows {tuple(ACTIONS)}, expected one per ActionKind: {kinds}")


_check_table()

NOTIFICATION_KINDS: frozenset[ActionKind] = frozenset(
    kind for kind, spec in ACTIONS.items() if spec.notification
)

# Notifications that may fail for good: what could not be delivered rides along with the next
# notice of the same channel (``handlers.notify.stages.CarryStage``) instead of being lost.
CARRIED_KINDS: frozenset[ActionKind] = frozenset(
    kind for kind, spec in ACTIONS.items() if spec.notification and not spec.until_delivered
)

# Every kind in exactly one lane: a lane waits for its own batch only, so a receiver that hangs
# until its timeout holds up its own lane and never a rollback's control calls or a page.
LANES: Mapping[Lane, frozenset[ActionKind]] = {
    lane: frozenset(kind for kind, spec in ACTIONS.items() if spec.lane == lane)
    for lane in get_args(Lane)
}


def _url_settings() -> dict[str, str]:
    found: dict[str, str] = {}
    for spec in ACTIONS.values():
        found.setdefault(f"{spec.url}_url", spec.about)
    unsaid = [name for name, about in found.items() if not about]
    if unsaid:  # it becomes the setting's description
        raise TypeError(f"ACTIONS: the first kind of {', '.join(unsaid)} needs an `about`")
    return found


# The URL settings (``app.settings`` field → what it points at), in the table's order.
URL_SETTINGS: Mapping[str, str] = _url_settings()


def receiver_urls(settings: object) -> dict[str, str | None]:
    """Each URL's plain value by its name in the table (``pager`` …), None where unset, read
    from ``settings``' URL settings (``SecretStr`` or None, as ``app.settings`` holds them)."""
    found: dict[str, str | None] = {}
    for setting in URL_SETTINGS:
        value = getattr(settings, setting)
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        found[setting.removesuffix("_url")] = plain
    return found
