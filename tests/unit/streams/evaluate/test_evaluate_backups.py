"""Backups in stage 2: each dataset's track, its ages judged in event time (silence included),
and a restart that forgets nothing of it."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.decisions import Decision
from schemas.panes import BackupRecord, PaneSummary, RestoreTestRecord
from streams.evaluate import codec
from streams.evaluate.backups import BackupTrack, after_backup, after_restore_test, apply_records
from streams.evaluate.engine import EngineConfig, Evaluation, Output
from streams.evaluate.synthetic import START_MS, SeriesInput, build_panes
from streams.policy import load_policy

POLICY = load_policy()
T0 = START_MS / 1000
CHAT = {"service": "chat-api", "dataset": "chat_messages"}
MESSAGE = {"service": "chat-api", "endpoint": "POST /api/message"}


def _backup(
    at_s: float, kind: str = "wal", status: str = "succeeded", taken_s: float | None = None
) -> BackupRecord:
    taken = at_s if taken_s is None else taken_s
    return BackupRecord.model_validate(
        {"ts": T0 + at_s, "backup_id": f"{kind}-{at_s:g}", "type": kind, "status": status,
         "taken_at": T0 + taken}
    )  # fmt: skip


def test_the_latest_attempt_of_a_type_decides_whether_it_is_failing() -> None:
    track = after_backup(None, _backup(10, "full", "failed"))
    assert track.failing == ("full",) and track.newest("full") is None
    assert track.first_seen_ms == START_MS + 10_000
    track = after_backup(track, _backup(20, "full"))
    assert track.failing == () and track.newest("full") == START_MS + 20_000
    # a late report of an older failure does not undo the newer success
    track = after_backup(track, _backup(30, "full", "failed", taken_s=5))
    assert track.failing == () and track.count("full") == 1


def test_only_a_passed_restore_test_counts() -> None:
    failed = RestoreTestRecord(ts=T0 + 5, backup_id="b", ok=False, duration_s=1, environment="s")
    passed = RestoreTestRecord(ts=T0 + 9, backup_id="b", ok=True, duration_s=1, environment="s")
    track = apply_records(None, [passed, failed])
    assert track is not None
    assert (track.tested_ms, track.tests_passed) == (START_MS + 9_000, 1)
    assert after_restore_test(track, failed) == track


def test_a_track_survives_its_json() -> None:
    track = apply_records(None, [_backup(1), _backup(2, "full", "failed")])
    assert track is not None
    assert BackupTrack.from_json(track.to_json()) == track
    value = codec.encode_service(
        "chat-api", Evaluation(POLICY).service("x").track, {}, {"k": track}
    )
    assert codec.decode_service(value)[4] == {"k": track}
    # a service checkpoint written before backups were kept still reads
    old = {k: v for k, v in value.items() if k != "backups"}
    assert codec.decode_service(old)[4] == {}


def _groups(series: list[dict[str, Any]]) -> list[list[PaneSummary]]:
    return build_panes(tuple(SeriesInput.model_validate(s) for s in series))


def _run(engine: Evaluation, groups: list[list[PaneSummary]]) -> Output:
    out = Output()
    for panes in groups:
        for pane in panes:
            engine.add(pane)
        out.extend(engine.advance())
    return out


def _rpo(decisions: list[Decision]) -> list[tuple[str, float]]:
    return [
        (d.state, (d.at_ms - START_MS) / 1000)
        for d in decisions
        if d.rule == "backup-rpo-chat_messages"
    ]


# The service keeps serving (its pane ends drive the partition's event time) while its log
# backups stop after the one taken at 5 min.
STOPS: list[dict[str, Any]] = [
    {"scope": MESSAGE, "requests": "30x1000"},
    {"scope": CHAT, "backups": [{"at": "0s", "every": "5m", "until": "6m"}]},
]


def test_a_stream_that_stops_fires_at_the_first_pane_past_the_rpo() -> None:
    out = _run(Evaluation(POLICY), _groups(STOPS))
    assert _rpo(out.decisions) == [("firing", 901.0)]  # 5 min + 10 min, and one pane
    [fired] = [d for d in out.decisions if d.rule == "backup-rpo-chat_messages"]
    assert (fired.severity, fired.response) == ("HIGH", "page")
    assert fired.evidence.observed == 601_000
    assert "over" not in fired.summary  # an age, not a window's figure
    assert "backup_age 10m1s > 10m on chat-api chat_messages" in fired.summary


def test_a_backup_taken_in_time_resolves_it_at_once() -> None:
    series = [dict(STOPS[0]), {"scope": CHAT, "backups": [
        {"at": "0s", "every": "5m", "until": "6m"}, {"at": "950s", "age": "10s"}]}]  # fmt: skip
    out = _run(Evaluation(POLICY), _groups(series))
    assert _rpo(out.decisions) == [("firing", 901.0), ("resolved", 951.0)]


@pytest.mark.parametrize("split", [100, 400, 899])
def test_a_restart_keeps_the_backups_it_saw(split: int) -> None:
    """After a restart the dataset's panes of minutes ago are gone (only the last window's are
    rebuilt): its track, checkpointed with the service, still ages the backups it saw."""
    groups = _groups(STOPS)
    engine = Evaluation(POLICY, EngineConfig(checkpoint_every_ms=1))
    before = _run(engine, groups[:split])
    latest = {change.key: change.value for change in before.state}
    fresh = Evaluation(POLICY, engine.config)
    for value in latest.values():
        if value is not None:
            fresh.restore(value)
    for panes in groups[split - 60 : split]:
        for pane in panes:
            fresh.add(pane, evaluate=False)
    after = _run(fresh, groups[split:])
    assert _rpo(before.decisions + after.decisions) == [("firing", 901.0)]
