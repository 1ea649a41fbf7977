"""Where a notification goes: the policy's routes (``streams.policy.routes``) as the receivers
see them, a port, and the links to an incident in the console.

``Routes.route_for(service, severity)`` names the route; the route names the routing key of each
paging tier and the chat webhook. The names resolve to secrets from the settings
(``Destinations``); a name with no secret behind it is refused at start (``missing``), never
discovered at the first page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from schemas.paging import PageTier
from schemas.severity import Severity

__all__ = ["ConsoleLinks", "Destinations", "OneRoute", "Route", "Routes"]


class Route(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def chat(self) -> str: ...

    def pager_name(self, tier: PageTier) -> str: ...


class Routes(Protocol):
    def route_for(self, service: str, severity: Severity) -> Route: ...


@dataclass(frozen=True)
class _Default:
    name: str = "default"
    chat: str = "default"

    def pager_name(self, tier: PageTier) -> str:
        return "default"


class OneRoute:
    """Every incident to the ``default`` secrets (no policy routes: tests, the console)."""

    def route_for(self, service: str, severity: Severity) -> Route:
        return _Default()


@dataclass(frozen=True)
class Destinations:
    """The routes, and the secrets their names stand for."""

    routes: Routes = field(default_factory=OneRoute)
    routing_keys: Mapping[str, str] = field(default_factory=dict)  # pager: name → routing key

    def routing_key(self, service: str, severity: Severity, tier: PageTier) -> tuple[str, str]:
        """The route's name and the routing key of ``tier`` (empty when none is configured)."""
        route = self.routes.route_for(service, severity)
        return route.name, self.routing_keys.get(route.pager_name(tier), "")


@dataclass(frozen=True)
class ConsoleLinks:
    """Links to an incident in the console (``ALERTPIPE_PUBLIC_URL``); none when it is unset."""

    base: str | None = None

    def incident(self, incident_id: str) -> str | None:
        return f"{self.base}/#/incidents/{incident_id}" if self.base else None

    def review(self, incident_id: str) -> str | None:
        return f"{self.base}/v1/incidents/{incident_id}/review" if self.base else None
