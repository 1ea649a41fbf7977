"""The gate's verdict on one deploy: had its version passed the readiness check? — pure.

gate_verdict(service, version, deployed_at, check, valid_s) -> GateVerdict
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.incidents.notices import duration_text
from schemas.timestamps import to_rfc3339

__all__ = ["GATE_RULE", "CheckedVersion", "GateVerdict", "gate_verdict"]

GATE_RULE = "deployed-while-not-ready"  # the decision a deploy that skipped the gate raises


@dataclass(frozen=True)
class CheckedVersion:
    """The latest readiness check of a version (``readiness_checks``)."""

    check_id: int
    ready: bool
    at: float
    failed: tuple[str, ...] = ()
    actor: str = ""


@dataclass(frozen=True)
class GateVerdict:
    service: str
    version: str
    deployed_at: float
    ready: bool
    reason: str
    check_id: int | None = None
    check_at: float | None = None
    failed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "deployed_at": to_rfc3339(self.deployed_at),
            "ready": self.ready,
            "reason": self.reason,
            "check_id": self.check_id,
            "failed": list(self.failed),
        }


def gate_verdict(
    service: str, version: str, deployed_at: float, check: CheckedVersion | None, valid_s: float
) -> GateVerdict:
    """Whether the deploy of ``version`` at ``deployed_at`` had passed the gate, and why not."""

    def verdict(ready: bool, reason: str) -> GateVerdict:
        if check is None:
            return GateVerdict(service, version, deployed_at, ready, reason)
        return GateVerdict(
            service, version, deployed_at, ready, reason, check.check_id, check.at, check.failed
        )

    if check is None:
        return verdict(False, f"no readiness check of {version} on record before the deploy")
    age = deployed_at - check.at
    when = to_rfc3339(check.at)
    if age > valid_s:
        stale = f"{duration_text(round(age))} before the deploy (a check counts for "
        return verdict(False, f"the last check of {version} ran at {when}, {stale}"
                       f"{duration_text(valid_s)})")  # fmt: skip
    if not check.ready:
        failed = ", ".join(check.failed) or "?"
        return verdict(False, f"the last check of {version} (at {when}) failed: {failed}")
    return verdict(True, f"checked ready at {when}")
