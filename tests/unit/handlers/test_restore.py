"""Which backup S2's restore brings back, what that loses against the RPO, and its calls."""

from __future__ import annotations

import pytest

from handlers.incidents.incident import Incident
from handlers.rollback.phases import PhaseRecord, Rollback, phase_actions
from handlers.rollback.restore import (
    Backup,
    ChosenBackup,
    Objective,
    Objectives,
    affected_datasets,
    plan_restore,
    restore_times,
    restored_backups,
)
from schemas.severity import Severity

BEFORE = 10_000.0  # the restore point: corruption can have begun no earlier
OBJECTIVES = Objectives({"chat_messages": Objective(rpo_s=600, rto_s=600)}, 1800)


def _b(
    backup_id: str, ago_s: float, tested: bool | None = None, dataset: str = "chat_messages"
) -> Backup:
    return Backup(dataset, backup_id, "wal", BEFORE - ago_s, tested)


@pytest.mark.parametrize(
    ("backups", "chosen", "why"),
    [
        # the newest restore-tested one, preferred to a newer untested one within the RPO
        ([_b("old", 900, True), _b("t", 300, True), _b("u", 60)], "t", "preferred to the newer"),
        # …but not when it would lose more than the RPO: then the newest
        ([_b("t", 700, True), _b("u", 60)], "u", "would lose more than the RPO"),
        # untested only: the newest
        ([_b("a", 500), _b("b", 100)], "b", "no restore test of it passed yet"),
        # a failed restore test disqualifies; a backup taken at or after the point too
        ([_b("ok", 400), _b("bad", 50, False), _b("after", -5), _b("at", 0)], "ok", ""),
    ],
)
def test_the_backup_chosen_for_a_dataset(backups: list[Backup], chosen: str, why: str) -> None:
    plan = plan_restore(["chat_messages"], backups, BEFORE, "the first alert", OBJECTIVES)
    assert plan.ok
    [found] = plan.chosen
    assert found.backup_id == chosen and why in found.why
    picked = next(b for b in backups if b.backup_id == chosen)
    assert found.loss_window_s == BEFORE - picked.taken_at
    assert found.within_rpo is (found.loss_window_s <= 600)


def test_a_dataset_without_a_backup_that_qualifies_says_why() -> None:
    backups = [_b("after", -30), _b("bad", 100, False), _b("other", 100, dataset="bot_state")]
    plan = plan_restore(["chat_messages", "bot_state"], backups, BEFORE, "the deploy", OBJECTIVES)
    assert not plan.ok
    assert [c.dataset for c in plan.chosen] == ["bot_state"]
    assert plan.chosen[0].rpo_s is None and plan.chosen[0].within_rpo is None  # no objective
    [why] = plan.missing
    assert why.startswith("no successful backup of chat_messages taken before ")
    assert "(the deploy)" in why and "the newest, after, was taken at" in why
    assert "1 earlier one(s) failed their restore test" in why
    nothing = plan_restore([], [], BEFORE, "", OBJECTIVES)  # no dataset on record at all
    assert not nothing.ok and nothing.reason().startswith("no dataset of the service")


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ([{"endpoint": "POST /api/message"}], ["bot_state", "chat_messages"]),  # unknown reach
        ([{"check": "chat_messages"}], ["chat_messages"]),  # a check named like a dataset
        ([{"dataset": "bot_state"}, {"endpoint": "x"}], ["bot_state"]),
    ],
)
def test_affected_datasets(scopes: list[dict[str, str]], expected: list[str]) -> None:
    assert affected_datasets(scopes, ["bot_state", "chat_messages"]) == expected


def _chosen(dataset: str = "chat_messages") -> ChosenBackup:
    return ChosenBackup(dataset, f"{dataset}-1", "full", BEFORE - 120, True, 120.0, "why", 600.0)


def test_the_restore_phase_asks_for_the_chosen_backup_of_each_dataset() -> None:
    inc = Incident("inc_1", "chat-api", Severity.CRITICAL, "open", "t", 0.0, 0.0, "S2")
    record = PhaseRecord("restore_data", "running", 1.0, backups=(_chosen(), _chosen("bot_state")))
    rb = Rollback(
        "rb_1",
        "inc_1",
        "chat-api",
        "r",
        "running",
        0.0,
        involves_data=True,
        restore_before=BEFORE,
        restore_basis="b",
        phases={"restore_data": record},
    )
    calls = phase_actions(rb, "restore_data", inc)
    assert [(c.payload["backup_id"], c.payload["dataset"]) for c in calls] == [
        ("chat_messages-1", "chat_messages"),
        ("bot_state-1", "bot_state"),
    ]
    assert len({c.key for c in calls}) == 2  # one effect per dataset
    assert calls[0].payload["before"] == BEFORE and calls[0].payload["taken_at"] == BEFORE - 120
    # stored and read back with the phase, so every attempt asks for the same backups
    again = PhaseRecord.from_stored("restore_data", "running", 1.0, None, record.stored_detail())
    assert again.backups == record.backups


def test_the_restore_is_timed_against_each_datasets_rto() -> None:
    [check] = restore_times([_chosen(), _chosen("unknown")], 700.0, OBJECTIVES)
    assert (check.dataset, check.rto_s, check.within_rto) == ("chat_messages", 600, False)
    detail = {"backups": [_chosen().to_json()], "rto": [check.to_json()]}
    [restored] = restored_backups(detail)
    assert (restored["loss_window_s"], restored["within_rpo"]) == (120.0, True)
    assert (restored["restore_duration_s"], restored["within_rto"]) == (700.0, False)
