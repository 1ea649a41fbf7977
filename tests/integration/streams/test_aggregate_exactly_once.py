"""Exactly once per pane, by process: kill -9 and restart, two workers, a fenced zombie.

Each test runs ``python -m streams.aggregate`` as real processes over a pre-produced stream
and compares the committed output (read_committed) with the uninterrupted oracle run: the
same panes, byte for byte, each once, and the same dead letters, each once.
"""

from __future__ import annotations

import os
import random
import re
import signal
from functools import partial
from pathlib import Path

import pytest

from tests.integration.streams.conftest import Outcome, Stage, produce, stream, wait_exit
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def assert_exactly(outcome: Outcome, expected: Outcome) -> None:
    """Each revision once and in order; the last revision of every pane as the oracle's."""
    assert outcome.duplicates == []
    assert outcome.out_of_order == []
    assert outcome.panes.keys() == expected.panes.keys()
    assert outcome.panes == expected.panes
    assert outcome.dead_letters == expected.dead_letters


async def test_kill_9_at_a_random_point_and_restart_gives_the_uninterrupted_panes(
    stage: Stage, tmp_path: Path
) -> None:
    messages = stream(100_000, seed=5, malformed_every=50, late_every=211, behind_every=97)
    await produce(stage.bootstrap, stage.telemetry, messages)
    expected = await stage.expected()
    rnd = random.Random()
    for low, high in ((0.05, 0.4), (0.45, 0.75)):  # two violent deaths, then a survivor
        worker = stage.spawn("--instance-id", "worker", log=tmp_path / "worker.log")
        threshold = int(len(messages) * rnd.uniform(low, high))
        await eventually(
            partial(stage.reached, threshold), within_s=60, every_s=0.005,
            what=f"{threshold} input offsets committed",
        )  # fmt: skip
        os.kill(worker.pid, signal.SIGKILL)  # mid-stream, mid-transaction perhaps
        assert await wait_exit(worker) == -signal.SIGKILL
        assert await stage.committed_input() < len(messages)  # it died with work left
    survivor = stage.spawn("--instance-id", "worker", log=tmp_path / "worker.log")
    outcome = await stage.wait_for(expected)
    survivor.send_signal(signal.SIGTERM)
    assert await wait_exit(survivor) == 0
    assert_exactly(outcome, expected)
    published = await stage.published()
    assert_exactly(published, expected)  # and nothing more after the stop
    assert published.refined > 0  # events 1.5 s behind refined panes that had fired
    assert "checkpoint Checkpoint(" in (tmp_path / "worker.log").read_text()  # resumed


async def test_two_workers_together_emit_the_same_panes_as_one(
    stage: Stage, tmp_path: Path
) -> None:
    workers = [stage.spawn(log=tmp_path / f"worker{i}.log") for i in range(2)]
    # Both own partitions before any data exists: otherwise the first to join may consume the
    # whole stream before the second is assigned anything, and "split the work" is untested.
    for i in range(2):
        await eventually(
            partial(_owns_a_partition, tmp_path / f"worker{i}.log"), within_s=60,
            what=f"worker {i} assigned a partition",
        )  # fmt: skip
    messages = stream(100_000, seed=8, malformed_every=40, behind_every=89)
    await produce(stage.bootstrap, stage.telemetry, messages)
    expected = await stage.expected()
    await stage.wait_for(expected)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    assert [await wait_exit(worker) for worker in workers] == [0, 0]
    published = await stage.published()
    assert_exactly(published, expected)
    assert published.refined > 0  # revisions went out from both workers' partitions
    handled = [_events_handled(tmp_path / f"worker{i}.log") for i in range(2)]
    assert all(n > 0 for n in handled), handled  # both did part of the work


async def _owns_a_partition(log: Path) -> bool:
    return log.exists() and ": resume at " in log.read_text()


def _events_handled(log: Path) -> int:
    """The ``events`` count a worker reports when it stops gracefully."""
    match = re.search(r"stopped gracefully: .*'events': (\d+)", log.read_text())
    assert match, log.read_text()[-2000:]
    return int(match.group(1))


async def test_a_paused_zombie_is_fenced_and_cannot_publish_twice(
    stage: Stage, tmp_path: Path
) -> None:
    messages = stream(100_000, seed=9, malformed_every=50)
    await produce(stage.bootstrap, stage.telemetry, messages)
    expected = await stage.expected()
    zombie = stage.spawn(log=tmp_path / "zombie.log")
    threshold = int(len(messages) * random.uniform(0.05, 0.5))
    await eventually(
        partial(stage.reached, threshold), within_s=60, every_s=0.005,
        what=f"{threshold} input offsets committed",
    )  # fmt: skip
    os.kill(zombie.pid, signal.SIGSTOP)  # a long GC pause, a frozen VM...
    try:
        assert await stage.committed_input() < len(messages)  # frozen with work left
        heir = stage.spawn(log=tmp_path / "heir.log")  # takes over after the session timeout
        await stage.wait_for(expected, within_s=90)
    finally:
        os.kill(zombie.pid, signal.SIGCONT)  # wakes up believing it still owns partitions
    # Its next transaction (or the commit when it learns of the rebalance) is fenced: it
    # stops with status 1 instead of publishing what the heir already published.
    assert await wait_exit(zombie, within_s=30) == 1
    assert "ProducerFenced" in (tmp_path / "zombie.log").read_text()
    heir.send_signal(signal.SIGTERM)
    assert await wait_exit(heir) == 0
    assert_exactly(await stage.published(), expected)


async def test_sigterm_mid_stream_commits_everything_handled_and_a_restart_finishes_exactly(
    stage: Stage, tmp_path: Path
) -> None:
    """SIGTERM finishes the batch in hand, flushes and commits: every partition's committed
    checkpoint says it processed exactly as far as the worker had got (its log says how far),
    and a restart continues from there to the uninterrupted output, each pane once."""
    from streams.aggregate.checkpoint import decode_checkpoint

    messages = stream(200_000, seed=11, malformed_every=60)
    await produce(stage.bootstrap, stage.telemetry, messages)
    expected = await stage.expected()
    log = tmp_path / "worker.log"
    worker = stage.spawn("--instance-id", "worker", "--log-level", "INFO", log=log)
    # The first commit (~0.1 s in) while ~100k events take the worker about a second.
    await eventually(partial(stage.reached, 1), within_s=60, every_s=0.002,
                     what="a first commit")  # fmt: skip
    worker.send_signal(signal.SIGTERM)
    assert await wait_exit(worker) == 0
    found = re.findall(r"partition (\d+): released; .*through offset (-?\d+|None)", log.read_text())
    released = {int(p): -1 if o == "None" else int(o) for p, o in found}  # None: had no records
    offsets = await stage.committed_offsets()
    processed = {
        tp.partition: checkpoint.processed_to
        for tp, meta in offsets.items()
        if (checkpoint := decode_checkpoint(meta.metadata))
    }
    assert released and processed == released  # what it handled is what it committed
    assert sum(n + 1 for n in processed.values()) < len(messages)  # stopped mid-stream
    stopped = await stage.published()  # some panes at an earlier revision than the last
    assert stopped.duplicates == [] and stopped.out_of_order == []
    assert stopped.panes.keys() <= expected.panes.keys()
    stage.spawn("--instance-id", "worker", log=log)
    assert_exactly(await stage.wait_for(expected), expected)
