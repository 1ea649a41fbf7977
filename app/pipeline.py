"""The composition root: every role of the pipeline, built from one ``Settings`` object.

    pipeline = await build_pipeline(settings, roles=("aggregator", "evaluator"))
    await run_roles(pipeline.roles)     # app.lifecycle: start in order, stop in reverse
    await pipeline.close()

Roles (``alertpipe run --role …``; several may share one process, ``all`` is every one):

    aggregator   stage 1: telemetry → validated events → closed panes (+ dead letters)
    evaluator    stage 2: panes → windows → decisions, and the S4 cascade correlator
    responder    stages 3–4: incidents, timers, rollback orchestrator, outbox, events
    api          the HTTP API (incidents, acknowledge/resolve, silences) with /health, /metrics

A process without the ``api`` role still serves ``/health`` and ``/metrics`` (its readiness
probe) on ``ALERTPIPE_HTTP_HOST:ALERTPIPE_HTTP_PORT``. Tests and the demo build their
pipeline here too, swapping only the clock, the verify probe or where console output goes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from app.api import create_app, create_probe_app
from app.api.server import HttpServer
from app.lifecycle import Role
from app.policy import policy_from_settings
from app.respond import ALL_ROLES, Responder, build_responder
from app.settings import Settings
from handlers.config import PhaseRetries
from handlers.rollback.health import HealthProbe
from schemas.clock import Clock
from streams.aggregate import Aggregator, AggregatorConfig, tune_gc
from streams.evaluate.correlator import Correlator, CorrelatorConfig
from streams.evaluate.service import Evaluator, EvaluatorConfig
from streams.policy import Policy

__all__ = [
    "ROLES",
    "Pipeline",
    "RoleName",
    "Stage",
    "aggregator_config",
    "build_pipeline",
    "correlator_config",
    "evaluator_config",
    "needs_database",
    "rollback_from_policy",
]

RoleName = Literal["aggregator", "evaluator", "responder", "api"]
ROLES: tuple[RoleName, ...] = ("aggregator", "evaluator", "responder", "api")


class _Service(Protocol):
    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class Stage:
    """A stream stage (aggregator, evaluator, correlator) as a named lifecycle role."""

    def __init__(
        self, name: str, service: _Service, after_start: Callable[[], None] = (lambda: None)
    ) -> None:
        self.name = name
        self.service = service
        self._after_start = after_start

    async def start(self) -> None:
        await self.service.start()
        self._after_start()

    async def run(self) -> None:
        await self.service.run()

    async def stop(self) -> None:
        await self.service.stop()

    def health(self) -> dict[str, Any]:
        return self.service.health()


def needs_database(roles: Sequence[RoleName]) -> bool:
    return "responder" in roles or "api" in roles


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


def _explicit(model: BaseModel) -> dict[str, Any]:
    """The fields of ``model`` that were set (by the environment), not defaulted."""
    return {name: getattr(model, name) for name in model.model_fields_set}


@dataclass
class Pipeline:
    """The roles of one process, in start order, and what the API and tests reach into."""

    settings: Settings
    roles: list[Role] = field(default_factory=list)
    responder: Responder | None = None
    http: HttpServer | None = None

    def health(self) -> dict[str, dict[str, Any]]:
        return {role.name: role.health() for role in self.roles if role is not self.http}

    def role(self, name: str) -> Role:
        return next(role for role in self.roles if role.name == name)

    async def close(self) -> None:
        if self.responder is not None:
            await self.responder.close()


def _stages(settings: Settings, roles: Sequence[RoleName], policy: Policy | None) -> list[Role]:
    stages: list[Role] = []
    if "aggregator" in roles:
        aggregator = Aggregator(aggregator_config(settings))
        stages.append(Stage("aggregator", aggregator, after_start=tune_gc))
    if "evaluator" in roles:
        assert policy is not None
        stages.append(Stage("evaluator", Evaluator(evaluator_config(settings), policy)))
        if settings.evaluator.correlator and policy.cascade.enabled:
            correlator = Correlator(correlator_config(settings), policy.cascade)
            stages.append(Stage("correlator", correlator))
    return stages


async def build_pipeline(
    settings: Settings,
    roles: Sequence[RoleName] = ROLES,
    *,
    clock: Clock | None = None,
    probe: HealthProbe | None = None,
    write: Callable[[str], None] = print,
    http: bool = True,
) -> Pipeline:
    """Every role asked for, wired from ``settings`` (after ``app.infra.prepare``).

    ``write`` receives what the console receivers print (receivers with no URL configured);
    ``http=False`` leaves out the HTTP server (tests that drive the API in-process).
    """
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; expected {', '.join(ROLES)}")
    policy = (
        policy_from_settings(settings) if "evaluator" in roles or "responder" in roles else None
    )
    if policy is not None:
        settings = rollback_from_policy(settings, policy)
    pipeline = Pipeline(settings, _stages(settings, roles, policy))
    if needs_database(roles):
        wanted = ALL_ROLES if "responder" in roles else ()
        responder = await build_responder(
            settings, clock=clock, probe=probe, write=write, roles=wanted
        )
        pipeline.responder = responder
        pipeline.roles.extend(responder.roles)
    if http:
        if "api" in roles and pipeline.responder is not None:
            deps = replace(pipeline.responder.api_deps(), health=pipeline.health)
            app = create_app(deps)
        else:
            app = create_probe_app(pipeline.health)
        pipeline.http = HttpServer(app, settings.http_host, settings.http_port)
        pipeline.roles.append(pipeline.http)
    return pipeline
