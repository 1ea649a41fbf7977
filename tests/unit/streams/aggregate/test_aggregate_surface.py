"""The public surface of stage 1 is pinned: the composition root imports exactly these."""

import streams.aggregate


def test_public_surface() -> None:
    assert sorted(streams.aggregate.__all__) == [
        "Aggregator",
        "AggregatorConfig",
        "AggregatorFailed",
        "AggregatorMetrics",
        "PaneRules",
        "PartitionAggregator",
        "tune_gc",
    ]
    for name in streams.aggregate.__all__:
        assert getattr(streams.aggregate, name) is not None


def test_config_rules_carry_the_settings_names() -> None:
    # app builds AggregatorConfig(**settings.aggregator.model_dump(), ...): same field names.
    config = streams.aggregate.AggregatorConfig(
        bootstrap="b", pane_ms=500, allowed_lateness_ms=1, idle_timeout_ms=2, max_future_skew_ms=3
    )
    assert config.rules == streams.aggregate.PaneRules(500, 1, 2, 3)
    assert config.transactional_id(4) == "alertpipe-aggregate.telemetry.4"
