"""The policy's ``maintenance:`` section and its dry-run switches (``dry_run:`` on the policy
or on one rule), kept apart from the rules' model.

Each window is a ``schemas.maintenance.MaintenanceWindow`` (the HTTP API's windows are the same
model); names are unique within the file, since the API and the incidents name windows by
them (``policy:<name>``). Dry run: the policy's (or a rule's) decisions are published marked
``dry_run``, and the responder records their incidents and actions as "would have sent",
sending nothing — a way to trial a policy in production.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.maintenance import MaintenanceWindow
from streams.policy.errors import FieldInvalid

__all__ = ["DryRun", "MaintenanceWindow", "Windows"]


def _unique_names(windows: tuple[MaintenanceWindow, ...]) -> tuple[MaintenanceWindow, ...]:
    seen: dict[str, int] = {}
    for n, window in enumerate(windows):
        if window.name in seen:
            raise FieldInvalid(
                f"{n}.name", f"expected a unique name; window #{seen[window.name] + 1} has it too"
            )
        seen[window.name] = n
    return windows


Windows = Annotated[
    tuple[MaintenanceWindow, ...],
    AfterValidator(_unique_names),
    Field(description="maintenance windows: notifications and automation during them"),
]
DryRun = Annotated[
    bool, Field(description="decisions and actions recorded as 'would have sent', none sent")
]
