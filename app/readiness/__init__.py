"""The readiness gate's service: gather the evidence, judge the checklist, record the check.

    service = ReadinessService(store, panes, drills, policy, receivers, settings, clock)
    report = await service.check("chat-api", "2.4.0", actor="deploy-bot")
    await service.attest("chat-api", "team_trained", actor="alice", note="runbook walkthrough")

The same for ``GET /v1/readiness/{service}`` and ``alertpipe readiness check``: evidence from
PostgreSQL (deploy history, the backup catalogue, attestations), from the panes topic (the
last ``readiness.window`` of the service's live panes), from the drills (``DrillRecords``)
and from this process's own configuration (the policy's rules, the receivers' URLs); the
verdict is ``handlers.readiness.checklist``'s. Every check is recorded with who asked, so a
deploy can be told from one that skipped the gate (``handlers.readiness.gate``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any, Protocol

from handlers.config import ReadinessConfig
from handlers.readiness.baselines import Measured, measure
from handlers.readiness.checklist import (
    Attestation,
    DatasetBackups,
    Deploy,
    DrillRun,
    Evidence,
    GateConfig,
    Readiness,
    judge,
)
from schemas.clock import Clock
from schemas.panes import PaneSummary
from schemas.severity import Severity
from streams.policy import Policy
from streams.policy.routes import DEFAULT

__all__ = [
    "ATTESTATION_ITEMS",
    "DrillRecords",
    "DrillsNotRecorded",
    "PaneSource",
    "ReadinessService",
    "ReadinessStore",
    "gate_config",
]

# What an operator may attest (the checklist item no telemetry can show).
ATTESTATION_ITEMS: tuple[str, ...] = ("team_trained",)


class DrillRecords(Protocol):
    """The DR drills that ended and their reports' verdicts (``app.storage.readiness``
    ``PgDrillRecords`` reads the drills table)."""

    @property
    def recorded(self) -> bool:
        """Whether drills are kept here at all (False: the drill items are unknown)."""
        ...

    async def last_passed(self, service: str | None) -> DrillRun | None:
        """The latest drill that passed (of ``service``; None: of any service)."""
        ...

    async def latest(self, service: str | None) -> DrillRun | None:
        """The latest drill that ended, passed or not (of ``service``; None: of any)."""
        ...


class DrillsNotRecorded:
    """Where no drill store is at hand: nothing is known, so those items say "unknown" —
    never a pass."""

    recorded = False

    async def last_passed(self, service: str | None) -> DrillRun | None:
        return None

    async def latest(self, service: str | None) -> DrillRun | None:
        return None


class PaneSource(Protocol):
    async def panes(self, service: str, since_ms: int) -> list[PaneSummary]: ...


class ReadinessStore(Protocol):
    """``app.storage.readiness.PgReadinessStore``."""

    async def last_deploy(self, service: str) -> Deploy | None: ...

    async def stable_version(self, service: str, other_than: str | None) -> Deploy | None: ...

    async def datasets(self, service: str) -> list[DatasetBackups]: ...

    async def attestation(self, service: str, item: str) -> Attestation | None: ...

    async def attest(
        self, service: str, item: str, actor: str, note: str, now: float, valid_s: float
    ) -> Attestation: ...

    async def record_check(
        self, service: str, version: str | None, report: dict[str, object], actor: str, now: float
    ) -> int: ...


def gate_config(policy: Policy, cfg: ReadinessConfig) -> GateConfig:
    """The gate's numbers: the policy's baselines and restore-test cadence, the settings'
    freshness limits."""
    r, backups = policy.readiness, policy.backups
    restore_every = backups.restore_test.every_ms or 7 * 86_400_000
    return GateConfig(
        error_rate=r.error_rate,
        p95_ms=r.p95_ms,
        cpu_pct=r.cpu_pct,
        mem_pct=r.mem_pct,
        window_s=r.window_ms / 1000,
        min_requests=r.min_samples,
        drill_within_s=cfg.drill_within_s,
        monitoring_within_s=cfg.monitoring_within_s,
        restore_test_within_s=restore_every / 1000,
    )


class ReadinessService:
    def __init__(
        self,
        store: ReadinessStore,
        panes: PaneSource,
        drills: DrillRecords,
        policy: Policy,
        receivers: Mapping[str, str | None],
        cfg: ReadinessConfig,
        clock: Clock,
        chat_channels: Collection[str] = (),
    ) -> None:
        self._store = store
        self._panes = panes
        self._drills = drills
        self._policy = policy
        self._receivers = {name: bool(url) for name, url in receivers.items()}
        # Chat channels with a URL: the default one (ALERTPIPE_CHAT_URL) and the teams'.
        default = (DEFAULT,) if self._receivers.get("chat") else ()
        self._chat_channels = frozenset((*default, *chat_channels))
        self._cfg = cfg
        self._gate = gate_config(policy, cfg)
        self._clock = clock

    async def check(self, service: str, version: str | None, actor: str) -> Readiness:
        """Judge ``service`` (about to deploy ``version``) now, and record the check."""
        evidence = await self.evidence(service, version)
        report = judge(evidence, self._gate)
        await self._store.record_check(service, version, report.to_json(), actor, evidence.now)
        return report

    async def attest(self, service: str, item: str, actor: str, note: str) -> Attestation:
        now = self._clock.now()
        valid = self._cfg.attestation_valid_s
        return await self._store.attest(service, item, actor, note, now, valid)

    async def evidence(self, service: str, version: str | None) -> Evidence:
        now = self._clock.now()
        s = self._store
        return Evidence(
            service=service,
            version=version,
            now=now,
            measured=await self._measured(service, now),
            drills_recorded=self._drills.recorded,
            service_drill=await self._drills.last_passed(service),
            any_drill=await self._drills.last_passed(None),
            service_last=await self._drills.latest(service),
            any_last=await self._drills.latest(None),
            last_deploy=await s.last_deploy(service),
            stable=await s.stable_version(service, version),
            datasets=tuple(await s.datasets(service)),
            rules=self._rules(service),
            attestation=await s.attestation(service, "team_trained"),
            **self._communication(service),
        )

    def _communication(self, service: str) -> dict[str, Any]:
        """Where a CRITICAL incident of the service would be told: its route's chat channel."""
        channel = self._policy.routes.route_for(service, Severity.CRITICAL).chat
        receivers = {**self._receivers, "chat": channel in self._chat_channels}
        return {"receivers": receivers, "chat_channel": channel}

    async def _measured(self, service: str, now: float) -> Measured:
        """The baselines over the policy's window; whether it is monitored, over the
        (possibly longer) monitoring window."""
        end_ms = int(now * 1000)
        window_ms = int(self._gate.window_s * 1000)
        seen_ms = max(window_ms, int(self._cfg.monitoring_within_s * 1000))
        panes = await self._panes.panes(service, end_ms - seen_ms)
        measured = measure(service, panes, end_ms - window_ms, end_ms)
        seen = measure(service, panes, end_ms - seen_ms, end_ms)
        return replace(measured, newest_pane_end_ms=seen.newest_pane_end_ms, scopes=seen.scopes)

    def _rules(self, service: str) -> tuple[str, ...]:
        """The rules that can fire on the service (dry-run rules decide nothing)."""
        policy = self._policy
        return tuple(
            rule.name
            for rule in policy.rules
            if rule.watches_service(service) and not policy.is_dry_run(rule)
        )
