"""Topics are declared at start with the configured partitions and retention, idempotently."""

from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from app.settings import Settings, TopicSettings
from app.topics import declared_topics
from streams.topics import TopicSpec, ensure_topics


async def _describe(bootstrap: str, name: str) -> tuple[int, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([name])
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        entries = response.resources[0][4]
        return len(topic["partitions"]), {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()


async def test_declared_topics_are_created_with_partitions_and_retention(
    bootstrap: str, unique: Callable[[str], str]
) -> None:
    names = {
        field: unique(field)
        for field in ("telemetry", "dead_letter", "panes", "decisions", "incidents")
    }
    topics = TopicSettings(partitions=4, retention_ms=3_600_000, **names)
    specs = declared_topics(Settings(topics=topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert sorted(await ensure_topics(bootstrap, specs)) == sorted(names.values())
        assert await ensure_topics(bootstrap, specs) == []  # idempotent
        for name in names.values():
            partitions, config = await _describe(bootstrap, name)
            assert partitions == 4
            assert config["retention.ms"] == "3600000"
            # The ingest topic stamps messages with the broker's clock (future-skew check).
            stamped = "LogAppendTime" if name == names["telemetry"] else "CreateTime"
            assert config["message.timestamp.type"] == stamped, name
    finally:
        await admin.start()
        await admin.delete_topics(list(names.values()))
        await admin.close()


async def test_created_topics_are_led_when_ensure_topics_returns(
    bootstrap: str, unique: Callable[[str], str]
) -> None:
    """A caller may read a topic's metadata the moment it is created (the evaluator checks its
    state topic's partition count at once): every partition has a leader by then."""
    names = [unique(f"led-{n}") for n in range(8)]
    await ensure_topics(bootstrap, [TopicSpec(name, 3) for name in names])
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = {entry["topic"]: entry for entry in await admin.describe_topics(names)}
        for name in names:
            assert described[name]["error_code"] == 0, name
            leaders = [p["leader"] for p in described[name]["partitions"]]
            assert len(leaders) == 3 and min(leaders) >= 0, (name, leaders)
    finally:
        await admin.delete_topics(names)
        await admin.close()
