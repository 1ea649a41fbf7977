"""What a receiver keeps about an incident between calls: the id the outside service gave it
(Statuspage's incident id, so that updates ``PATCH`` that incident instead of creating more).
The port; the PostgreSQL adapter is ``app.storage.refs``."""

from __future__ import annotations

from typing import Protocol

__all__ = ["MemoryRefs", "ReceiverRefs"]


class ReceiverRefs(Protocol):
    async def get(self, incident_id: str, receiver: str) -> str | None: ...

    async def put(self, incident_id: str, receiver: str, ref: str) -> None:
        """Keep ``ref`` (the first one kept stays: a second create cannot replace it)."""
        ...


class MemoryRefs:
    """In memory: for tests and a process with no database."""

    def __init__(self) -> None:
        self._refs: dict[tuple[str, str], str] = {}

    async def get(self, incident_id: str, receiver: str) -> str | None:
        return self._refs.get((incident_id, receiver))

    async def put(self, incident_id: str, receiver: str, ref: str) -> None:
        self._refs.setdefault((incident_id, receiver), ref)
