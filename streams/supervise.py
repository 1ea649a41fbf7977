"""Riding out Kafka and PostgreSQL outages: dependency watches and supervised roles.

    kafka = DependencyWatch("kafka", kafka_answers(bootstrap), cfg, recognizes=kafka_error)
    role = Supervised(ServiceRole("aggregator", aggregator), cfg, needs=(kafka,))
    await run_roles([kafka, role])

A watch reports not ready while its server does not answer (``/health`` 503 names it) and
ends the process once the outage passes ``outage_budget_s``, for systemd or Kubernetes to
restart it. A supervised role that fails because of a dependency it needs is stopped and
started again in place after a capped backoff, cut short when the watch sees the server back;
stream stages resume from their last commit, as a restarted process would. Any other failure
is final. Why in the process rather than by exiting: design.md record 39.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka import errors as kafka_errors
from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import OperationalError
from streams.lifecycle import Role, bounded

__all__ = [
    "DependencyWatch",
    "OutageTooLong",
    "Supervised",
    "SupervisionConfig",
    "backoff_s",
    "causes",
    "kafka_answers",
    "kafka_error",
]

log = logging.getLogger(__name__)


class SupervisionConfig(BaseModel):
    """Kafka and PostgreSQL outages ridden out by every role, and stopping on SIGTERM."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outage_budget_s: float = Field(
        default=300.0,
        gt=0,
        description="how long Kafka or PostgreSQL may stay unreachable (roles retry, /health "
        "answers 503 naming it) before the process exits non-zero for its supervisor to "
        "restart it",
    )
    backoff_initial_s: float = Field(
        default=0.5, gt=0, description="first wait before a failed role is started again"
    )
    backoff_max_s: float = Field(
        default=10.0,
        gt=0,
        description="longest wait between restarts (doubling from the first); a role that ran "
        "longer than this before failing starts a fresh outage budget",
    )
    probe_every_s: float = Field(
        default=1.0, gt=0, description="how often each process checks that its servers answer"
    )
    probe_timeout_s: float = Field(
        default=5.0, gt=0, description="a check not answered within this counts as unreachable"
    )
    stop_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=12,
        description="on SIGTERM the roles get this long to stop gracefully; what hangs is "
        "abandoned, and the process exits at most 3 s later whatever its clients do (so "
        "within 15 s)",
    )


class OutageTooLong(OperationalError, RuntimeError):
    """A dependency stayed unreachable beyond the outage budget; restart the process."""


def backoff_s(attempt: int, cfg: SupervisionConfig) -> float:
    """The wait before restart ``attempt`` (1-based): initial × 2^(attempt-1), capped."""
    return float(min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** max(0, attempt - 1)))


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every error it was raised from or while handling, once each."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


# aiokafka errors that waiting cannot fix: the configuration (credentials, ACLs, a broker
# too old) is wrong. Every other Kafka error is taken as the broker's trouble, and retried.
_KAFKA_FATAL: tuple[type[BaseException], ...] = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.InvalidConfigurationError,
)


def kafka_error(error: BaseException) -> bool:
    """An aiokafka error that a broker coming back can cure."""
    return isinstance(error, kafka_errors.KafkaError) and not isinstance(error, _KAFKA_FATAL)


def _network_error(error: BaseException) -> bool:
    return isinstance(error, OSError | TimeoutError)


def kafka_answers(bootstrap: str, timeout_s: float) -> Callable[[], Awaitable[None]]:
    """A check that raises unless ``bootstrap`` answers a metadata request."""

    async def check() -> None:
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap,
            client_id="alertpipe-watch",
            request_timeout_ms=max(1000, int(timeout_s * 1000)),
        )
        try:
            await client.bootstrap()
        finally:
            await bounded(client.close(), timeout_s, "closing the Kafka watch's client")

    return check


