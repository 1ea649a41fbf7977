"""The topic set alertpipe declares, derived from settings."""

from __future__ import annotations

from app.settings import Settings
from streams.topics import TopicSpec

__all__ = ["declared_topics"]


def declared_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic of the pipeline, with configured partitions and retention.

    All keyed topics share one partition count so that a key (service, scope) lands on the
    same partition number everywhere — stage-local state stays co-partitioned.
    """
    t = settings.topics
    retention = {"retention.ms": str(t.retention_ms)}
    # Stage 1 judges "too far in the future" against the message timestamp and advances a
    # partition's watermark no further than it: on the ingest topic that is the broker's
    # clock, so a producer whose clock runs ahead cannot make everyone else's events late.
    ingest = {**retention, "message.timestamp.type": "LogAppendTime"}
    specs = [TopicSpec(t.telemetry, t.partitions, t.replication_factor, ingest)]
    names = (t.dead_letter, t.panes, t.decisions, t.incidents)
    specs += [TopicSpec(name, t.partitions, t.replication_factor, retention) for name in names]
    return specs
