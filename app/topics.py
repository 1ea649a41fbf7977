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
    names = (t.telemetry, t.dead_letter, t.panes, t.decisions, t.incidents)
    return [TopicSpec(name, t.partitions, t.replication_factor, retention) for name in names]
