"""What a restarted worker needs to neither re-publish nor double-count a partition.

It travels as the *metadata* of the consumer-group offset, committed inside the same Kafka
transaction as the panes and dead letters it accounts for (``send_offsets_to_transaction``
accepts ``(offset, metadata)``), so the three can never disagree (docs/design.md record 1).
The committed offset is the earliest offset still inside an open pane (replay starts there);
``processed_to`` is the last offset already handled. On restart, events up to
``processed_to`` are re-read only to rebuild open panes: those whose pane is closed or that
were dead-lettered are skipped, and those in a pane that had fired are in a published
revision of it, so a rebuilt pane owes no refinement for them. Version 2 records which panes
fired (``fired_before``); a version-1 checkpoint reads as "fired = closed" (record 25).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = ["Checkpoint", "decode_checkpoint", "encode_checkpoint"]

_VERSION = 2


@dataclass(frozen=True)
class Checkpoint:
    processed_to: int  # last offset handled (-1: none)
    max_event_ms: int  # highest accepted event time (capped at message time): the watermark's base
    closed_before: int  # every pane ending at or before this was closed (its last revision out)
    fired_before: int  # every pane ending at or before this was published on time


def encode_checkpoint(checkpoint: Checkpoint) -> str:
    """Compact JSON, well under the broker's offset.metadata.max.bytes (4 KiB default)."""
    return orjson.dumps(
        {
            "v": _VERSION,
            "to": checkpoint.processed_to,
            "max": checkpoint.max_event_ms,
            "closed": checkpoint.closed_before,
            "fired": checkpoint.fired_before,
        }
    ).decode()


def decode_checkpoint(metadata: str | None) -> Checkpoint | None:
    """The checkpoint in commit metadata; None when absent or not ours (start fresh)."""
    if not metadata:
        return None
    try:
        data = orjson.loads(metadata)
        version = data.get("v")
        if version not in (1, _VERSION):
            return None
        closed = int(data["closed"])
        fired = int(data["fired"]) if version == _VERSION else closed
        return Checkpoint(int(data["to"]), int(data["max"]), closed, fired)
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
