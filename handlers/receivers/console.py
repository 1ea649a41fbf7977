"""Console receiver: with no URL configured, print what would be sent — one line per effect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound, with_missed

__all__ = ["ConsoleReceiver", "describe"]


def _page(p: Mapping[str, Any]) -> str:
    to = f" → {p['contact']}" if p.get("contact") else ""
    return f"{p.get('event')} {p.get('severity')}{to}: {p.get('summary')}"


def _control(p: Mapping[str, Any]) -> str:
    # A drill's notices say "[DRILL]" in their text; its control calls name the drill here.
    shown = ("action", "target", "bot", "from_version", "to_version", "capacity", "backup", "drill")
    return " ".join(f"{k}={p[k]}" for k in shown if p.get(k) is not None)


_LINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "page": _page,
    "chat": lambda p: with_missed(str(p.get("text")), p),
    "status_page": lambda p: with_missed(
        f"{p.get('status')} ({p.get('impact')}): {p.get('body')}", p
    ),
    "pager_fallback": lambda p: with_missed(f"{p.get('event')}: {p.get('text')}", p),
}


def describe(action: Outbound) -> str:
    line = _LINES.get(action.kind, _control)(action.payload)
    return f"[{action.kind}] {action.payload.get('service', '')} {line}  (key {action.key})"


class ConsoleReceiver:
    def __init__(self, name: str, write: Callable[[str], None] = print) -> None:
        self.name = name
        self._write = write

    async def send(self, action: Outbound) -> SendResult:
        self._write(describe(action))
        return SendResult.success()
