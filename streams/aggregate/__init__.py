"""Stage 1: telemetry → validated events → event-time panes, exactly once per pane.

Public surface (what the composition root wires): ``Aggregator`` with ``AggregatorConfig``
(lifecycle in ``streams.aggregate.service``), ``AggregatorFailed``, ``AggregatorMetrics``
and ``tune_gc``; the pure core ``PartitionAggregator`` with ``PaneRules`` for tests and
tools. ``python -m streams.aggregate`` runs the stage alone.
"""

from streams.aggregate.config import AggregatorConfig
from streams.aggregate.metrics import AggregatorMetrics
from streams.aggregate.partition import PaneRules, PartitionAggregator
from streams.aggregate.service import Aggregator, AggregatorFailed, tune_gc

__all__ = [
    "Aggregator",
    "AggregatorConfig",
    "AggregatorFailed",
    "AggregatorMetrics",
    "PaneRules",
    "PartitionAggregator",
    "tune_gc",
]
