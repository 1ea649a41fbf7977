"""An S2 incident's review says which backup was restored, the data it lost against the RPO
and the restore's duration against the RTO — what went well, or wrong when beyond either."""

from __future__ import annotations

from typing import Any

from app.reviews.draft import _resolution, _well_and_wrong


def _incident(**restored: Any) -> dict[str, Any]:
    found = {
        "dataset": "chat_messages",
        "backup_id": "wal-7",
        "type": "wal",
        "loss_window_s": 240.0,
        "rpo_s": 600.0,
        "within_rpo": True,
        "restore_duration_s": 42.0,
        "rto_s": 600.0,
        "within_rto": True,
    } | restored
    rollback = {
        "id": "rb_1",
        "status": "succeeded",
        "from_version": "2.4.0",
        "target_version": "2.3.9",
        "phases": [],
        "restored": [found],
    }
    return {"id": "inc_1", "rollback": rollback, "actions": []}


def test_the_restore_is_in_the_resolution_and_went_well_within_the_objectives() -> None:
    inc = _incident()
    resolution = _resolution(inc)
    [restored] = resolution["restored"]
    assert (restored["backup_id"], restored["loss_window_s"], restored["within_rto"]) == (
        "wal-7",
        240.0,
        True,
    )
    well, wrong = _well_and_wrong(inc, resolution)
    assert well == [
        "restored chat_messages from backup wal-7: data-loss window 4 min (within the RPO of "
        "10 min); restored in 42 s (within the RTO of 10 min)"
    ]
    assert wrong == []


def test_a_restore_beyond_the_rpo_went_wrong() -> None:
    inc = _incident(loss_window_s=900.0, within_rpo=False)
    well, wrong = _well_and_wrong(inc, _resolution(inc))
    assert well == [] and len(wrong) == 1
    assert "data-loss window 15 min (BEYOND the RPO of 10 min)" in wrong[0]
