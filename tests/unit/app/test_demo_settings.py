"""The demo runs as a drill: its own namespace, the plan's clock compressed, control to the fleet."""

from app.demo import DEMO_SCHEMA, demo_namespace, drill_settings
from app.settings import Settings


def test_the_demo_namespace_isolates_topics_groups_and_tables() -> None:
    demo = demo_namespace(Settings(), "abc123")
    assert demo.topics.telemetry == "demo-abc123.telemetry"
    assert demo.topics.incidents == "demo-abc123.incidents"
    assert demo.evaluator.state_topic == "demo-abc123.alerts.state"
    assert demo.group_prefix == "alertpipe-demo-abc123"
    schema = f"{DEMO_SCHEMA}_abc123"  # a schema per run: two demos at once share no table
    assert demo.database_schema == schema and demo.dsn.endswith(f"search_path={schema}")


def test_a_drill_compresses_the_plans_clock_but_not_the_verify_window() -> None:
    plain = Settings()
    drill = drill_settings(plain, "http://127.0.0.1:9", 10)
    assert drill.response.investigation_s == plain.response.investigation_s / 10 == 12
    assert drill.response.final_contact_after_s == 120
    assert drill.rollback.verify_budget_s == 30 and drill.rollback.verify_window_s == 15
    assert drill.rollback_url is not None
    assert drill.rollback_url.get_secret_value() == "http://127.0.0.1:9/rollback"
    assert drill.pager_url is None  # pages still go where the user points them, or the console
    assert drill.http_port == 0
