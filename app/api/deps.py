"""What the HTTP API needs, as ports: the lead's composition root fills ``ApiDeps``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.api.auth import Authenticator
from app.api.metrics import Exposition
from app.drills.control import DrillControl
from app.reviews.control import ReviewControl
from handlers.holds import Automation, GlobalHold, Window
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import HumanAction
from handlers.readiness.checklist import Attestation, Readiness
from handlers.silences import Silence
from schemas.clock import Clock
from schemas.maintenance import MaintenanceWindow
from streams.ingest.stats import IngestStats
from streams.ingest.writer import Headers, Record
from streams.policy.sources import AlertmanagerPolicy, OtlpPolicy

__all__ = [
    "ApiDeps",
    "Commands",
    "Holds",
    "Intake",
    "Queries",
    "ReadinessGate",
    "Silences",
    "Writer",
]


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

    async def release(self, incident_id: str, by: str, note: str | None) -> Incident: ...


class Holds(Protocol):
    """Maintenance windows and global holds (``app.storage.holds.PgHoldStore``)."""

    async def automation(self, now: float) -> Automation: ...

    async def windows(self, include_ended: bool = False) -> list[Window]: ...

    async def window(self, window_id: str) -> Window | None: ...

    async def create_window(self, spec: MaintenanceWindow, by: str, now: float) -> Window: ...

    async def update_window(
        self, window_id: str, spec: MaintenanceWindow, now: float
    ) -> Window | None: ...

    async def end_window(self, window_id: str, by: str, now: float) -> Window | None: ...

    async def holds(self, include_lifted: bool = False) -> list[GlobalHold]: ...

    async def hold(self, hold_id: str) -> GlobalHold | None: ...

    async def create_hold(self, reason: str, by: str, now: float) -> GlobalHold: ...

    async def lift_hold(self, hold_id: str, by: str, now: float) -> GlobalHold | None: ...


class ReadinessGate(Protocol):
    """The readiness gate (``app.readiness.ReadinessService``)."""

    async def check(self, service: str, version: str | None, actor: str) -> Readiness: ...

    async def attest(self, service: str, item: str, actor: str, note: str) -> Attestation: ...


class Silences(Protocol):
    def new_id(self) -> str: ...

    async def create(self, silence: Silence, now: float) -> Silence: ...

    async def get(self, silence_id: str) -> Silence | None: ...

    async def list(self, now: float, include_expired: bool = False) -> list[Silence]: ...

    async def update(self, silence: Silence, now: float) -> Silence | None: ...

    async def expire(
        self, silence_id: str, now: float, by: str | None = None
    ) -> Silence | None: ...


class Writer(Protocol):
    """Writes records to a topic, acknowledged (acks=all) before it returns; raises
    ``streams.ingest.writer.IngestBusy`` when Kafka cannot take them now."""

    async def write(
        self, topic: str, records: Sequence[Record], headers: Headers | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Intake:
    """What the ingest routes (``/v1/…``) need: where to write, and how to read other tools."""

    writer: Writer
    telemetry_topic: str
    decisions_topic: str
    max_body_bytes: int
    otlp: OtlpPolicy = field(default_factory=OtlpPolicy)
    alertmanager: AlertmanagerPolicy = field(default_factory=AlertmanagerPolicy)
    stats: IngestStats = field(default_factory=IngestStats)


@dataclass(frozen=True)
class ApiDeps:
    queries: Queries
    commands: Commands
    silences: Silences
    clock: Clock
    health: Callable[[], dict[str, dict[str, Any]]] = dict
    auth: Authenticator | None = None  # None: nobody gets in (every route answers 401)
    exposition: Exposition | None = None  # None: the roles' health reports only
    holds: Holds | None = None  # None: no windows or holds (every incident runs free)
    max_body_bytes: int = 1 << 20  # a larger request body is refused with 413
    readiness: ReadinessGate | None = None  # None: the readiness gate is not served here
    intake: Intake | None = None  # None: the ingest routes answer 404
    drills: DrillControl | None = None  # None: this process serves no drills
    reviews: ReviewControl | None = None  # None: nor post-incident reviews
    max_silence_s: float = 90 * 86400.0  # a longer silence is refused with 422
