"""The panes of an interval, read back from the panes topic (by time, every partition).

A review's impact figures come from the panes the incident's traffic produced: this reader
seeks every partition of the panes topic to the interval's start (``offsets_for_times``) and
reads up to the end offsets as they were when it began, keeping the panes of one service (and
one drill, or the real traffic) that start inside the interval.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.panes import PaneSummary

__all__ = ["read_panes"]


async def read_panes(
    bootstrap: str, topic: str, start_ms: int, end_ms: int, drill: str | None
) -> list[PaneSummary]:
    """Every pane of the drill (None: the real traffic) starting in [start_ms, end_ms)."""
    consumer = AIOKafkaConsumer(
        topic,  # no group: every partition is assigned, as the verify probe's are
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="alertpipe-review",
    )
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30.0
        while not consumer.assignment() and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=100)
        tps = sorted(consumer.assignment())
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, max(0, start_ms - 60_000)))
        todo = {}
        for tp in tps:
            found = starts.get(tp)
            if found is None or found.offset >= ends[tp]:
                continue
            consumer.seek(tp, found.offset)
            todo[tp] = ends[tp]
        return await _read(consumer, todo, start_ms, end_ms, drill)
    finally:
        await _stop(consumer)


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """Stop the consumer. aiokafka's group-less consumer can raise a CancelledError of its own
    from ``stop`` (its coordinator cancels and awaits an internal task): that one is not a
    cancellation of ours and must not end the caller; a real one still propagates."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def _read(
    consumer: AIOKafkaConsumer,
    todo: dict[TopicPartition, int],
    start_ms: int,
    end_ms: int,
    drill: str | None,
) -> list[PaneSummary]:
    """The latest revision of each pane (a refinement replaces the pane it refines)."""
    latest: dict[str, PaneSummary] = {}
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=5000)
        for tp, records in batch.items():
            for record in records:
                if record.offset >= todo.get(tp, 0):
                    continue
                pane = _pane(record.value)
                ours = pane is not None and pane.scope.drill == drill
                if ours and pane is not None and start_ms <= pane.start_ms < end_ms:
                    held = latest.get(pane.pane_id)
                    if held is None or held.revision < pane.revision:
                        latest[pane.pane_id] = pane
            if records and records[-1].offset + 1 >= todo.get(tp, 0):
                todo.pop(tp, None)
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                todo.pop(tp)
    return list(latest.values())


def _pane(value: bytes | None) -> PaneSummary | None:
    if value is None:
        return None
    try:
        return PaneSummary.model_validate_json(value)
    except ValidationError:
        return None
