"""Chat: a Slack incoming-webhook message (``text`` plus one section and one context block)."""

from __future__ import annotations

from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound, with_missed
from handlers.receivers.http import WebhookPoster

__all__ = ["ChatReceiver", "chat_body"]


def chat_body(action: Outbound) -> dict[str, Any]:
    p = action.payload
    text = with_missed(str(p.get("text", "")), p)
    context = f"incident `{action.incident_id}` · {p.get('service')} · {p.get('severity')}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


class ChatReceiver:
    def __init__(self, poster: WebhookPoster) -> None:
        self.name = "chat"
        self._poster = poster

    async def send(self, action: Outbound) -> SendResult:
        return await self._poster.post(chat_body(action), action.key)
