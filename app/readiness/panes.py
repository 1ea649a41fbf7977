"""A service's panes of a recent interval, read back from the panes topic on demand.

The readiness gate measures the plan's baselines on the last ten minutes of live panes. It
seeks every partition of the panes topic to the interval's start (``offsets_for_times``) and
reads up to the end offsets as they were when it began — no consumer group, nothing
committed — keeping the panes whose key (the scope id, ``service|dimension|key``) is the
service's: the others are skipped on their key's bytes, unparsed.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.panes import PaneSummary

__all__ = ["KafkaPaneReader"]

_ASSIGN_S = 30.0  # a group-less subscription gets its partitions once the metadata arrives


class KafkaPaneReader:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic

    async def panes(self, service: str, since_ms: int) -> list[PaneSummary]:
        """Every pane of ``service`` published since ``since_ms`` (by message time) up to
        now; the caller keeps those it needs by their own times."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",  # panes of aborted transactions never count
            client_id="alertpipe-readiness",
        )
        await consumer.start()
        try:
            todo = await self._seek(consumer, since_ms)
            return await _read(consumer, todo, f"{service}|".encode())
        finally:
            with contextlib.suppress(asyncio.CancelledError):  # aiokafka's own, on stop
                await consumer.stop()

    async def _seek(self, consumer: AIOKafkaConsumer, start_ms: int) -> dict[TopicPartition, int]:
        """Take every partition of the topic (none: no topic yet, no panes) and seek each to
        the first message at or after ``start_ms``; the offsets to read up to."""
        # topics() fetches the cluster's metadata without keeping it for partitions_for_topic;
        # a group-less subscription gets every partition once its own metadata arrives.
        if self._topic not in await consumer.topics():
            return {}
        consumer.subscribe([self._topic])
        deadline = asyncio.get_running_loop().time() + _ASSIGN_S
        while not consumer.assignment() and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=100)
        partitions = sorted(consumer.assignment())
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(dict.fromkeys(partitions, max(0, start_ms)))
        todo = {}
        for tp in partitions:
            found = starts.get(tp)
            if found is not None and found.offset < ends[tp]:
                consumer.seek(tp, found.offset)
                todo[tp] = ends[tp]
        return todo


async def _read(
    consumer: AIOKafkaConsumer, todo: dict[TopicPartition, int], prefix: bytes
) -> list[PaneSummary]:
    panes: list[PaneSummary] = []
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=10_000)
        for tp, records in batch.items():
            end = todo.get(tp, 0)
            for record in records:
                if record.offset < end and record.key and record.key.startswith(prefix):
                    pane = _pane(record.value)
                    if pane is not None and pane.scope.drill is None:  # a drill's is not live
                        panes.append(pane)
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]
    return panes


def _pane(value: bytes | None) -> PaneSummary | None:
    if value is None:
        return None
    try:
        return PaneSummary.model_validate_json(value)
    except ValidationError:
        return None
