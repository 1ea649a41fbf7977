"""Where a rollback goes back to: its target version and the basis it was chosen on.

A code rollback is settled before any of its control calls: without a target nothing is
reverted, so no breaker is opened for it and no phase runs (``lifecycle.no_rollback_target``
escalates to people instead). ``choose_target`` takes stage 2's ``known_good`` (unless it is
the version in effect), else the newest other version that deployed successfully before the
bad one and was never failed or rolled back, else none. Data restores (S2) and emergency stops
(S4) have a way back without a code target and skip revert_code. The rule and why:
docs/detection-quality.md, "No control call without a way back".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

from handlers.incidents.incident import Incident

__all__ = [
    "BASIS",
    "IN_EFFECT",
    "RollbackTarget",
    "TargetBasis",
    "basis_text",
    "choose_target",
    "no_target_reason",
    "settle_target",
]

TargetBasis = Literal["known_good", "previous_deploy"]
# An incident's basis when it has no target because the version in effect is the known good one.
IN_EFFECT = "known_good_in_effect"

BASIS: dict[str, str] = {  # by TargetBasis
    "known_good": "last known good: ran healthy through its post-deploy window",
    "previous_deploy": (
        "previous successful deploy: deployed before the bad version, never failed or rolled "
        "back, not yet proven healthy through a post-deploy window"
    ),
}


@dataclass(frozen=True)
class RollbackTarget:
    version: str
    basis: TargetBasis

    @property
    def described(self) -> str:
        return f"{self.version} ({BASIS[self.basis]})"


def basis_text(basis: str | None) -> str | None:
    """The basis of a target as people read it (None for no or an unknown basis)."""
    return None if basis is None else BASIS.get(basis)


def choose_target(
    bad_version: str | None, known_good: str | None, previous_deploy: str | None
) -> RollbackTarget | None:
    """The rollback target for a service running ``bad_version`` (see the module's rule)."""
    if known_good is not None and known_good != bad_version:
        return RollbackTarget(known_good, "known_good")
    if known_good is not None or bad_version is None:
        return None
    if previous_deploy is not None and previous_deploy != bad_version:
        return RollbackTarget(previous_deploy, "previous_deploy")
    return None


def no_target_reason(inc: Incident) -> str:
    """Why ``inc`` has no version to roll back to, in one sentence for people."""
    if inc.target_basis == IN_EFFECT:
        return (
            f"no version to roll back to: {inc.bad_version}, the version {inc.service} runs, "
            "is its last known good version (nothing older is proven better)"
        )
    if inc.bad_version is None:
        return (
            f"no version to roll back to: the version {inc.service} runs is unknown, so no "
            "earlier one can be chosen"
        )
    return (
        f"no version to roll back to: {inc.service} has no last known good version other "
        f"than {inc.bad_version}, and no other version deployed successfully before it"
    )


class DeployHistory(Protocol):
    async def previous_deploy(
        self, service: str, bad_version: str, drill: str | None = None
    ) -> str | None: ...


async def settle_target(history: DeployHistory, inc: Incident) -> Incident:
    """``inc`` with its target looked up in the deploy history when it has none yet (a deploy
    recorded after the incident opened counts by the time a timer or a human asks)."""
    if inc.last_good_version is not None or inc.target_basis is not None:
        return inc
    if inc.bad_version is None:
        return inc
    found = choose_target(
        inc.bad_version,
        None,
        await history.previous_deploy(inc.service, inc.bad_version, inc.drill),
    )
    if found is None:
        return inc
    return replace(inc, last_good_version=found.version, target_basis=found.basis)
