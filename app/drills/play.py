"""A drill's traffic: the scenario's telemetry, marked with the drill id, paced on the clock.

The scenario (``app.simulation.scenarios``) is a healthy warm-up, a deploy, then the fault;
its services heal as the drill's own control calls are delivered (``Remedies``: a rollback of
a service at t heals it from t on), so the real pipeline can verify the recovery it caused.
``--service S`` plays the scenario's first deployed service under the name S.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.simulation.scenarios import BOTS, Remedies, ScenarioName, Timeline, generate, plan_for
from schemas.telemetry import TelemetryEvent

__all__ = ["DrillTraffic", "fault_onset"]

_FAULT_AFTER_DEPLOY_S = 1.0  # scenarios fail one second after the deploy (see _Generator)


def fault_onset(start: float, warmup_s: float) -> float:
    """When the scenario's fault begins (epoch s), for traffic starting at ``start``."""
    return start + warmup_s + _FAULT_AFTER_DEPLOY_S


@dataclass
class DrillTraffic:
    drill: str
    scenario: ScenarioName
    start: float
    timeline: Timeline
    service: str | None = None
    remedies: Remedies = field(default_factory=Remedies)

    @property
    def renamed(self) -> dict[str, str]:
        """The scenario's service → the name the drill plays it under."""
        if self.service is None:
            return {}
        return {plan_for(self.scenario)[0][0]: self.service}

    def events(self) -> Iterator[TelemetryEvent]:
        names = self.renamed
        for event in generate(self.scenario, self.start, self.timeline, self.remedies):
            service = names.get(event.service, event.service)
            yield event.model_copy(update={"service": service, "drill": self.drill})

    def heal(self, calls: Sequence[Mapping[str, Any]]) -> None:
        """Apply the drill's delivered control calls to the simulated fleet."""
        back = {name: original for original, name in self.renamed.items()}
        for call in calls:
            payload, at = call["payload"], call["finished_at"].timestamp()
            service = back.get(str(payload.get("service")), str(payload.get("service")))
            if call["kind"] == "rollback":
                self.remedies.rolled_back.setdefault(service, at)
            elif call["kind"] == "restore":
                self.remedies.restored.setdefault(service, at)
            elif call["kind"] == "bot_restart" and payload.get("action") in ("restart", "start"):
                bot = str(payload.get("bot") or "*")
                for one in BOTS if bot == "*" else (bot,):
                    self.remedies.restarted_bots.setdefault(one, at)
