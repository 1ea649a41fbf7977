"""What the API does with reviews: serve one (people's edits over the draft), edit it."""

from __future__ import annotations

from typing import Any

from app.reviews.draft import review_markdown
from app.reviews.store import PgReviewStore
from schemas.clock import Clock
from schemas.errors import CommandError

__all__ = ["ReviewControl", "ReviewMissing"]


class ReviewMissing(CommandError, LookupError):
    """No review (yet) for the incident; ``args[0]`` says why."""


def _with_edits(draft: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    owners, due = edits.get("owners") or {}, edits.get("due") or {}
    items = [
        {**item, "owner": owners.get(item["action"], item["owner"]),
         "due": due.get(item["action"], item["due"])}
        for item in draft["action_items"]
    ]  # fmt: skip
    return {
        **draft,
        "root_cause": edits.get("root_cause", draft.get("root_cause")),
        "lessons": edits.get("lessons", draft.get("lessons")),
        "action_items": items,
    }


class ReviewControl:
    def __init__(self, store: PgReviewStore, clock: Clock) -> None:
        self.store = store
        self._clock = clock

    async def get(self, incident_id: str) -> dict[str, Any]:
        row = await self.store.get(incident_id)
        if row is None:
            raise ReviewMissing(
                f"no review of {incident_id!r}: one is drafted when an incident that had a "
                "rollback or reached HIGH or CRITICAL is resolved"
            )
        review = _with_edits(row["draft"], row["edits"])
        review["drafted_at"] = row["drafted_at"]
        review["edits"] = await self.store.edits(incident_id)
        return review

    async def markdown(self, incident_id: str) -> str:
        return review_markdown(await self.get(incident_id))

    async def edit(self, incident_id: str, fields: dict[str, Any], by: str) -> dict[str, Any]:
        if not await self.store.edit(incident_id, fields, by, self._clock.now()):
            await self.get(incident_id)  # raises ReviewMissing with the reason
        return await self.get(incident_id)
