"""Configuration of the aggregator service (built by app/ from Settings, or by __main__)."""

from __future__ import annotations

from dataclasses import dataclass

from streams.aggregate.partition import PaneRules

__all__ = ["AggregatorConfig"]


@dataclass(frozen=True)
class AggregatorConfig:
    """Where stage 1 reads and writes, and its event-time rules.

    The four rule fields carry the names of ``app.settings.AggregatorSettings`` so the
    composition root can pass ``**settings.aggregator.model_dump()``.
    """

    bootstrap: str
    telemetry_topic: str = "telemetry"
    panes_topic: str = "metrics.panes"
    dead_letter_topic: str = "telemetry.dlq"
    group_id: str = "alertpipe-aggregate"
    # transactional.id = "{prefix}.{telemetry topic}.{partition}": one per input partition,
    # so whoever owns a partition fences every earlier owner of it (zombie fencing).
    transactional_id_prefix: str | None = None  # None: the group id
    pane_ms: int = 1000
    allowed_lateness_ms: int = 5000
    idle_timeout_ms: int = 3000
    max_future_skew_ms: int = 60_000
    commit_interval_ms: int = 100  # at most one transaction per partition per interval
    # Backpressure: past this many closed panes and dead letters waiting for a transaction,
    # the run loop commits them itself before fetching more (memory stays bounded).
    max_pending_output: int = 5_000
    max_batch_records: int = 20_000
    poll_timeout_ms: int = 100  # also how often idle partitions are checked
    session_timeout_ms: int = 10_000  # a killed worker's partitions move after this
    heartbeat_interval_ms: int = 3_000
    # Static membership (KIP-345): a restarted worker with the same instance id gets its
    # partitions back at once, without a rebalance (but a dead one holds them until timeout).
    group_instance_id: str | None = None
    client_id: str = "alertpipe-aggregate"
    # A transaction normally takes ~40 ms; one that has not committed by this is taken as
    # lost with the broker (aiokafka can wait on it forever once its sender has died): it is
    # aborted and the stage fails, to be restarted from its last committed transaction.
    transaction_timeout_ms: int = 10_000

    @property
    def rules(self) -> PaneRules:
        return PaneRules(
            pane_ms=self.pane_ms,
            allowed_lateness_ms=self.allowed_lateness_ms,
            idle_timeout_ms=self.idle_timeout_ms,
            max_future_skew_ms=self.max_future_skew_ms,
        )

    def transactional_id(self, partition: int) -> str:
        prefix = self.transactional_id_prefix or self.group_id
        return f"{prefix}.{self.telemetry_topic}.{partition}"
