"""Stage 1: telemetry → validated events → event-time panes, exactly once per pane.

Public surface (what the composition root wires): ``Aggregator`` with ``AggregatorConfig``
(lifecycle in ``streams.aggregate.service``), ``AggregatorFailed``, ``AggregatorMetrics``
and ``tune_gc``; the pure core ``PartitionAggregator`` with ``PaneRules`` for tests and
tools. ``python -m streams.aggregate`` runs the stage alone.
"""

from streams.aggregate import native

# Before the imports below: they load the compiled hot modules when a current build exists.
native.use(__path__)

from streams.aggregate.config import AggregatorConfig  # noqa: E402
from streams.aggregate.metrics import AggregatorMetrics  # noqa: E402
from streams.aggregate.partition import PaneRules, PartitionAggregator  # noqa: E402
from streams.aggregate.service import Aggregator, AggregatorFailed, tune_gc  # noqa: E402

__all__ = [
    "Aggregator",
    "AggregatorConfig",
    "AggregatorFailed",
    "AggregatorMetrics",
    "PaneRules",
    "PartitionAggregator",
    "tune_gc",
]
