"""Panes of a past interval, read back from the panes topic on demand.

The readiness gate measures a service's last ten minutes of live panes; a review replays the
panes an incident's traffic produced. Both read the same way: seek every partition of the
panes topic to the interval's start (``offsets_for_times``) and read up to the end offsets
as they were when the read began — no consumer group, nothing committed, transactions
``read_committed`` — keeping the latest revision of each pane (a refinement replaces the
pane it refines). With a ``service``, the other services' panes are skipped on their key's
bytes (the scope id, ``service|dimension|key``), unparsed.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.panes import PaneSummary

__all__ = ["KafkaPaneReader", "read_panes"]

_ASSIGN_S = 30.0  # a group-less subscription gets its partitions once the metadata arrives


async def read_panes(
    bootstrap: str,
    topic: str,
    since_ms: int,
    *,
    service: str | None = None,
    drill: str | None = None,
    until_ms: int | None = None,
    client_id: str = "alertpipe-panes",
) -> list[PaneSummary]:
    """The latest revision of every pane published since ``since_ms`` (by message time) up
    to now, of ``service`` when given, and of ``drill`` (None: the real traffic only),
    starting before ``until_ms`` when given (later ones are not kept in memory). The caller
    keeps those it needs by their own times."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",  # panes of aborted transactions never count
        client_id=client_id,
    )
    await consumer.start()
    try:
        todo = await _seek(consumer, topic, since_ms)
        prefix = f"{service}|".encode() if service is not None else b""
        return await _read(consumer, todo, prefix, drill, until_ms)
    finally:
        await _stop(consumer)


class KafkaPaneReader:
    """A service's live panes since a time (the readiness gate's reader)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic

    async def panes(self, service: str, since_ms: int) -> list[PaneSummary]:
        return await read_panes(
            self._bootstrap, self._topic, since_ms, service=service, client_id="alertpipe-readiness"
        )


async def _seek(consumer: AIOKafkaConsumer, topic: str, start_ms: int) -> dict[TopicPartition, int]:
    """Take every partition of the topic (none: no topic yet, no panes) and seek each to the
    first message at or after ``start_ms``; the offsets to read up to."""
    # topics() fetches the cluster's metadata without keeping it for partitions_for_topic;
    # a group-less subscription gets every partition once its own metadata arrives.
    if topic not in await consumer.topics():
        return {}
    consumer.subscribe([topic])
    deadline = asyncio.get_running_loop().time() + _ASSIGN_S
    while not consumer.assignment() and asyncio.get_running_loop().time() < deadline:
        await consumer.getmany(timeout_ms=100)
    partitions = sorted(consumer.assignment())
    if not partitions:
        return {}
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.offsets_for_times(dict.fromkeys(partitions, max(0, start_ms)))
    todo: dict[TopicPartition, int] = {}
    for tp in partitions:
        found = starts.get(tp)
        if found is not None and found.offset < ends[tp]:
            consumer.seek(tp, found.offset)
            todo[tp] = ends[tp]
    return todo


async def _read(
    consumer: AIOKafkaConsumer,
    todo: dict[TopicPartition, int],
    prefix: bytes,
    drill: str | None,
    until_ms: int | None,
) -> list[PaneSummary]:
    latest: dict[str, PaneSummary] = {}
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=10_000)
        for tp, records in batch.items():
            end = todo.get(tp, 0)
            for record in records:
                if record.offset >= end or not (record.key or b"").startswith(prefix):
                    continue
                pane = _pane(record.value)
                if pane is None or pane.scope.drill != drill:
                    continue
                if until_ms is not None and pane.start_ms >= until_ms:
                    continue
                held = latest.get(pane.pane_id)
                if held is None or held.revision < pane.revision:
                    latest[pane.pane_id] = pane
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]
    return list(latest.values())


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


def _pane(value: bytes | None) -> PaneSummary | None:
    if value is None:
        return None
    try:
        return PaneSummary.model_validate_json(value)
    except ValidationError:
        return None
