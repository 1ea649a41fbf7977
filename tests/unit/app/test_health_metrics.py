"""/metrics: every numeric field of every role's health report as a Prometheus sample."""

from app.api.health import render_metrics


def test_numbers_flags_and_labelled_counters_render_and_text_is_left_out() -> None:
    text = render_metrics(
        {
            "aggregator": {
                "ready": True,
                "events": 1200,
                "dead_letters": {"late": 3, 'bad "json"': 1},
                "failure": None,
                "partitions": [0, 1],
            },
            "evaluator": {"alerts": {"no_data": 2}},
            "rollback-orchestrator": {"ready": False, "last_error": "boom", "ticks": 7},
        }
    )
    assert text.splitlines() == [
        'alertpipe_aggregator_dead_letters{reason="bad \\"json\\""} 1',
        'alertpipe_aggregator_dead_letters{reason="late"} 3',
        "alertpipe_aggregator_events 1200",
        "alertpipe_aggregator_ready 1",
        'alertpipe_evaluator_alerts{key="no_data"} 2',  # no label name declared: "key"
        "alertpipe_rollback_orchestrator_ready 0",
        "alertpipe_rollback_orchestrator_ticks 7",
    ]
