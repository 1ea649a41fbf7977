"""The demo's fleet control plane: the other end of alertpipe's control webhooks.

In production the breaker, rollback, restore and bot-restart receivers are your deploy
tooling. In the demo this small HTTP app stands in for them: it honours the
``Idempotency-Key`` contract (a key it has seen is acknowledged and not acted on again) and
records each remedy in ``Remedies``, which the live scenario generator reads, so the
simulated services really recover once alertpipe rolls them back, restores their data or
restarts their bots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Header, Request

from app.simulation.scenarios import BOTS, OLD_VERSION, Remedies
from schemas.clock import Clock

__all__ = ["Fleet", "fleet_app"]

_ALL = "*"


class Fleet:
    """Applies control calls to ``remedies``; one line per call through ``write``."""

    def __init__(self, remedies: Remedies, clock: Clock, write: Callable[[str], None]) -> None:
        self.remedies = remedies
        self.clock = clock
        self.write = write
        self.seen: set[str] = set()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle(self, kind: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        if key is not None and key in self.seen:
            return {"ok": True, "duplicate": True}
        if key is not None:
            self.seen.add(key)
        self.calls.append((kind, body))
        self.write(f"[fleet] {self._apply(kind, body)}")
        return {"ok": True}

    def _apply(self, kind: str, body: dict[str, Any]) -> str:
        service, action, now = str(body.get("service", "?")), body.get("action"), self.clock.now()
        if kind == "rollback":
            self.remedies.rolled_back[service] = now
            version = body.get("to_version") or OLD_VERSION.get(service)
            return f"{service}: deployed {version} (was {body.get('from_version')}); errors stop"
        if kind == "restore":
            self.remedies.restored[service] = now
            what = f"{body['dataset']} " if body.get("dataset") else ""
            return (
                f"{service}: restored {what}from backup {body.get('backup')}; integrity checks pass"
            )
        if kind == "integrity_check":
            return f"{service}: integrity re-checked: ok"
        if kind == "bot_restart" and action in ("restart", "start"):
            bot = str(body.get("bot") or _ALL)
            for one in BOTS if bot == _ALL else (bot,):
                self.remedies.restarted_bots[one] = now
            return f"{service}: bots {action}ed ({bot})"
        target = body.get("target") or body.get("bot") or service
        capacity = body.get("capacity")
        at = f" at {capacity:.0%} capacity" if isinstance(capacity, int | float) else ""
        return f"{service}: {kind} {action} ({target}){at}"


def fleet_app(fleet: Fleet) -> FastAPI:
    app = FastAPI(title="alertpipe demo fleet")

    @app.post("/{receiver}")
    async def control(
        receiver: str, request: Request, idempotency_key: str | None = Header(default=None)
    ) -> dict[str, Any]:
        body = await request.json()
        body = body if isinstance(body, dict) else {}
        return fleet.handle(str(body.get("kind", receiver)), body, idempotency_key)

    return app
