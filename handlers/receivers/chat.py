"""Chat: a Slack incoming-webhook message in Block Kit, within Slack's limits.

A long text is split over sections and cut to Slack's 50 blocks with a note saying how much
was cut, so a message is never refused for its size; text is escaped for mrkdwn. Which webhook
(which channel) is the incident's route's (``handlers.receivers.routing``); a route whose chat
has no URL goes to the console. The message's shape and limits: docs/response.md, "Slack
incoming webhooks".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound, Receiver, with_missed
from handlers.receivers.http import WebhookPoster
from handlers.receivers.routing import ConsoleLinks, Destinations
from schemas.severity import Severity

__all__ = [
    "BLOCKS_MAX",
    "HEADER_MAX",
    "SECTION_MAX",
    "TEXT_MAX",
    "ChatReceiver",
    "chat_body",
    "mrkdwn",
]

SECTION_MAX = 3000  # characters of a section block's text
BLOCKS_MAX = 50  # blocks of one message
HEADER_MAX = 150  # characters of a header block's plain text
TEXT_MAX = 3000  # the fallback text is kept as short as a section
BUTTON_TEXT_MAX = 75
_FIXED = 3  # header, context, actions: the blocks that are not sections


def mrkdwn(text: str) -> str:
    """``text`` escaped for Slack's mrkdwn (its three control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, split at a line end when one is
    in the second half of the piece (never inside an ``&amp;``-style escape)."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", limit // 2, limit)
        if cut < 0:
            cut = limit
            amp = text.rfind("&", cut - 5, cut)
            if amp >= 0 and ";" not in text[amp:cut]:
                cut = amp
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text else pieces


def _sections(text: str, room: int) -> list[dict[str, Any]]:
    pieces = _chunks(mrkdwn(text), SECTION_MAX) or [" "]
    if len(pieces) > room:
        dropped = sum(len(p) for p in pieces[room - 1 :])
        note = f"\n… ({dropped} more characters cut: see the incident)"
        pieces = [*pieces[: room - 1], _cut(pieces[room - 1], SECTION_MAX - len(note)) + note]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in pieces]


def chat_body(action: Outbound, links: ConsoleLinks | None = None) -> dict[str, Any]:
    p = action.payload
    own = str(p.get("text", ""))
    text = with_missed(own, p)  # what failed before rides in the sections, after its own
    url = (links or ConsoleLinks()).incident(action.incident_id)
    title = f"{p.get('severity') or ''} {p.get('service') or ''}: {p.get('title') or own}"
    incident = f"<{url}|{action.incident_id}>" if url else f"`{action.incident_id}`"
    context = f"incident {incident} · {mrkdwn(str(p.get('service')))} · {p.get('severity')}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title.strip(), HEADER_MAX)}},
        *_sections(text, BLOCKS_MAX - _FIXED),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, SECTION_MAX)}]},
    ]
    if url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut("Open the incident", BUTTON_TEXT_MAX)},
            "url": url,
        }
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": _cut(text, TEXT_MAX) or title, "blocks": blocks}


class ChatReceiver:
    """Posts to the webhook of the incident's route; a route whose chat has no webhook goes to
    ``fallback`` (the console)."""

    def __init__(
        self,
        posters: Mapping[str, WebhookPoster],
        fallback: Receiver,
        destinations: Destinations | None = None,
        links: ConsoleLinks | None = None,
    ) -> None:
        self.name = "chat"
        self._posters = posters
        self._fallback = fallback
        self._destinations = destinations or Destinations()
        self._links = links or ConsoleLinks()

    async def send(self, action: Outbound) -> SendResult:
        p = action.payload
        try:
            severity = Severity(str(p.get("severity")))
        except ValueError:
            severity = Severity.HIGH
        route = self._destinations.routes.route_for(str(p.get("service")), severity)
        poster = self._posters.get(route.chat)
        if poster is None:
            return await self._fallback.send(action)
        return await poster.post(chat_body(action, self._links), action.key)
