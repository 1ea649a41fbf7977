"""The incident board: open first, worst first, each with its age and the next escalation."""

from __future__ import annotations

from app.dashboard.board import board_rows
from handlers.config import ResponseConfig
from handlers.incidents.incident import Incident
from schemas.severity import Severity

T0 = 1_800_000_000.0


def incident(id: str, severity: Severity, status: str, opened_min: float, **kw: object) -> Incident:
    opened = T0 + opened_min * 60
    return Incident(
        id=id,
        service="chat-api",
        severity=severity,
        status=status,  # type: ignore[arg-type]
        title=f"{severity} on chat-api",
        opened_at=opened,
        last_decision_at=opened,
        **kw,  # type: ignore[arg-type]
    )


def test_open_incidents_come_first_worst_then_newest() -> None:
    found = [
        incident("old-resolved", Severity.CRITICAL, "resolved", 0, resolved_at=T0 + 90),
        incident("medium", Severity.MEDIUM, "open", 5),
        incident("critical-old", Severity.CRITICAL, "acknowledged", 1),
        incident("critical-new", Severity.CRITICAL, "open", 2),
    ]
    rows = board_rows(found, now=T0 + 600, cfg=ResponseConfig())
    assert [r["id"] for r in rows] == ["critical-new", "critical-old", "medium", "old-resolved"]
    assert rows[0]["age_s"] == 480.0
    assert rows[-1]["age_s"] == 90.0  # a resolved incident's age stops at its resolution


def test_each_open_incident_names_its_next_escalation() -> None:
    cfg = ResponseConfig()
    rows = board_rows(
        [incident("a", Severity.CRITICAL, "open", 0, steps=frozenset({"rollback"}))],
        now=T0 + 60,
        cfg=cfg,
    )
    assert rows[0]["next_step"] == {
        "step": "lead_engineer",
        "to": cfg.lead_engineer,
        "at": "2027-01-15T08:05:00.000Z",
        "in_s": 240.0,
    }
    resolved = incident("b", Severity.CRITICAL, "resolved", 0, resolved_at=T0 + 5)
    assert board_rows([resolved], now=T0 + 60, cfg=cfg)[0]["next_step"] is None
