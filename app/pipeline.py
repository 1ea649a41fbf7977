"""The composition root: every role of every process, built from one ``Settings`` object.

    pipeline = await build_pipeline(settings, roles=("aggregator", "evaluator"))
    await run_roles(pipeline.roles)     # streams.lifecycle: start in order, stop in reverse
    await pipeline.close()

The roles (``alertpipe run --role …``) are in README.md, "Running it"; the responder's parts
are ``RESPONDER_PARTS``, and every part can run in several processes at once: the database
arbitrates. A process without the ``api`` role still serves ``/health`` and ``/metrics``.
Tests and the demo build their pipeline here too, swapping only the clock, the verify probe,
where console output goes, the HTTP server (left out to drive ``Pipeline.asgi`` in-process)
or which responder parts run, so they cannot drift from production wiring (design.md record 17).

Every role is wrapped in ``streams.supervise.Supervised``, so a Kafka or PostgreSQL outage is
ridden out rather than ending the process, and a ``DependencyWatch`` per server tells
``/health`` the truth meanwhile (design.md record 39). What each role needs is declared once:
``kafka`` for the stream stages and the dashboard's reader, ``PART_NEEDS`` for the responder's
parts.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from app.api import ApiDeps, create_app, create_probe_app
from app.api.auth import Authenticator
from app.api.dashboard import DashboardDeps
from app.api.deps import Intake
from app.api.metrics import (
    Exposition,
    database_families,
    decision_latency_family,
    delivery_families,
)
from app.api.server import HttpServer
from app.dashboard import Dashboard, DashboardFeed, FiringLog, PaneRing
from app.drills.control import DrillControl
from app.drills.runner import DrillRunner
from app.drills.store import PgDrillStore
from app.pane_history import KafkaPaneReader
from app.policy import policy_from_settings
from app.readiness import DrillRecords, ReadinessService
from app.receivers import check_receivers, receiver_setup
from app.reviews.control import ReviewControl
from app.reviews.drafter import ReviewDrafter
from app.reviews.store import PgReviewStore
from app.settings import DRILL_URLS, Settings
from app.storage.board import PgIncidentBoard
from app.storage.gauges import PgGauges
from app.storage.holds import PgHoldStore
from app.storage.incidents import PgIncidentStore
from app.storage.notify import PgNotifications
from app.storage.outbox import PgOutboxStore
from app.storage.pool import create_pool, database_error
from app.storage.queries import PgIncidentQueries
from app.storage.readiness import PgDrillRecords, PgReadinessStore
from app.storage.refs import PgReceiverRefs
from app.storage.silences import PgSilenceStore
from app.storage.tokens import PgCredentialStore
from handlers import actions
from handlers.backups import BackupRecorder
from handlers.config import PhaseRetries
from handlers.deploys import DeployRecorder
from handlers.events import EventPublisher, KafkaEventSink
from handlers.incidents.commands import IncidentCommands
from handlers.incidents.manager import DecisionApplier, IncidentManager
from handlers.incidents.source import KafkaDecisionSource
from handlers.notify.metrics import DeliveryStats
from handlers.outbox.dispatcher import OutboxDispatcher
from handlers.pager_watch import PagerWatch
from handlers.readiness.gate import DeployGate
from handlers.receivers.base import Receiver
from handlers.receivers.drill import route_drills
from handlers.receivers.registry import ReceiverUrls, build_drill_receivers, build_receivers
from handlers.rollback.health import HealthProbe
from handlers.rollback.kafka_probe import KafkaHealthProbe
from handlers.rollback.orchestrator import RollbackOrchestrator
from handlers.rollback.restore import Objective, Objectives
from handlers.slos import BudgetRecorder
from handlers.timers import TimerWorker
from schemas.clock import Clock, SystemClock
from schemas.incidents import ActionKind
from schemas.severity import Severity
from streams.aggregate import Aggregator, AggregatorConfig, tune_gc
from streams.evaluate.correlator import Correlator, CorrelatorConfig
from streams.evaluate.kafka import ensure_state_topic
from streams.evaluate.service import Evaluator, EvaluatorConfig
from streams.ingest.writer import KafkaWriter
from streams.lag import consumer_lag
from streams.lifecycle import CLOSE_TIMEOUT_S, ResourceRole, Role, ServiceRole
from streams.policy import Policy
from streams.producer import TelemetryProducer
from streams.supervise import DependencyWatch, Supervised, kafka_answers, kafka_error

__all__ = [
    "PART_NEEDS",
    "RESPONDER_PARTS",
    "ROLES",
    "Pipeline",
    "Responder",
    "RoleName",
    "aggregator_config",
    "build_pipeline",
    "correlator_config",
    "drill_urls",
    "evaluator_config",
    "needs_database",
    "readiness_service",
    "receiver_urls",
    "restore_objectives",
    "rollback_from_policy",
]

RoleName = Literal["aggregator", "evaluator", "responder", "api"]
ROLES: tuple[RoleName, ...] = ("aggregator", "evaluator", "responder", "api")

Dependency = Literal["kafka", "postgres"]

# The responder's parts in start order (stop is the reverse): outbound clients first, the
# event publisher, then the drill runner and the review drafter, last; each with the servers
# it needs (an outage of one makes the part not ready, and is what its supervisor restarts it
# through). The receivers' HTTP client needs neither: a receiver that fails is the outbox's to
# retry, never an outage of the process.
PART_NEEDS: Mapping[str, tuple[Dependency, ...]] = {
    "sink": ("kafka",),
    "http": (),
    "notifications": ("postgres",),
    "probe": ("kafka",),
    "manager": ("kafka", "postgres"),
    "deploys": ("kafka", "postgres"),
    "backups": ("kafka", "postgres"),  # backups and restore tests from the panes
    "gate": ("kafka", "postgres"),  # deploys from the panes, checks in PostgreSQL
    "budgets": ("kafka", "postgres"),
    "timers": ("postgres",),
    "orchestrator": ("postgres",),
    "dispatcher": ("postgres",),
    "pager_watch": ("postgres",),
    "events": ("postgres", "kafka"),
    "drills": ("postgres", "kafka"),  # the drill's traffic goes to the telemetry topic
    "reviews": ("postgres", "kafka"),  # a review reads the incident's panes back
}
RESPONDER_PARTS = tuple(PART_NEEDS)
# The stream stages, and the api role's reader of panes and decisions (the dashboard).
_KAFKA_ONLY: tuple[Dependency, ...] = ("kafka",)


_DATABASE: tuple[RoleName, ...] = ("responder", "api")


def needs_database(roles: Sequence[RoleName]) -> bool:
    return bool(set(roles) & set(_DATABASE))


def aggregator_config(settings: Settings) -> AggregatorConfig:
    topics = settings.topics
    return AggregatorConfig(
        bootstrap=settings.bootstrap,
        telemetry_topic=topics.telemetry,
        panes_topic=topics.panes,
        dead_letter_topic=topics.dead_letter,
        group_id=f"{settings.group_prefix}-aggregate",
        **settings.aggregator.model_dump(),
    )


def evaluator_config(settings: Settings) -> EvaluatorConfig:
    ev, topics = settings.evaluator, settings.topics
    group = f"{settings.group_prefix}-evaluator"
    return EvaluatorConfig(
        bootstrap=settings.bootstrap,
        panes_topic=topics.panes,
        decisions_topic=topics.decisions,
        state_topic=ev.state_topic,
        group_id=group,
        transactional_prefix=ev.transactional_prefix or group,
        replication_factor=topics.replication_factor,
        auto_offset_reset=ev.offset_reset,
        rebuild_margin_ms=ev.rebuild_margin_ms,
        idle_after_ms=ev.idle_after_ms,
        checkpoint_every_ms=ev.checkpoint_every_ms,
        session_timeout_ms=ev.session_timeout_ms,
    )


def correlator_config(settings: Settings) -> CorrelatorConfig:
    topics, group = settings.topics, f"{settings.group_prefix}-correlator"
    return CorrelatorConfig(
        bootstrap=settings.bootstrap,
        decisions_topic=topics.decisions,
        state_topic=settings.evaluator.state_topic,
        panes_topic=topics.panes,
        group_id=group,
        transactional_id=group,
        replication_factor=topics.replication_factor,
    )


def rollback_from_policy(settings: Settings, policy: Policy) -> Settings:
    """The rollback's numbers that live in the policy: verify's baseline is the policy's
    readiness (the plan's pre-deploy baselines) and phase retries its ``rollback:`` section,
    unless ``ALERTPIPE_ROLLBACK__BASELINE_ERROR_RATE`` / ``__BASELINE_P95_MS`` /
    ``__PHASE_RETRIES__<PHASE>`` say otherwise."""
    rb, ready = settings.rollback, policy.readiness
    retries = PhaseRetries(
        **{**policy.rollback.phase_retries.model_dump(), **_explicit(rb.phase_retries)}
    )
    update: dict[str, Any] = {
        name: value
        for name, value in (
            ("baseline_error_rate", ready.error_rate),
            ("baseline_p95_ms", ready.p95_ms),
        )
        if name not in rb.model_fields_set
    }
    update["phase_retries"] = retries
    return settings.model_copy(update={"rollback": rb.model_copy(update=update)})


def restore_objectives(policy: Policy | None) -> Objectives:
    """The policy's recovery objectives, as the responder measures restores against them."""
    if policy is None or not policy.backups.enabled:
        return Objectives()
    backups = policy.backups
    return Objectives(
        datasets={d.dataset: Objective(d.rpo_ms / 1000, d.rto_ms / 1000) for d in backups.datasets},
        full_system_rto_s=backups.full_system_rto_ms / 1000,
    )


def _explicit(model: BaseModel) -> dict[str, Any]:
    """The fields of ``model`` that were set (by the environment), not defaulted."""
    return {name: getattr(model, name) for name in model.model_fields_set}


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def receiver_urls(settings: Settings) -> ReceiverUrls:
    return actions.receiver_urls(settings)


def drill_urls(settings: Settings) -> ReceiverUrls:
    """A drill's control URLs by their name in ``ACTIONS`` (``rollback`` …), None where unset."""
    return {
        name.removesuffix("_url"): _secret(getattr(settings.drill, name)) for name in DRILL_URLS
    }


@dataclass
class Responder:
    """Stages 3–4: the database's adapters (what the API and tests reach into) and the parts."""

    settings: Settings
    pool: asyncpg.Pool
    clock: Clock
    incidents: PgIncidentStore
    outbox: PgOutboxStore
    silences: PgSilenceStore
    queries: PgIncidentQueries
    commands: IncidentCommands
    credentials: PgCredentialStore
    holds: PgHoldStore
    drills: DrillControl
    reviews: ReviewControl
    policy: Policy | None = None
    roles: list[Role] = field(default_factory=list)
    parts: dict[str, Role] = field(default_factory=dict)  # the same roles, by part name

    async def close(self) -> None:
        try:  # a graceful close waits for every connection: not on a server that is gone
            await asyncio.wait_for(self.pool.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.pool.terminate()


@dataclass
class Pipeline:
    """The roles of one process, in start order, and what the API and tests reach into.

    ``asgi`` is the HTTP application (the API, or only ``/health`` and ``/metrics``); the
    ``http`` role serves it, or tests drive it in-process when the server is left out.
    ``dashboard`` is the api role's reader of panes and decisions (what the graphs draw).
    """

    settings: Settings
    roles: list[Role] = field(default_factory=list)
    responder: Responder | None = None
    asgi: FastAPI | None = None
    http: HttpServer | None = None
    dashboard: DashboardFeed | None = None
    exposition: Exposition = field(init=False)

    def __post_init__(self) -> None:
        self.exposition = Exposition(self.health)

    def health(self) -> dict[str, dict[str, Any]]:
        return {role.name: role.health() for role in self.roles if role is not self.http}

    def role(self, name: str) -> Role:
        """The role named ``name``, unwrapped from its supervisor."""
        found = next(role for role in self.roles if role.name == name)
        return found.role if isinstance(found, Supervised) else found

    async def close(self) -> None:
        if self.responder is not None:
            await self.responder.close()


async def build_pipeline(
    settings: Settings,
    roles: Sequence[RoleName] = ROLES,
    *,
    clock: Clock | None = None,
    probe: HealthProbe | None = None,
    write: Callable[[str], None] = print,
    http: bool = True,
    parts: Sequence[str] = RESPONDER_PARTS,
    drills: DrillRecords | None = None,
) -> Pipeline:
    """Every role asked for, wired from ``settings`` (after ``app.infra.prepare``).

    ``clock`` and ``probe`` (rollback verify) replace the system clock and the Kafka health
    probe; ``write`` receives what the console receivers print (receivers with no URL
    configured); ``http=False`` leaves out the HTTP server; ``parts`` narrows the responder
    to some of its parts (tests of one part); ``drills`` are the drills the readiness gate
    reads (default: the drills table).
    """
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; expected {', '.join(ROLES)}")
    policy = policy_from_settings(settings) if set(roles) & {"evaluator", *_DATABASE} else None
    if policy is not None:
        settings = rollback_from_policy(settings, policy)
        if "responder" in roles and "dispatcher" in parts:
            check_receivers(settings, policy)  # before anything is built: refused at start
    pipeline = Pipeline(settings)
    stages = _stages(settings, roles, policy, pipeline.exposition)
    needing = [(stage, _KAFKA_ONLY) for stage in stages]
    if needs_database(roles):
        assert policy is not None
        wanted = parts if "responder" in roles else ()
        pipeline.responder = await _responder(
            settings,
            clock or SystemClock(),
            probe,
            write,
            wanted,
            pipeline.exposition,
            policy,
        )
        needing.extend((role, PART_NEEDS[n]) for n, role in pipeline.responder.parts.items())
    intake = _intake(settings, policy) if "api" in roles and policy is not None else None
    if intake is not None:  # before the server, so it stops after it
        assert isinstance(intake.writer, KafkaWriter)
        needing.append((intake.writer, _KAFKA_ONLY))
    pipeline.asgi = _asgi(pipeline, roles, policy, drills, intake)
    # After the server, so it stops before it: its stop ends the page's live streams, which
    # the server would otherwise wait for.
    last = [(pipeline.dashboard, _KAFKA_ONLY)] if pipeline.dashboard is not None else []
    watches = _watches(settings, pipeline.responder, [*needing, *last])
    pipeline.roles = [*watches.values(), *_supervised(settings, watches, needing)]
    if http:
        pipeline.http = HttpServer(pipeline.asgi, settings.http_host, settings.http_port)
        pipeline.roles.append(pipeline.http)
    pipeline.roles.extend(_supervised(settings, watches, last))
    return pipeline


Needing = Sequence[tuple[Role, tuple[Dependency, ...]]]


def _watches(
    settings: Settings, responder: Responder | None, needing: Needing
) -> dict[str, DependencyWatch]:
    """A watch of each server the roles need (Kafka first), started before them."""
    cfg = settings.supervision
    used = {dependency for _, needs in needing for dependency in needs}
    watches: dict[str, DependencyWatch] = {}
    if "kafka" in used:
        check = kafka_answers(settings.bootstrap, cfg.probe_timeout_s)
        watches["kafka"] = DependencyWatch("kafka", check, cfg, recognizes=kafka_error)
    if responder is not None:  # the API reads the database too, with or without parts
        pool = responder.pool
        watches["postgres"] = DependencyWatch(
            "postgres", lambda: pool.fetchval("SELECT 1"), cfg, recognizes=database_error
        )
    return watches


def _supervised(
    settings: Settings, watches: Mapping[str, DependencyWatch], needing: Needing
) -> list[Role]:
    """Each role under its supervisor, waiting for the watches of the servers it needs."""
    cfg = settings.supervision
    return [
        Supervised(role, cfg, needs=[watches[dependency] for dependency in needs])
        for role, needs in needing
    ]


def _stages(
    settings: Settings, roles: Sequence[RoleName], policy: Policy | None, expo: Exposition
) -> list[Role]:
    stages: list[Role] = []
    if "aggregator" in roles:
        aggregator = Aggregator(aggregator_config(settings))
        stages.append(ServiceRole("aggregator", aggregator, after_start=tune_gc))
        expo.add_lag("aggregator", aggregator.lag)
    if "evaluator" in roles:
        assert policy is not None
        evaluator = Evaluator(evaluator_config(settings), policy)
        stages.append(ServiceRole("evaluator", evaluator))
        expo.add_lag("evaluator", evaluator.lag)
        if settings.evaluator.correlator and policy.cascade.enabled:
            correlator = Correlator(correlator_config(settings), policy.cascade_as_run())
            stages.append(ServiceRole("correlator", correlator))
            expo.add_lag("correlator", correlator.lag)
    return stages


def readiness_service(
    settings: Settings,
    pool: asyncpg.Pool,
    policy: Policy,
    clock: Clock,
    drills: DrillRecords | None = None,
) -> ReadinessService:
    """The readiness gate, for the API and ``alertpipe readiness check``."""
    return ReadinessService(
        PgReadinessStore(pool),
        KafkaPaneReader(settings.bootstrap, settings.topics.panes),
        drills or PgDrillRecords(pool),
        policy,
        receiver_urls(settings),
        settings.readiness,
        clock,
        chat_channels=tuple(settings.chat_urls),
    )


def _intake(settings: Settings, policy: Policy) -> Intake:
    """The api role's ingest: one acks=all producer for every ingest route (a role, so it
    starts before the HTTP server and stops after it)."""
    cfg, topics = settings.ingest, settings.topics
    writer = KafkaWriter(
        settings.bootstrap,
        max_in_flight=cfg.max_in_flight,
        ack_timeout_s=cfg.ack_timeout_s,
        retry_after_s=cfg.retry_after_s,
        linger_ms=cfg.linger_ms,
        client_id=f"{settings.group_prefix}-ingest",
    )
    return Intake(
        writer,
        topics.telemetry,
        topics.decisions,
        cfg.max_body_bytes,
        otlp=policy.otlp,
        alertmanager=policy.alertmanager,
        stats=writer.stats,
    )


def _asgi(
    pipeline: Pipeline,
    roles: Sequence[RoleName],
    policy: Policy | None,
    drills: DrillRecords | None,
    intake: Intake | None,
) -> FastAPI:
    r, cfg = pipeline.responder, pipeline.settings.auth
    expo = pipeline.exposition
    if "api" not in roles or r is None:
        return create_probe_app(pipeline.health, Authenticator(cfg, SystemClock()), expo)
    assert policy is not None
    pipeline.dashboard = _dashboard(pipeline.settings, policy, r.clock)
    expo.add_lag("dashboard", pipeline.dashboard.lag)
    board = DashboardDeps(
        pipeline.dashboard.dashboard, PgIncidentBoard(r.pool), pipeline.settings.response
    )
    auth = Authenticator(cfg, r.clock, r.credentials)
    deps = ApiDeps(
        r.queries,
        r.commands,
        r.silences,
        r.clock,
        pipeline.health,
        auth,
        expo,
        r.holds,
        pipeline.settings.http_max_body_bytes,
        intake=intake,
        drills=r.drills,
        reviews=r.reviews,
        max_silence_s=pipeline.settings.silence_max_days * 86400.0,
        readiness=readiness_service(pipeline.settings, r.pool, policy, r.clock, drills),
    )
    return create_app(deps, board)


def _dashboard(settings: Settings, policy: Policy, clock: Clock) -> DashboardFeed:
    """The dashboard's ring (``retention_s`` of panes per scope) and its Kafka reader."""
    cfg, pane_ms = settings.dashboard, settings.aggregator.pane_ms
    ring = PaneRing(-(-cfg.retention_s * 1000 // pane_ms), cfg.max_scopes)
    view = Dashboard(
        ring,
        FiringLog(),
        policy,
        clock,
        pane_ms=pane_ms,
        retention_s=cfg.retention_s,
        live_every_s=cfg.live_every_s,
        hold_ms=settings.evaluator.idle_after_ms,
    )
    topics = settings.topics
    group = f"{settings.group_prefix}-dashboard"
    return DashboardFeed(
        view,
        settings.bootstrap,
        topics.panes,
        topics.decisions,
        group,
        recent_first_s=settings.dashboard.refill_recent_s,
    )


async def _responder(
    settings: Settings,
    clock: Clock,
    probe: HealthProbe | None,
    write: Callable[[str], None],
    parts: Sequence[str],
    expo: Exposition,
    policy: Policy | None = None,
) -> Responder:
    """Stages 3–4 wired from settings (the database must be migrated); from ``policy``, its
    maintenance windows and its recovery objectives."""
    pool = await create_pool(settings.dsn)
    incidents, outbox = PgIncidentStore(pool), PgOutboxStore(pool)
    holds = PgHoldStore(pool, policy.maintenance if policy is not None else ())
    commands = IncidentCommands(incidents, settings.response, clock, holds)
    drills = PgDrillStore(pool)
    responder = Responder(
        settings,
        pool,
        clock,
        incidents,
        outbox,
        PgSilenceStore(pool),
        PgIncidentQueries(pool),
        commands,
        PgCredentialStore(pool),
        holds,
        DrillControl(drills, commands, settings.drill, settings.response, clock),
        ReviewControl(PgReviewStore(pool), clock),
        policy,
    )
    built = _responder_parts(settings, responder, probe, write, parts, expo, policy)
    responder.parts = {name: built[name] for name in RESPONDER_PARTS if name in built}
    responder.roles = list(responder.parts.values())
    if parts:
        _responder_metrics(settings, responder, built, expo)
    return responder


def _responder_metrics(
    settings: Settings, r: Responder, built: Mapping[str, Role], expo: Exposition
) -> None:
    """What stages 3–4 add to /metrics: deliveries, latencies, and the database's outbox
    backlog and timers (sampled where the responder runs)."""
    manager, dispatcher = built.get("manager"), built.get("dispatcher")
    if isinstance(manager, IncidentManager):
        expo.add(lambda: [decision_latency_family(manager.decision_latency)])
    if isinstance(dispatcher, OutboxDispatcher):
        expo.add(lambda: delivery_families(dispatcher.stats))
    late_s = 2 * settings.response.timers_poll_s + 1.0
    expo.add_sampled(functools.partial(database_families, PgGauges(r.pool), r.clock, late_s))


def _responder_parts(
    settings: Settings,
    r: Responder,
    probe: HealthProbe | None,
    write: Callable[[str], None],
    wanted: Sequence[str],
    expo: Exposition,
    policy: Policy | None = None,
) -> dict[str, Role]:
    """Build only the parts asked for (each builder runs once, in ``RESPONDER_PARTS`` order)."""
    clock = r.clock
    client = httpx.AsyncClient()
    # One count of deliveries and failures by receiver: kept by the dispatcher, read by the
    # dead-pager watch, /health and /metrics.
    stats = DeliveryStats()
    sink = KafkaEventSink(settings.bootstrap, settings.topics.incidents)
    kafka_probe: KafkaHealthProbe | None = None
    if probe is None and "orchestrator" in wanted:
        kafka_probe = KafkaHealthProbe(
            settings.bootstrap, settings.topics.panes, settings.rollback, clock
        )
    verify: HealthProbe | None = probe or kafka_probe

    def receivers() -> Mapping[ActionKind, Receiver]:
        production = build_receivers(
            receiver_urls(settings),
            client,
            settings.delivery,
            clock,
            secret=_secret(settings.webhook_secret),
            write=write,
            setup=receiver_setup(settings, policy, PgReceiverRefs(r.pool)),
        )
        drill = build_drill_receivers(
            receiver_urls(settings),
            drill_urls(settings),
            client,
            settings.delivery,
            clock,
            secret=_secret(settings.webhook_secret),
            drill_routing_key=_secret(settings.drill.pager_routing_key),
            write=write,
        )
        return route_drills(production, drill, r.drills.store.is_live)

    def drill_runner() -> Role:
        producer = TelemetryProducer(
            settings.bootstrap, settings.topics.telemetry, client_id="alertpipe-drill"
        )
        chat = receivers()["chat"]
        return DrillRunner(r.drills.store, chat, producer, settings.drill, settings.response, clock)

    def review_drafter() -> Role:
        ag = settings.aggregator
        return ReviewDrafter(
            r.reviews.store,
            settings.bootstrap,
            settings.topics.panes,
            r.policy,
            settings.response,
            clock,
            poll_s=settings.drill.poll_s,
            panes_close_s=(ag.allowed_lateness_ms + ag.idle_timeout_ms + 2 * ag.pane_ms) / 1000,
        )

    def manager() -> Role:
        group = f"{settings.group_prefix}-incidents"
        source = KafkaDecisionSource(settings.bootstrap, settings.topics.decisions, group)
        expo.add_lag("incident-manager", _lag_of(source))
        return IncidentManager(r.incidents, source, settings.response, clock)

    def deploys() -> Role:
        group = f"{settings.group_prefix}-deploys"
        source = KafkaDecisionSource(settings.bootstrap, settings.topics.panes, group)
        expo.add_lag("deploy-recorder", _lag_of(source))
        return DeployRecorder(r.incidents, source, clock)

    def backups() -> Role:
        group = f"{settings.group_prefix}-backups"
        source = KafkaDecisionSource(settings.bootstrap, settings.topics.panes, group)
        expo.add_lag("backup-recorder", functools.partial(consumer_lag, source.consumer))
        return BackupRecorder(r.incidents, source, clock)

    def gate() -> Role:
        group = f"{settings.group_prefix}-deploy-gate"
        source = KafkaDecisionSource(settings.bootstrap, settings.topics.panes, group)
        expo.add_lag("deploy-gate", functools.partial(consumer_lag, source.consumer))
        severity = policy.readiness.unready_deploy if policy is not None else Severity.MEDIUM
        return DeployGate(
            r.incidents,
            source,
            DecisionApplier(settings.response),
            clock,
            severity=severity,
            valid_s=settings.readiness.check_valid_s,
        )

    def budgets() -> Role:
        group = f"{settings.group_prefix}-slo-budgets"
        state = settings.evaluator.state_topic
        source = KafkaDecisionSource(settings.bootstrap, state, group)
        topics = settings.topics
        expo.add_lag("slo-budgets", _lag_of(source))

        async def state_topic() -> None:  # stage 2 creates it; the responder may start first
            await ensure_state_topic(
                settings.bootstrap, state, topics.panes, topics.replication_factor
            )

        return BudgetRecorder(r.incidents, source, clock, before_start=state_topic)

    def orchestrator() -> Role:
        assert verify is not None
        return RollbackOrchestrator(
            r.incidents,
            verify,
            settings.rollback,
            settings.response,
            clock,
            holds=r.holds,
            objectives=restore_objectives(policy),
        )

    builders: dict[str, Callable[[], Role | None]] = {
        "sink": lambda: ResourceRole("incidents-producer", sink.start, sink.stop),
        "http": lambda: ResourceRole("http-client", _noop, client.aclose),
        "probe": lambda: kafka_probe,
        "manager": manager,
        "deploys": deploys,
        "backups": backups,
        "gate": gate,
        "budgets": budgets,
        "timers": lambda: TimerWorker(
            r.incidents,
            settings.response,
            clock,
            redeliver=DecisionApplier(settings.response).apply_in,
        ),
        "orchestrator": orchestrator,
        "dispatcher": lambda: OutboxDispatcher(
            r.outbox,
            receivers(),
            settings.delivery,
            clock,
            stats,
            holds=r.holds,
            hold_cfg=settings.holds,
        ),
        "pager_watch": lambda: PagerWatch(r.incidents, stats, settings.delivery, clock),
        "events": lambda: EventPublisher(r.outbox, sink, clock, settings.delivery.poll_s),
        "drills": drill_runner,
        "reviews": review_drafter,
    }
    built = {name: builders[name]() for name in wanted if name in builders}
    if settings.database_notify and "notifications" in wanted:
        built["notifications"] = _notifications(settings.dsn, built)
    return {name: role for name, role in built.items() if role is not None}


def _lag_of(source: KafkaDecisionSource) -> Callable[[], dict[int, int]]:
    """The lag of the source's consumer at each scrape (a restart replaces the consumer)."""
    return lambda: consumer_lag(source.consumer)


def _notifications(dsn: str, built: Mapping[str, Role | None]) -> PgNotifications:
    """Committed work wakes the worker that takes it (migration 0009 announces it)."""
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
