"""Supervised roles ride out their dependency's outage: restarted in place with capped backoff
while the failure is the dependency's and the outage budget lasts, final otherwise; watches
say whether the dependency answers and end the process past the budget."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from streams.aggregate.service import AggregatorFailed
from streams.supervise import (
    DependencyWatch,
    OutageTooLong,
    Supervised,
    SupervisionConfig,
    backoff_s,
    kafka_error,
)
from tests.support.waiting import eventually

FAST = SupervisionConfig(
    outage_budget_s=30, backoff_initial_s=0.01, backoff_max_s=0.05, probe_every_s=0.02
)


class Flaky:
    """A role whose run fails with the errors queued in ``failures`` (one per run), then runs
    until stopped; ``refusals`` are raised by the next starts."""

    name = "stage"

    def __init__(self, *failures: BaseException, refusals: tuple[BaseException, ...] = ()) -> None:
        self.failures = list(failures)
        self.refusals = list(refusals)
        self.journal: list[str] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self.journal.append("start")
        if self.refusals:
            raise self.refusals.pop(0)
        self._stopping.clear()

    async def run(self) -> None:
        self.journal.append("run")
        if self.failures:
            raise self.failures.pop(0)
        await self._stopping.wait()

    async def stop(self) -> None:
        self.journal.append("stop")
        self._stopping.set()

    def health(self) -> dict[str, Any]:
        return {"ready": not self._stopping.is_set(), "own": 1}


class Answers:
    """A dependency check the test switches on and off."""

    def __init__(self) -> None:
        self.up = True

    async def __call__(self) -> None:
        if not self.up:
            raise ConnectionRefusedError("nothing listens")


def _kafka_watch(check: Answers, cfg: SupervisionConfig = FAST) -> DependencyWatch:
    return DependencyWatch("kafka", check, cfg, recognizes=kafka_error)


async def _running(role: Supervised) -> asyncio.Task[None]:
    await role.start()
    return asyncio.create_task(role.run())


async def _finish(role: Supervised, task: asyncio.Task[None]) -> None:
    await role.stop()
    await asyncio.wait_for(task, 5)


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    cfg = SupervisionConfig(backoff_initial_s=0.5, backoff_max_s=10)
    assert [backoff_s(n, cfg) for n in (1, 2, 3, 5, 6, 9)] == [0.5, 1, 2, 8, 10, 10]


async def test_a_kafka_failure_restarts_the_role_in_place_and_it_runs_again() -> None:
    inner = Flaky(AggregatorFailed("stage 1 stopped").with_traceback(None))
    inner.failures[0].__cause__ = KafkaConnectionError("Connection at 127.0.0.1:9 closed")
    role = Supervised(inner, FAST, needs=[_kafka_watch(Answers())])
    task = await _running(role)
    await eventually(lambda: _value(inner.journal), lambda j: j.count("run") == 2)
    assert inner.journal == ["start", "run", "stop", "start", "run"]
    report = role.health()
    assert report["restarts"] == 1 and report["ready"] and report["own"] == 1
    assert "KafkaConnectionError" not in report["last_failure"]  # the error itself is named
    assert report["last_failure"].startswith("AggregatorFailed")
    await _finish(role, task)


async def test_a_failure_that_is_not_the_dependencys_is_final() -> None:
    role = Supervised(Flaky(ValueError("a bug")), FAST, needs=[_kafka_watch(Answers())])
    task = await _running(role)
    with pytest.raises(ValueError, match="a bug"):
        await asyncio.wait_for(task, 5)
    assert role.restarts == 0


@pytest.mark.parametrize(
    ("error", "needs", "dependency"),
    [
        (KafkaConnectionError("closed"), ("kafka",), "kafka"),
        (ConnectionRefusedError("refused"), ("kafka",), "kafka"),  # a network error: its need
        (TimeoutError(), ("kafka",), "kafka"),
        (ConnectionRefusedError("refused"), (), None),  # a role that needs nothing: final
        (TopicAuthorizationFailedError(), ("kafka",), None),  # waiting cannot fix an ACL
        (KeyError("x"), ("kafka",), None),
    ],
)
def test_which_dependency_a_failure_is(
    error: BaseException, needs: tuple[str, ...], dependency: str | None
) -> None:
    watches = [_kafka_watch(Answers()) for _ in needs]
    assert Supervised(Flaky(), FAST, needs=watches).dependency_of(error) == dependency


async def test_failing_past_the_outage_budget_ends_with_outage_too_long() -> None:
    cfg = FAST.model_copy(update={"outage_budget_s": 0.2})
    inner = Flaky(KafkaConnectionError("closed"))
    role = Supervised(inner, cfg, needs=[_kafka_watch(Answers(), cfg)])
    task = await _running(role)
    inner.refusals = [KafkaConnectionError("Unable to bootstrap") for _ in range(1000)]
    with pytest.raises(OutageTooLong, match=r"stage has failed on kafka .*outage budget 0\.2 s"):
        await asyncio.wait_for(task, 5)
    assert inner.journal.count("start") > 2  # it kept trying until the budget was spent


async def test_a_start_that_fails_on_its_dependency_is_retried_and_reported() -> None:
    inner = Flaky(refusals=(KafkaConnectionError("Unable to bootstrap"),) * 3)
    role = Supervised(inner, FAST, needs=[_kafka_watch(Answers())])
    await role.start()
    assert inner.journal == ["start", "stop"] * 3 + ["start"]
    assert role.health()["ready"] and "waiting_for" not in role.health()
    await role.stop()


async def test_a_role_waiting_for_its_dependency_says_so_and_is_not_ready() -> None:
    check = Answers()
    watch = _kafka_watch(check)
    role = Supervised(Flaky(), FAST, needs=[watch])
    task = await _running(role)
    check.up = False
    await watch.probe()
    report = role.health()
    assert report["ready"] is False and report["waiting_for"] == ["kafka"]
    assert watch.health()["ready"] is False
    assert "ConnectionRefusedError: nothing listens" in str(watch.health()["last_error"])
    check.up = True
    await watch.probe()
    assert role.health()["ready"] and "waiting_for" not in role.health()
    assert watch.health() | {"down_for_s": 0} == {
        "ready": True,
        "down_for_s": 0,
        "outages": 1,
        "last_error": "ConnectionRefusedError: nothing listens",
    }
    await _finish(role, task)


async def test_a_restart_waits_no_longer_once_the_dependency_answers_again() -> None:
    """Backoff of a minute, watch probing every 20 ms: the restart follows the return."""
    cfg = SupervisionConfig(backoff_initial_s=60, backoff_max_s=60, probe_every_s=0.02)
    check = Answers()
    check.up = False
    watch = _kafka_watch(check, cfg)
    await watch.start()
    watching = asyncio.create_task(watch.run())
    inner = Flaky(KafkaConnectionError("closed"))
    role = Supervised(inner, cfg, needs=[watch])
    task = await _running(role)
    await eventually(lambda: _value(role.health()), lambda r: r.get("restarts") == 1)
    assert inner.journal == ["start", "run", "stop"]  # waiting out its backoff
    check.up = True
    await eventually(lambda: _value(inner.journal), lambda j: j.count("run") == 2, within_s=10)
    await _finish(role, task)
    await watch.stop()
    await watching


async def test_stopping_during_a_backoff_ends_the_run() -> None:
    cfg = SupervisionConfig(backoff_initial_s=60, backoff_max_s=60)
    inner = Flaky(KafkaConnectionError("closed"))
    role = Supervised(inner, cfg, needs=[_kafka_watch(Answers(), cfg)])
    task = await _running(role)
    await eventually(lambda: _value(role.restarts), lambda n: n == 1)
    await _finish(role, task)
    assert inner.journal == ["start", "run", "stop", "stop"]


async def test_a_watch_ends_its_run_once_the_outage_outlasts_the_budget() -> None:
    cfg = FAST.model_copy(update={"outage_budget_s": 0.1})
    check = Answers()
    watch = _kafka_watch(check, cfg)
    await watch.start()
    check.up = False
    with pytest.raises(OutageTooLong, match=r"kafka has not answered for .*budget 0\.1 s"):
        await asyncio.wait_for(watch.run(), 5)


async def test_a_watch_counts_a_check_that_hangs_as_unreachable() -> None:
    cfg = FAST.model_copy(update={"probe_timeout_s": 0.05})

    async def hangs() -> None:
        await asyncio.sleep(3600)

    watch = DependencyWatch("postgres", hangs, cfg, recognizes=lambda e: False)
    assert await watch.probe() is False
    assert watch.health()["ready"] is False and watch.last_error == "TimeoutError"


async def _value(value: Any) -> Any:
    return value
