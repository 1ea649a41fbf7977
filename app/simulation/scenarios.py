"""Traffic for each scenario of the plan, as a deterministic, time-ordered event stream.

A scenario is a healthy *warm-up* (old version, normal traffic), a *deploy* of a new
version, then the *failure* the plan describes (or nothing, for ``healthy``). Generation is a
pure function of (scenario, start time, phase lengths, rate, seed): no I/O, no clock, so
tests can assert on it and `alertpipe simulate` only has to pace and send it.

The fleet mirrors the plan's core workflows: chat-api (POST /api/message), search-api
(POST /api/search) and bot-runner (POST /api/bot/launch, its bots and the bot-tasks queue).
Each service backs its dataset up on the plan's schedule (``BACKUP_SCHEDULE``): a backup agent
reports the newest backup of each type and the latest passed restore test when it starts,
then every backup as it is taken.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from schemas.telemetry import (
    BackupEvent,
    BotEvent,
    DeployEvent,
    IntegrityEvent,
    LogEvent,
    QueueEvent,
    RequestEvent,
    ResourceEvent,
    RestoreTestEvent,
    TelemetryEvent,
)

__all__ = [
    "BACKUP_SCHEDULE",
    "DATASETS",
    "SCENARIOS",
    "Endpoint",
    "Health",
    "Remedies",
    "ScenarioName",
    "Timeline",
    "generate",
    "plan_for",
]

ScenarioName = Literal["healthy", "s1", "s2", "s3", "s4"]
SCENARIOS: tuple[ScenarioName, ...] = ("healthy", "s1", "s2", "s3", "s4")

TICK_S = 0.1  # requests are generated in 100 ms steps of event time
GAUGE_EVERY_S = 1.0  # resources, queues, bots and integrity checks report once a second


@dataclass(frozen=True)
class Endpoint:
    service: str
    route: str
    share: float  # share of the total request rate


FLEET: tuple[Endpoint, ...] = (
    Endpoint("chat-api", "POST /api/message", 0.35),
    Endpoint("chat-api", "GET /api/history", 0.15),
    Endpoint("search-api", "POST /api/search", 0.30),
    Endpoint("bot-runner", "POST /api/bot/launch", 0.20),
)
HOSTS = {"chat-api": ("web-1", "web-2"), "search-api": ("search-1",), "bot-runner": ("bots-1",)}
BOTS = tuple(f"bot-{n}" for n in range(1, 7))
OLD_VERSION = {"chat-api": "2.3.9", "search-api": "1.8.2", "bot-runner": "0.9.4"}
NEW_VERSION = {"chat-api": "2.4.0", "search-api": "1.9.0", "bot-runner": "1.0.0"}
DATASETS = {"chat_messages": "chat-api", "configuration": "search-api", "bot_state": "bot-runner"}
# (type, every s, size): the plan ships the transaction log every 10 minutes, for an RPO of
# 10 minutes — a log shipped a second late already breaks it, so the simulated agent ships it
# twice per RPO (docs/design.md); full backups hourly, an off-site copy every 6 hours.
BACKUP_SCHEDULE: tuple[tuple[str, float, int], ...] = (
    ("wal", 300.0, 16 << 20),
    ("full", 3600.0, 2 << 30),
    ("offsite", 6 * 3600.0, 2 << 30),
)
RESTORE_TEST_S = 412.0  # the weekly restore to staging, as long as it takes


@dataclass(frozen=True)
class Health:
    """How one service behaves during a phase."""

    error_rate: float = 0.003
    median_ms: float = 90.0
    p95_ms: float = 350.0
    rate_factor: float = 1.0  # throughput relative to normal
    cpu: float = 38.0
    mem: float = 52.0


@dataclass(frozen=True)
class Failure:
    """What goes wrong after the deploy; empty for the healthy scenario."""

    services: dict[str, Health] = field(default_factory=dict)
    failing_routes: tuple[
        str, ...
    ] = ()  # routes whose errors/latency change; () = all of the service
    integrity_failures: tuple[str, ...] = ()
    bots_down: tuple[str, ...] = ()
    bots_erroring: tuple[str, ...] = ()  # up, but failing their tasks (status "error")
    queue_growth_per_s: float = 0.0
    error_logs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timeline:
    """Phase lengths and traffic shape."""

    warmup_s: float = 30.0
    failure_s: float = 60.0
    rate: float = 200.0  # requests per second across the fleet
    seed: int = 7

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.failure_s


@dataclass
class Remedies:
    """What has been done to the fleet while it runs: a live demo's services recover.

    Empty for ``alertpipe simulate`` (the traffic is fixed in advance). The demo's fleet
    control plane fills it as alertpipe's receivers call it: a rollback of a service at
    event time t returns the service to its old version and to health from t on; a restore
    makes the integrity checks pass again; a bot restart brings the bot back online.
    """

    rolled_back: dict[str, float] = field(default_factory=dict)  # service -> since (epoch s)
    restored: dict[str, float] = field(default_factory=dict)  # service -> since
    restarted_bots: dict[str, float] = field(default_factory=dict)  # bot id -> since

    def fixed(self, remedy: dict[str, float], key: str, t: float) -> bool:
        since = remedy.get(key)
        return since is not None and t >= since


def plan_for(name: ScenarioName) -> tuple[tuple[str, ...], Failure]:
    """The services deployed and the failure that follows, per scenario of the plan."""
    broken = Health(error_rate=0.40)
    slow = Health(median_ms=3800.0, p95_ms=7500.0, rate_factor=0.4, cpu=93.0, mem=88.0)
    plans: dict[ScenarioName, tuple[tuple[str, ...], Failure]] = {
        "healthy": (("chat-api",), Failure()),
        "s1": (
            ("chat-api",),
            Failure(
                services={"chat-api": broken},
                failing_routes=("POST /api/message",),
                error_logs=("500 in POST /api/message: message handler crashed",),
            ),
        ),
        "s2": (
            ("chat-api",),
            Failure(
                integrity_failures=("chat_history",),
                error_logs=("chat history rows missing after migration",),
            ),
        ),
        "s3": (
            ("chat-api",),
            Failure(
                services={"chat-api": slow},
                # The plan's S3 signs: bots time out on the slow chat-api and report errors
                # while their task queue backs up.
                bots_erroring=("bot-5", "bot-6"),
                queue_growth_per_s=12.0,
                error_logs=("timeout waiting for message store",),
            ),
        ),
        "s4": (
            ("chat-api", "bot-runner"),
            Failure(
                services={
                    "chat-api": Health(error_rate=0.35, median_ms=900, p95_ms=6000),
                    "search-api": Health(error_rate=0.30),
                    "bot-runner": Health(error_rate=0.45, cpu=95.0),
                },
                bots_down=("bot-1", "bot-2", "bot-3", "bot-4"),
                queue_growth_per_s=25.0,
                error_logs=("upstream unavailable", "bot worker crashed"),
            ),
        ),
    }
    return plans[name]


class _Generator:
    def __init__(
        self, name: ScenarioName, start: float, timeline: Timeline, remedies: Remedies
    ) -> None:
        self.remedies = remedies
        self.rng = random.Random(timeline.seed)
        self.start = start
        self.timeline = timeline
        self.deployed, self.failure = plan_for(name)
        self.deploy_at = start + timeline.warmup_s
        self.queue_depth = 20.0
        self.bot_status = dict.fromkeys(BOTS, "online")

    def failing(self, t: float) -> bool:
        return t >= self.deploy_at + 1.0

    def rolled_back(self, service: str, t: float) -> bool:
        return self.remedies.fixed(self.remedies.rolled_back, service, t)

    def version(self, service: str, t: float) -> str:
        new = service in self.deployed and t >= self.deploy_at
        return (
            NEW_VERSION[service]
            if new and not self.rolled_back(service, t)
            else OLD_VERSION[service]
        )

    def healed(self, service: str, t: float) -> bool:
        """Rolled back — or, for a service that was not deployed, suffering only from the new
        code elsewhere (a cascade, a queue backing up): healed once all of it is rolled back."""
        if service in self.deployed:
            return self.rolled_back(service, t)
        return all(self.rolled_back(d, t) for d in self.deployed)

    def broken(self, service: str, t: float) -> Health | None:
        """The failure's health for ``service`` at ``t``; None while healthy or once healed."""
        if not self.failing(t) or self.healed(service, t):
            return None
        return self.failure.services.get(service)

    def health(self, endpoint: Endpoint, t: float) -> Health:
        health = self.broken(endpoint.service, t)
        routes = self.failure.failing_routes
        if health is None or (routes and endpoint.route not in routes):
            return Health()
        return health

    def latency(self, health: Health) -> float:
        # Lognormal with the given median and p95 (z(0.95) = 1.645).
        sigma = math.log(health.p95_ms / health.median_ms) / 1.645
        return round(health.median_ms * math.exp(self.rng.gauss(0.0, sigma)), 3)

    def requests(self, t: float) -> Iterator[TelemetryEvent]:
        for endpoint in FLEET:
            health = self.health(endpoint, t)
            expected = self.timeline.rate * endpoint.share * health.rate_factor * TICK_S
            count = int(expected) + (self.rng.random() < expected - int(expected))
            for _ in range(count):
                yield self.request(endpoint, health, t + self.rng.random() * TICK_S)

    def request(self, endpoint: Endpoint, health: Health, ts: float) -> RequestEvent:
        failed = self.rng.random() < health.error_rate
        return RequestEvent(
            kind="request",
            ts=ts,
            service=endpoint.service,
            endpoint=endpoint.route,
            status=self.rng.choice((500, 502, 503)) if failed else 200,
            latency_ms=self.latency(health),
            version=self.version(endpoint.service, ts),
        )

    def gauges(self, t: float) -> Iterator[TelemetryEvent]:
        yield from self.resources(t)
        yield self.queue(t)
        yield from self.bots(t)
        yield from self.integrity(t)
        yield from self.logs(t)

    def resources(self, t: float) -> Iterator[TelemetryEvent]:
        for service, hosts in HOSTS.items():
            base = self.broken(service, t) or Health()
            for host in hosts:
                cpu = min(100.0, max(0.0, base.cpu + self.rng.gauss(0, 3)))
                mem = min(100.0, max(0.0, base.mem + self.rng.gauss(0, 2)))
                yield ResourceEvent(
                    kind="resource",
                    ts=t,
                    service=service,
                    host=host,
                    cpu_pct=round(cpu, 1),
                    mem_pct=round(mem, 1),
                )

    def queue(self, t: float) -> TelemetryEvent:
        growing = self.failing(t) and not self.healed("bot-runner", t)
        if growing and self.failure.queue_growth_per_s:
            self.queue_depth += self.failure.queue_growth_per_s * GAUGE_EVERY_S
        else:
            self.queue_depth = max(0.0, 20.0 + self.rng.gauss(0, 4))
        return QueueEvent(
            kind="queue",
            ts=t,
            service="bot-runner",
            queue="bot-tasks",
            depth=int(self.queue_depth),
        )

    def bots(self, t: float) -> Iterator[TelemetryEvent]:
        for bot in BOTS:
            status = self.bot_health(bot, t)
            changed = status != self.bot_status[bot]
            self.bot_status[bot] = status
            # Report changes at once and a heartbeat every 5 s.
            if changed or int(t - self.start) % 5 == 0:
                yield BotEvent(kind="bot", ts=t, service="bot-runner", bot_id=bot, status=status)

    def bot_health(self, bot: str, t: float) -> str:
        """A bot's status at ``t``: a down bot crashes, then stays offline until restarted;
        an erroring bot reports errors until the failure behind them is healed."""
        if not self.failing(t) or self.healed("bot-runner", t):
            return "online"
        restarted = self.remedies.fixed(self.remedies.restarted_bots, bot, t)
        if bot in self.failure.bots_down and not restarted:
            return "crashed" if self.bot_status[bot] == "online" else "offline"
        return "error" if bot in self.failure.bots_erroring else "online"

    def integrity(self, t: float) -> Iterator[TelemetryEvent]:
        if int(t - self.start) % 5 != 0:
            return
        restored = self.remedies.fixed(self.remedies.restored, "chat-api", t)
        for check in ("chat_history", "message_count"):
            failed = self.failing(t) and check in self.failure.integrity_failures and not restored
            yield IntegrityEvent(
                kind="integrity",
                ts=t,
                service="chat-api",
                check=check,
                ok=not failed,
                detail="132 messages missing since 2.4.0 deploy" if failed else None,
            )

    def logs(self, t: float) -> Iterator[TelemetryEvent]:
        if not self.failing(t) or self.healed("chat-api", t):
            return
        for message in self.failure.error_logs:
            yield LogEvent(kind="log", ts=t, service="chat-api", level="error", message=message)

    def backup(self, dataset: str, kind: str, size: int, taken: float, ts: float) -> BackupEvent:
        backup_id = f"{dataset}-{kind}-{int(taken)}"
        where = "offsite-vault" if kind == "offsite" else "alertpipe-backups"
        return BackupEvent(
            kind="backup",
            ts=ts,
            service=DATASETS[dataset],
            dataset=dataset,
            type=kind,
            status="succeeded",
            backup_id=backup_id,
            taken_at=taken,
            size_bytes=size,
            location=f"s3://{where}/{dataset}/{backup_id}",
        )

    def inventory(self) -> Iterator[TelemetryEvent]:
        """What the backup agent reports as it starts: the newest backup of each type (on the
        schedule, before now) and that the weekly restore test of the full one passed."""
        for dataset, service in DATASETS.items():
            for kind, every, size in BACKUP_SCHEDULE:
                taken = (math.ceil(self.start / every) - 1) * every
                yield self.backup(dataset, kind, size, taken, self.start)
            full = (math.ceil(self.start / 3600.0) - 1) * 3600.0
            yield RestoreTestEvent(
                kind="restore_test",
                ts=self.start,
                service=service,
                backup_id=f"{dataset}-full-{int(full)}",
                dataset=dataset,
                ok=True,
                duration_s=RESTORE_TEST_S,
                environment="staging",
            )

    def backups(self, t: float) -> Iterator[TelemetryEvent]:
        """The backups taken in [t, t + one tick), on the schedule."""
        for kind, every, size in BACKUP_SCHEDULE:
            due = math.ceil(t / every) * every
            if t <= due < t + TICK_S:
                for dataset in DATASETS:
                    yield self.backup(dataset, kind, size, due, due)

    def deploy(self) -> Iterator[TelemetryEvent]:
        for offset, status in ((0.0, "started"), (0.5, "succeeded")):
            for service in self.deployed:
                yield DeployEvent(
                    kind="deploy",
                    ts=self.deploy_at + offset,
                    service=service,
                    version=NEW_VERSION[service],
                    status=status,
                )


