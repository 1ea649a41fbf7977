"""Consumer lag: how many records each assigned partition is behind its end.

The end is the partition's last stable offset under ``read_committed`` (records of open or
aborted transactions are not the consumer's to read), else its high watermark — both as the
last fetch response reported them. Partitions that have not been fetched yet are left out
rather than guessed. Reading the position never waits on the broker: a partition whose
position is being reset is left out too.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

__all__ = ["consumer_lag"]


def consumer_lag(consumer: AIOKafkaConsumer | None, topic: str | None = None) -> dict[int, int]:
    """Records behind, by partition number, for every partition this consumer is assigned (of
    ``topic`` only, when given: a consumer of two topics has two partitions 0)."""
    if consumer is None:
        return {}
    found: dict[int, int] = {}
    for tp in consumer.assignment():
        if topic is not None and tp.topic != topic:
            continue
        try:
            # The position as aiokafka keeps it; ``await position()`` would reset and wait.
            state = consumer._subscription.subscription.assignment.state_value(tp)
        except (AttributeError, KeyError):
            continue
        if state is None or not state.has_valid_position:
            continue
        end = state.lso if state.lso is not None and state.lso >= 0 else state.highwater
        if end is not None:
            found[tp.partition] = max(0, end - state.position)
    return found
