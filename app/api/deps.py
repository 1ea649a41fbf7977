"""What the HTTP API needs, as ports: the lead's composition root fills ``ApiDeps``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.api.auth import Authenticator
from app.api.metrics import Exposition
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import HumanAction
from handlers.silences import Silence
from schemas.clock import Clock

__all__ = ["ApiDeps", "Commands", "Queries", "Silences"]


class Queries(Protocol):
    async def list_incidents(
        self, status: str | None = None, service: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None: ...

    async def list_slo_budgets(
        self, slo: str | None = None, service: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...


class Commands(Protocol):
    async def acknowledge(self, incident_id: str, by: str, note: str | None) -> Incident: ...

    async def resolve(self, incident_id: str, by: str, note: str | None) -> Incident: ...

    async def decide(
        self, incident_id: str, action: HumanAction, by: str, note: str | None
    ) -> Incident: ...


class Silences(Protocol):
    def new_id(self) -> str: ...

    async def create(self, silence: Silence, now: float) -> Silence: ...

    async def get(self, silence_id: str) -> Silence | None: ...

    async def list(self, now: float, include_expired: bool = False) -> list[Silence]: ...

    async def update(self, silence: Silence, now: float) -> Silence | None: ...

    async def expire(
        self, silence_id: str, now: float, by: str | None = None
    ) -> Silence | None: ...


@dataclass(frozen=True)
class ApiDeps:
    queries: Queries
    commands: Commands
    silences: Silences
    clock: Clock
    health: Callable[[], dict[str, dict[str, Any]]] = dict
    auth: Authenticator | None = None  # None: nobody gets in (every route answers 401)
    exposition: Exposition | None = None  # None: the roles' health reports only
