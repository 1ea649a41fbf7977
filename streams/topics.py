"""Topic declarations: every topic alertpipe reads or writes, created at start if missing.

Created with the configured partitions and retention; existing topics are left as they are
(changing partitions of a keyed topic would reshuffle keys, so that is an operator's call).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = ["TopicSpec", "ensure_topics"]

log = logging.getLogger(__name__)

_ALREADY_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


async def _existing(admin: AIOKafkaAdminClient) -> set[str]:
    return set(await admin.list_topics())


def _check_response(response: object) -> None:
    for topic_error in getattr(response, "topic_errors", ()):
        name, code = topic_error[0], topic_error[1]
        if code not in (0, _ALREADY_EXISTS):
            message = topic_error[2] if len(topic_error) > 2 else ""
            raise RuntimeError(f"creating topic {name!r} failed: error {code} {message}")


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="alertpipe-admin")
    await admin.start()
    try:
        existing = await _existing(admin)
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config))
            for s in missing
        ]
        _check_response(await admin.create_topics(new))
        created = [spec.name for spec in missing]
        log.debug("created topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()
