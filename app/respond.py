"""The responder (stages 3–4) assembled from settings: ``python -m app.respond``.

``build_responder(settings)`` returns a ``Responder`` whose ``roles`` run under
``app.lifecycle.run_roles``: the health probe (live panes), the incident manager (decisions →
incidents), the deploy recorder (deploy events → deploy history), the timers, the rollback
orchestrator, the outbox dispatcher and the lifecycle event publisher. Every role can run in
several processes at once; the database arbitrates. ``app.pipeline`` builds it for
``alertpipe run``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from app.api import ApiDeps
from app.lifecycle import Role, run_roles
from app.settings import Settings, get_settings
from app.storage.incidents import PgIncidentStore
from app.storage.notify import PgNotifications
from app.storage.outbox import PgOutboxStore
from app.storage.pool import create_pool
from app.storage.queries import PgIncidentQueries
from app.storage.silences import PgSilenceStore
from handlers.deploys import DeployRecorder
from handlers.events import EventPublisher, KafkaEventSink
from handlers.incidents.commands import IncidentCommands
from handlers.incidents.manager import IncidentManager
from handlers.incidents.source import KafkaDecisionSource
from handlers.outbox.dispatcher import OutboxDispatcher
from handlers.receivers.base import Receiver
from handlers.receivers.registry import ReceiverUrls, build_receivers
from handlers.rollback.health import HealthProbe
from handlers.rollback.kafka_probe import KafkaHealthProbe
from handlers.rollback.orchestrator import RollbackOrchestrator
from handlers.timers import TimerWorker
from schemas.clock import Clock, SystemClock
from schemas.incidents import ActionKind

__all__ = ["ALL_ROLES", "Responder", "build_responder", "main", "receiver_urls"]

# Start order (stop is the reverse): outbound clients first, the event publisher last.
ALL_ROLES = (
    "sink",
    "http",
    "notifications",
    "probe",
    "manager",
    "deploys",
    "timers",
    "orchestrator",
    "dispatcher",
    "events",
)


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def receiver_urls(settings: Settings) -> ReceiverUrls:
    return ReceiverUrls(
        pager=_secret(settings.pager_url),
        chat=_secret(settings.chat_url),
        statuspage=_secret(settings.statuspage_url),
        breaker=_secret(settings.breaker_url),
        rollback=_secret(settings.rollback_url),
        restore=_secret(settings.restore_url),
        bot_restart=_secret(settings.bot_restart_url),
    )


class _Resource:
    """A role around something with start/stop but no loop of its own."""

    def __init__(self, name: str, start: Any, stop: Any) -> None:
        self.name = name
        self._start, self._stop = start, stop
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        await self._start()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        await self._stop()

    def health(self) -> dict[str, Any]:
        return {"ready": not self._stopped.is_set()}


@dataclass
class Responder:
    settings: Settings
    pool: asyncpg.Pool
    clock: Clock
    incidents: PgIncidentStore
    outbox: PgOutboxStore
    silences: PgSilenceStore
    queries: PgIncidentQueries
    commands: IncidentCommands
    roles: list[Role] = field(default_factory=list)

    def api_deps(self) -> ApiDeps:
        return ApiDeps(
            queries=self.queries,
            commands=self.commands,
            silences=self.silences,
            clock=self.clock,
            health=lambda: {role.name: role.health() for role in self.roles},
        )

    async def close(self) -> None:
        await self.pool.close()


async def build_responder(
    settings: Settings,
    *,
    clock: Clock | None = None,
    probe: HealthProbe | None = None,
    write: Callable[[str], None] = print,
    roles: Sequence[str] = ALL_ROLES,
) -> Responder:
    """Every part of stages 3–4, wired from settings (the database must be migrated)."""
    clock = clock or SystemClock()
    pool = await create_pool(settings.dsn)
    incidents, outbox = PgIncidentStore(pool), PgOutboxStore(pool)
    responder = Responder(
        settings,
        pool,
        clock,
        incidents,
        outbox,
        PgSilenceStore(pool),
        PgIncidentQueries(pool),
        IncidentCommands(incidents, settings.response, clock),
    )
    built = _roles(settings, responder, clock, probe, write, roles)
    responder.roles = [built[name] for name in ALL_ROLES if name in built]
    return responder


def _roles(
    settings: Settings,
    r: Responder,
    clock: Clock,
    probe: HealthProbe | None,
    write: Callable[[str], None],
    wanted: Sequence[str],
) -> dict[str, Role]:
    """Build only the roles asked for (each builder runs once, in ``ALL_ROLES`` order)."""
    client = httpx.AsyncClient()
    sink = KafkaEventSink(settings.bootstrap, settings.topics.incidents)
    kafka_probe: KafkaHealthProbe | None = None
    if probe is None and "orchestrator" in wanted:
        kafka_probe = KafkaHealthProbe(
            settings.bootstrap, settings.topics.panes, settings.rollback, clock
        )
    verify: HealthProbe | None = probe or kafka_probe

    def receivers() -> Mapping[ActionKind, Receiver]:
        return build_receivers(
            receiver_urls(settings),
            client,
            settings.delivery,
            clock,
            secret=_secret(settings.webhook_secret),
            routing_key=_secret(settings.pager_routing_key),
            write=write,
        )

    def manager() -> Role:
        group = f"{settings.group_prefix}-incidents"
        source = KafkaDecisionSource(settings.bootstrap, settings.topics.decisions, group)
        return IncidentManager(r.incidents, source, settings.response, clock)

    def deploys() -> Role:
        group = f"{settings.group_prefix}-deploys"
        source = KafkaDecisionSource(settings.bootstrap, settings.topics.panes, group)
        return DeployRecorder(r.incidents, source, clock)

    def orchestrator() -> Role:
        assert verify is not None
        return RollbackOrchestrator(
            r.incidents, verify, settings.rollback, settings.response, clock
        )

    builders: dict[str, Callable[[], Role | None]] = {
        "sink": lambda: _Resource("incidents-producer", sink.start, sink.stop),
        "http": lambda: _Resource("http-client", _noop, client.aclose),
        "probe": lambda: kafka_probe,
        "manager": manager,
        "deploys": deploys,
        "timers": lambda: TimerWorker(r.incidents, settings.response, clock),
        "orchestrator": orchestrator,
        "dispatcher": lambda: OutboxDispatcher(r.outbox, receivers(), settings.delivery, clock),
        "events": lambda: EventPublisher(r.outbox, sink, clock, settings.delivery.poll_s),
    }
    built = {name: builders[name]() for name in wanted if name in builders}
    if settings.database_notify:
        built["notifications"] = _notifications(settings.dsn, built)
    return {name: role for name, role in built.items() if role is not None}


def _notifications(dsn: str, built: Mapping[str, Role | None]) -> PgNotifications:
    """Committed work wakes the worker that takes it (migration 0006 announces it)."""
    notifications = PgNotifications(dsn)
    dispatcher = built.get("dispatcher")
    if isinstance(dispatcher, OutboxDispatcher):
        for lane in dispatcher.lanes:
            for kind in lane.kinds:
                notifications.on(f"actions:{kind}", lane.wake)
    orchestrator = built.get("orchestrator")
    if isinstance(orchestrator, RollbackOrchestrator):
        notifications.on("rollbacks", orchestrator.wake)
        notifications.on("settled", orchestrator.settled)
    for name, topic in (("timers", "timers"), ("events", "events")):
        worker = built.get(name)
        if isinstance(worker, TimerWorker | EventPublisher):
            notifications.on(topic, worker.wake)
    return notifications


async def _noop() -> None:
    return None


async def _main() -> None:
    """The responder role through the composition root, from the process's one settings
    object (the database must be migrated: ``alertpipe run --role responder`` does that)."""
    from app.pipeline import build_pipeline  # the pipeline builds on this module

    pipeline = await build_pipeline(get_settings(), roles=("responder",), http=False)
    try:
        await run_roles(pipeline.roles)
    finally:
        await pipeline.close()


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
