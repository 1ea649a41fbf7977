"""The demo fleet honours idempotency keys, and the live scenario recovers once remedied."""

from app.simulation.fleet import Fleet
from app.simulation.scenarios import Remedies, Timeline, generate
from schemas.telemetry import IntegrityEvent, RequestEvent

START = 1_800_000_000.0


class _Clock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def test_a_repeated_key_is_acknowledged_but_not_applied_again() -> None:
    lines: list[str] = []
    remedies = Remedies()
    fleet = Fleet(remedies, _Clock(START + 40), lines.append)
    body = {
        "service": "chat-api",
        "action": "rollback",
        "from_version": "2.4.0",
        "to_version": "2.3.9",
    }
    assert fleet.handle("rollback", body, "k1") == {"ok": True}
    fleet.clock = _Clock(START + 50)  # type: ignore[assignment]
    assert fleet.handle("rollback", body, "k1") == {"ok": True, "duplicate": True}
    assert remedies.rolled_back == {"chat-api": START + 40}
    assert lines == ["[fleet] chat-api: deployed 2.3.9 (was 2.4.0); errors stop"]


def _requests(remedies: Remedies, since: float) -> list[RequestEvent]:
    events = generate("s1", START, Timeline(warmup_s=10, failure_s=30), remedies)
    return [
        e
        for e in events
        if isinstance(e, RequestEvent) and e.endpoint == "POST /api/message" and e.ts >= since
    ]


def test_a_rolled_back_service_runs_the_old_version_and_stops_failing() -> None:
    broken = _requests(Remedies(), START + 25)
    assert {e.version for e in broken} == {"2.4.0"}
    assert sum(e.status >= 500 for e in broken) / len(broken) > 0.3
    healed = _requests(Remedies(rolled_back={"chat-api": START + 20}), START + 25)
    assert {e.version for e in healed} == {"2.3.9"}
    assert sum(e.status >= 500 for e in healed) / len(healed) < 0.05


def test_a_restore_makes_the_integrity_checks_pass_again() -> None:
    def failures(remedies: Remedies) -> int:
        events = generate("s2", START, Timeline(warmup_s=10, failure_s=30), remedies)
        late = (e for e in events if isinstance(e, IntegrityEvent) and e.ts >= START + 25)
        return sum(not e.ok for e in late)

    assert failures(Remedies()) > 0
    assert failures(Remedies(restored={"chat-api": START + 20})) == 0
