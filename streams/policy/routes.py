"""Per-team routing: which PagerDuty service and which chat channel hear of an incident.

The first team route whose ``match`` and ``severity`` take the incident wins, else the default
route. Routes name secrets, never hold them (``ALERTPIPE_PAGER_ROUTING_KEYS``,
``ALERTPIPE_CHAT_URLS``), so a policy file can live in a repository; ``pager`` is one name for
every tier or one per paging tier (``schemas.paging``), a tier not named taking ``on_call``'s.
The format: docs/policy.md, "Routes: each team's pager and channel"; why: docs/design.md
record 33.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from schemas.paging import PAGE_TIERS, PageTier
from schemas.severity import Severity
from streams.policy.errors import FieldInvalid
from streams.policy.matchers import Patterns, SeverityName, check_patterns, matches_all

__all__ = ["DEFAULT", "PagerKeys", "Route", "Routes", "SecretName"]

DEFAULT = "default"  # the name of the default route, and of the settings' unnamed secrets

SecretName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]
MATCH_KEYS = ("service",)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _one_name_for_every_tier(value: Any) -> Any:
    return {"on_call": value} if isinstance(value, str) else value


class PagerKeys(_Model):
    """The routing key (by its name in the settings) of each paging tier."""

    on_call: SecretName = DEFAULT
    lead_engineer: SecretName | None = None
    team_lead: SecretName | None = None
    final_contact: SecretName | None = None

    def name(self, tier: PageTier) -> str:
        named: str | None = getattr(self, tier)
        return named or self.on_call

    def names(self) -> set[str]:
        return {self.name(tier) for tier in PAGE_TIERS}


Pager = Annotated[PagerKeys, BeforeValidator(_one_name_for_every_tier)]


class Route(_Model):
    """Where one team's incidents go."""

    name: SecretName
    match: dict[str, Patterns] = Field(default_factory=dict)
    severity: tuple[SeverityName, ...] = ()
    pager: Pager = Field(default_factory=PagerKeys)
    chat: SecretName = DEFAULT

    @field_validator("match")
    @classmethod
    def _services_only(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for key in value:
            if key not in MATCH_KEYS:
                raise FieldInvalid(key, f"expected match keys among {', '.join(MATCH_KEYS)}")
        return check_patterns(value)

    def pager_name(self, tier: PageTier) -> str:
        return self.pager.name(tier)

    def takes(self, service: str, severity: Severity) -> bool:
        if self.severity and severity not in self.severity:
            return False
        return matches_all(self.match, {"service": service})


class DefaultRoute(_Model):
    """Where every incident no team route takes goes."""

    pager: Pager = Field(default_factory=PagerKeys)
    chat: SecretName = DEFAULT

    def as_route(self) -> Route:
        return Route(name=DEFAULT, pager=self.pager, chat=self.chat)


class Routes(_Model):
    default: DefaultRoute = Field(default_factory=DefaultRoute)
    teams: tuple[Route, ...] = ()

    @field_validator("teams")
    @classmethod
    def _unique_names(cls, teams: tuple[Route, ...]) -> tuple[Route, ...]:
        seen: dict[str, int] = {}
        for n, route in enumerate(teams):
            if route.name == DEFAULT:
                raise FieldInvalid(f"{n}.name", f"{DEFAULT!r} is the default route's name")
            if route.name in seen:
                raise FieldInvalid(
                    f"{n}.name", f"expected a unique name; route #{seen[route.name] + 1} has it too"
                )
            seen[route.name] = n
        return teams

    def route_for(self, service: str, severity: Severity) -> Route:
        """The first team route that takes the incident, else the default route."""
        for route in self.teams:
            if route.takes(service, severity):
                return route
        return self.default.as_route()

    def all(self) -> tuple[Route, ...]:
        return (*self.teams, self.default.as_route())

    def pager_names(self) -> set[str]:
        return {name for route in self.all() for name in route.pager.names()}

    def chat_names(self) -> set[str]:
        return {route.chat for route in self.all()}