class DependencyWatch:
    """A role that knows whether one dependency answers (see the module docstring)."""

    def __init__(
        self,
        name: str,
        check: Callable[[], Awaitable[Any]],
        cfg: SupervisionConfig,
        *,
        recognizes: Callable[[BaseException], bool],
    ) -> None:
        self.name = name
        self.recognizes = recognizes
        self._check = check
        self._cfg = cfg
        self._stopping = asyncio.Event()
        self._answering = asyncio.Event()
        self._answering.set()
        self.up = True
        self.down_since: float | None = None
        self.outages = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        self._stopping.clear()
        await self.probe()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self._cfg.probe_every_s)
                return
            except TimeoutError:
                pass
            await self.probe()
            self._raise_if_over_budget()

    async def stop(self) -> None:
        self._stopping.set()

    async def probe(self) -> bool:
        """Ask once; True when the dependency answered."""
        try:
            await asyncio.wait_for(self._check(), self._cfg.probe_timeout_s)
        except Exception as error:
            self._down(error)
            return False
        if not self.up:
            log.warning("%s answers again after %.1f s", self.name, self.down_for_s)
        self.up, self.down_since = True, None
        self._answering.set()
        return True

    async def answers(self) -> None:
        """Return once the dependency answers (at once while it does)."""
        await self._answering.wait()

    def _down(self, error: BaseException) -> None:
        self.last_error = f"{type(error).__name__}: {error}".rstrip(": ")
        if self.up:
            self.outages += 1
            self.down_since = time.monotonic()
            log.warning(
                "%s does not answer (%s); roles that need it wait", self.name, self.last_error
            )
        self.up = False
        self._answering.clear()

    @property
    def down_for_s(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def _raise_if_over_budget(self) -> None:
        if not self.up and self.down_for_s > self._cfg.outage_budget_s:
            raise OutageTooLong(
                f"{self.name} has not answered for {self.down_for_s:.1f} s (outage budget "
                f"{self._cfg.outage_budget_s:g} s, ALERTPIPE_SUPERVISION__OUTAGE_BUDGET_S); "
                f"last error: {self.last_error}"
            )

    def health(self) -> dict[str, Any]:
        return {
            "ready": self.up,
            "down_for_s": round(self.down_for_s, 1),
            "outages": self.outages,
            "last_error": self.last_error,
        }


class Supervised:
    """One role, restarted in place when a dependency it needs fails it (module docstring).

    ``role`` is the wrapped role (the composition root hands it to tests and the API)."""

    def __init__(
        self, role: Role, cfg: SupervisionConfig, *, needs: Sequence[DependencyWatch] = ()
    ) -> None:
        self.role = role
        self.name = role.name
        self.needs = tuple(needs)
        self._cfg = cfg
        self._stopping = asyncio.Event()
        self._failing_since: float | None = None
        self._waiting: str | None = None  # the dependency a restart waits for
        self.restarts = 0
        self.last_failure: str | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        await self._start_until_up()

    async def run(self) -> None:
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                await self.role.run()
                return
            except Exception as error:
                if self._stopping.is_set():
                    raise  # a failure while stopping is the runner's to report
                if time.monotonic() - began > self._cfg.backoff_max_s:
                    self._failing_since = None  # it had recovered: a new outage
                self._judge(error)
                self.restarts += 1
                await self._stop_role()
                if await self._start_until_up() and self._stopping.is_set():
                    await self._stop_role()  # started again while being stopped

    async def stop(self) -> None:
        self._stopping.set()
        await self.role.stop()

    def health(self) -> dict[str, Any]:
        inner = self.role.health()
        waiting = sorted({w.name for w in self.needs if not w.up} | self._restart_waits())
        report = {**inner, "ready": bool(inner.get("ready", True)) and not waiting}
        report["restarts"] = self.restarts
        if waiting:
            report["waiting_for"] = waiting
        if self.last_failure is not None:
            report["last_failure"] = self.last_failure
        return report

    def _restart_waits(self) -> set[str]:
        return {self._waiting} if self._waiting is not None else set()

    # --- restarts ------------------------------------------------------------------------

    def dependency_of(self, error: BaseException) -> str | None:
        """The needed dependency that ``error`` comes from; None: not a dependency's failure."""
        chain = list(causes(error))
        for watch in self.needs:
            if any(watch.recognizes(e) for e in chain):
                return watch.name
        if self.needs and any(_network_error(e) for e in chain):
            return self.needs[0].name
        return None

    def _judge(self, error: Exception) -> None:
        """Raise ``error`` when a restart cannot help or the outage budget is spent."""
        self.last_failure = f"{type(error).__name__}: {error}"
        dependency = self.dependency_of(error)
        if dependency is None:
            log.error("%s failed: %r; not a dependency's failure, so final", self.name, error)
            raise error
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        failing_s = now - self._failing_since
        if failing_s > self._cfg.outage_budget_s:
            raise OutageTooLong(
                f"{self.name} has failed on {dependency} for {failing_s:.1f} s (outage budget "
                f"{self._cfg.outage_budget_s:g} s): {error!r}"
            ) from error
        self._waiting = dependency
        log.warning("%s failed on %s (%r); restarting it", self.name, dependency, error)

    async def _stop_role(self) -> None:
        await bounded(self.role.stop(), self._cfg.stop_timeout_s, f"stopping {self.name}")

    async def _start_until_up(self) -> bool:
        """True once the role started; False when stopped while waiting to start it."""
        attempt = 0
        while True:
            if self._waiting is not None:
                attempt += 1
                if await self._stopped_within(backoff_s(attempt, self._cfg)):
                    return False
            try:
                await self.role.start()
            except Exception as error:
                self._judge(error)  # a first start that fails on its dependency waits too
                await self._stop_role()  # release what the failed start holds
                continue
            if self._waiting is not None:
                log.warning("%s started again (restart %d)", self.name, self.restarts)
            self._waiting = None
            return True

    async def _stopped_within(self, wait_s: float) -> bool:
        """Wait ``wait_s``, or less: until stopped (True), or until the dependency the
        restart waits for answers again, when its watch sees it down now."""
        ends: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stopping.wait())]
        ends += [
            asyncio.ensure_future(w.answers())
            for w in self.needs
            if w.name == self._waiting and not w.up
        ]
        try:
            await asyncio.wait(ends, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for end in ends:
                end.cancel()
        return self._stopping.is_set()
