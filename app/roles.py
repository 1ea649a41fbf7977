"""The roles of the API and the console: one declaration, read by the API's checks, the
settings, ``alertpipe token create --role`` and docs/auth.md.

Ranked roles form a ladder (``viewer < operator < admin``): each has the rights of every ranked
role declared before it. A role declared with ``ranked=False`` stands apart: it has its own
rights only, and no other role has them: ``ingest``, a token that may only write telemetry
and Alertmanager's alerts, and that no console user holds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROLES", "ROLE_NAMES", "Role", "allows"]


@dataclass(frozen=True)
class Role:
    name: str
    grants: str  # what it may do beyond the roles below it, for docs and --help
    ranked: bool = True


ROLES: tuple[Role, ...] = (
    Role("viewer", "reads incidents, silences, the graphs and the dashboard"),
    Role(
        "operator",
        "acknowledges, resolves and decides incidents, creates and expires silences, "
        "holds automation",
    ),
    Role("admin", "creates, lists and revokes API tokens"),
    Role("ingest", "writes telemetry and Alertmanager's alerts (`/v1/…`) only", ranked=False),
)

ROLE_NAMES: tuple[str, ...] = tuple(role.name for role in ROLES)


def allows(have: str, need: str) -> bool:
    """Whether a principal of role ``have`` may do what needs role ``need``."""
    rank = {role.name: n for n, role in enumerate(ROLES)}
    if have not in rank or need not in rank:
        return False
    if have == need:
        return True
    ranked = {role.name for role in ROLES if role.ranked}
    return have in ranked and need in ranked and rank[have] >= rank[need]