def generate(
    name: ScenarioName,
    start: float,
    timeline: Timeline | None = None,
    remedies: Remedies | None = None,
) -> Iterator[TelemetryEvent]:
    """Every event of the scenario, in event-time order, starting at ``start`` (epoch s).

    Lazy: with ``remedies`` filled while it is consumed (the live demo), later events
    reflect what was done to the fleet meanwhile.
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    gen = _Generator(name, start, timeline or Timeline(), remedies or Remedies())
    ticks = round(gen.timeline.total_s / TICK_S)
    per_gauge = round(GAUGE_EVERY_S / TICK_S)
    deploys = list(gen.deploy())
    for tick in range(ticks):
        t = start + tick * TICK_S
        batch = list(gen.requests(t))
        if tick == 0:
            batch.extend(gen.inventory())
        batch.extend(gen.backups(t))
        if tick % per_gauge == 0:
            batch.extend(gen.gauges(t))
        batch.extend(d for d in deploys if t <= d.ts < t + TICK_S)
        batch.sort(key=lambda event: event.ts)
        yield from batch


def with_timeline(timeline: Timeline, **changes: float | int) -> Timeline:
    """A copy of ``timeline`` with some fields changed (CLI helper)."""
    return replace(timeline, **changes)  # type: ignore[arg-type]
