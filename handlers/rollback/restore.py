"""Which backup an S2 restore brings back, and what that costs against the plan's objectives.

    plan_restore(datasets, backups, before, basis, objectives) -> RestorePlan
    restore_times(plan, duration_s, objectives) -> [RtoCheck]

A backup qualifies when it succeeded, was taken before the restore point and no restore test
of it failed; the newest restore-tested one is preferred while within the RPO, else the
newest. None qualifies: the phase fails at once and escalates. The data-loss window is the
restore point minus the backup's ``taken_at``. Pure; docs/response.md, design.md record 43.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from handlers.incidents.notices import duration_text
from schemas.timestamps import to_rfc3339

__all__ = [
    "Backup",
    "ChosenBackup",
    "Objective",
    "Objectives",
    "RestorePlan",
    "RtoCheck",
    "affected_datasets",
    "plan_restore",
    "restore_times",
    "restored_backups",
]


@dataclass(frozen=True)
class Backup:
    """A successful backup on record (``handlers.backups``), with its restore tests' verdict."""

    dataset: str
    backup_id: str
    type: str
    taken_at: float
    tested: bool | None = None  # True: a restore test passed; False: one failed; None: untested
    location: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class Objective:
    """A dataset's recovery objectives (the policy's ``backups.datasets``), in seconds."""

    rpo_s: float
    rto_s: float


@dataclass(frozen=True)
class Objectives:
    """What the responder measures restores against (built from the policy at the root)."""

    datasets: Mapping[str, Objective] = field(default_factory=dict)
    full_system_rto_s: float | None = None


@dataclass(frozen=True)
class ChosenBackup:
    """The backup a restore of ``dataset`` asks for, why, and the data it loses."""

    dataset: str
    backup_id: str
    type: str
    taken_at: float
    tested: bool
    loss_window_s: float
    why: str
    rpo_s: float | None = None
    location: str | None = None

    @property
    def within_rpo(self) -> bool | None:
        return None if self.rpo_s is None else self.loss_window_s <= self.rpo_s

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "within_rpo": self.within_rpo}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChosenBackup:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in names})

    def summary(self) -> str:
        tested = "restore-tested" if self.tested else "not restore-tested"
        loss = f"data-loss window {duration_text(round(self.loss_window_s, 1))}"
        if self.rpo_s is not None:
            verdict = "within" if self.within_rpo else "BEYOND"
            loss += f", {verdict} the RPO of {duration_text(self.rpo_s)}"
        return (
            f"restore {self.dataset} from backup {self.backup_id} ({self.type}, taken "
            f"{to_rfc3339(self.taken_at)}, {tested}): {loss}"
        )


@dataclass(frozen=True)
class RestorePlan:
    chosen: tuple[ChosenBackup, ...] = ()
    missing: tuple[str, ...] = ()  # per dataset that cannot be restored: why

    @property
    def ok(self) -> bool:
        return bool(self.chosen) and not self.missing

    def reason(self) -> str:
        return "; ".join(self.missing) or "no dataset of the service has a backup on record"


def affected_datasets(scopes: Iterable[Mapping[str, str]], known: Sequence[str]) -> list[str]:
    """The datasets an incident's alerts name (a dataset, or an integrity check named like
    one); when they name none, every dataset of the service on record: the corruption's
    reach is unknown, and restoring less could leave corrupt data behind."""
    named = {value for scope in scopes for key in ("dataset", "check") if (value := scope.get(key))}
    hit = [d for d in known if d in named]
    return hit or list(known)


def _choose(
    dataset: str, backups: Sequence[Backup], before: float, objective: Objective | None
) -> ChosenBackup | None:
    usable = sorted(
        (b for b in backups if b.taken_at < before and b.tested is not False),
        key=lambda b: b.taken_at,
        reverse=True,
    )
    if not usable:
        return None
    newest = usable[0]
    tested = next((b for b in usable if b.tested), None)
    rpo = objective.rpo_s if objective is not None else None
    if tested is not None and (rpo is None or before - tested.taken_at <= rpo):
        why = "the newest restore-tested backup before the restore point"
        if tested is not newest:
            why += f", preferred to the newer untested {newest.backup_id} (still within the RPO)"
        return _chosen(tested, before, rpo, why)
    why = "the newest backup before the restore point"
    if tested is not None:
        why += f"; the newest restore-tested one, {tested.backup_id}, would lose more than the RPO"
    elif not newest.tested:
        why += "; no restore test of it passed yet"
    return _chosen(newest, before, rpo, why)


def _chosen(backup: Backup, before: float, rpo_s: float | None, why: str) -> ChosenBackup:
    return ChosenBackup(
        dataset=backup.dataset,
        backup_id=backup.backup_id,
        type=backup.type,
        taken_at=backup.taken_at,
        tested=bool(backup.tested),
        loss_window_s=round(before - backup.taken_at, 3),
        why=why,
        rpo_s=rpo_s,
        location=backup.location,
    )


def _missing(dataset: str, backups: Sequence[Backup], before: float, basis: str) -> str:
    why = (
        f"no successful backup of {dataset} taken before {to_rfc3339(before)} ({basis}) "
        "to restore from"
    )
    later = [b for b in backups if b.taken_at >= before]
    failed = [b for b in backups if b.taken_at < before and b.tested is False]
    if later:
        newest = max(later, key=lambda b: b.taken_at)
        why += f"; the newest, {newest.backup_id}, was taken at {to_rfc3339(newest.taken_at)}"
    if failed:
        why += f"; {len(failed)} earlier one(s) failed their restore test"
    return why


def plan_restore(
    datasets: Sequence[str],
    backups: Sequence[Backup],
    before: float,
    basis: str,
    objectives: Objectives,
) -> RestorePlan:
    """The backup of each dataset to restore, or why one cannot be."""
    chosen: list[ChosenBackup] = []
    missing: list[str] = []
    for dataset in datasets:
        own = [b for b in backups if b.dataset == dataset]
        found = _choose(dataset, own, before, objectives.datasets.get(dataset))
        if found is None:
            missing.append(_missing(dataset, own, before, basis))
        else:
            chosen.append(found)
    return RestorePlan(tuple(chosen), tuple(missing))


@dataclass(frozen=True)
class RtoCheck:
    dataset: str
    duration_s: float
    rto_s: float

    @property
    def within_rto(self) -> bool:
        return self.duration_s <= self.rto_s

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "within_rto": self.within_rto}


def restore_times(
    chosen: Iterable[ChosenBackup], duration_s: float, objectives: Objectives
) -> list[RtoCheck]:
    """The restore's duration against each restored dataset's RTO (those that have one)."""
    found = []
    for backup in chosen:
        objective = objectives.datasets.get(backup.dataset)
        if objective is not None:
            found.append(RtoCheck(backup.dataset, round(duration_s, 3), objective.rto_s))
    return found


def restored_backups(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a restore_data phase's stored detail says was restored: each backup with its
    data-loss window against the RPO and the restore's duration against the RTO (the API's
    ``RollbackRecord.restored``)."""
    rto = {r["dataset"]: r for r in detail.get("rto", ())}
    found = []
    for raw in detail.get("backups", ()):
        backup = ChosenBackup.from_json(raw).to_json()
        check = rto.get(backup["dataset"], {})
        found.append(
            {
                **backup,
                "restore_duration_s": check.get("duration_s"),
                "rto_s": check.get("rto_s"),
                "within_rto": check.get("within_rto"),
            }
        )
    return found
