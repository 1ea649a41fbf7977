"""What ingest took and left out, counted per process (``/metrics``: the ingest producer's
``ingested``, ``rejected`` and ``ignored`` series)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IngestStats"]


@dataclass
class IngestStats:
    ingested: Counter[str] = field(default_factory=Counter)  # written to Kafka, by source
    rejected: Counter[str] = field(default_factory=Counter)  # invalid items, by source
    ignored: Counter[str] = field(default_factory=Counter)  # not for alertpipe, by what

    def report(self) -> dict[str, Any]:
        return {
            "ingested": dict(self.ingested),
            "rejected": dict(self.rejected),
            "ignored": dict(self.ignored),
        }
