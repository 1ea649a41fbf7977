"""Topic declarations: every topic alertpipe reads or writes, created at start if missing.

Created with the configured partitions and retention; existing topics are left as they are
(changing partitions of a keyed topic would reshuffle keys, so that is an operator's call).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.errors import OperationalError

__all__ = ["TopicMissing", "TopicSpec", "TopicUnusable", "ensure_topics"]

log = logging.getLogger(__name__)

_ALREADY_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_VISIBLE_WITHIN_S = 30.0


class TopicMissing(OperationalError, RuntimeError):
    """A topic a stage reads (or sizes its state topic by) does not exist yet."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist; create it first")
        self.topic = topic


class TopicUnusable(OperationalError, RuntimeError):
    """A topic could not be created, has no leader, or has a shape its stage cannot use."""


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
            raise TopicUnusable(f"creating topic {name!r} failed: error {code} {message}")


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
        await _until_visible(admin, {s.name: s.partitions for s in missing})
        created = [spec.name for spec in missing]
        log.debug("created topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()


async def _until_visible(admin: AIOKafkaAdminClient, expected: dict[str, int]) -> None:
    """Wait until every new topic has all its partitions led: a created topic reaches the
    broker's metadata a moment later, and a caller that reads it at once would see nothing."""
    deadline = time.monotonic() + _VISIBLE_WITHIN_S
    pending = dict(expected)
    while True:
        for entry in await admin.describe_topics(list(pending)):
            name = entry.get("topic")
            partitions = entry.get("partitions") or []
            led = [p for p in partitions if p.get("leader", -1) >= 0]
            if name in pending and not entry.get("error_code") and len(led) >= pending[name]:
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TopicUnusable(
                f"topics {', '.join(sorted(pending))} were created but have no leader after "
                f"{_VISIBLE_WITHIN_S:g} s; is the broker healthy?"
            )
        await asyncio.sleep(0.1)
