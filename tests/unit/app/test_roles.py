"""Roles are one ordered list: a ranked role has the rights of those before it; a role declared
``ranked=False`` (issue 16's ``ingest``) has its own only. Failed attempts are throttled per
address in a sliding window with bounded memory."""

from __future__ import annotations

import pytest

from app.api.auth import Throttle
from app.roles import ROLE_NAMES, ROLES, Role, allows


def test_the_ladder_is_viewer_operator_admin_and_ingest_stands_apart() -> None:
    assert ROLE_NAMES == ("viewer", "operator", "admin", "ingest")
    assert [role.name for role in ROLES if role.ranked] == ["viewer", "operator", "admin"]
    assert allows("admin", "viewer") and allows("admin", "operator") and allows("admin", "admin")
    assert allows("operator", "viewer") and not allows("operator", "admin")
    assert not allows("viewer", "operator") and not allows("nobody", "viewer")


def test_an_unranked_role_stands_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    assert allows("ingest", "ingest")
    assert not allows("ingest", "viewer") and not allows("admin", "ingest")
    import app.roles as roles

    robot = Role("robot", "something of its own", ranked=False)
    monkeypatch.setattr(roles, "ROLES", (*ROLES, robot))
    assert roles.allows("robot", "robot") and not roles.allows("robot", "ingest")
    assert not roles.allows("ingest", "robot") and not roles.allows("admin", "robot")


def test_throttle_counts_a_sliding_window_per_address() -> None:
    throttle = Throttle(limit=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        assert throttle.retry_after("a", t) is None
        throttle.record("a", t)
    assert throttle.retry_after("a", 30.0) == pytest.approx(30.0)  # the first leaves at 60
    assert throttle.retry_after("b", 30.0) is None
    assert throttle.retry_after("a", 60.5) is None  # the first failure left the window


def test_throttle_memory_is_bounded() -> None:
    throttle = Throttle(limit=1, window_s=60, max_addresses=100)
    for n in range(1000):
        throttle.record(f"10.0.{n // 256}.{n % 256}", 0.0)
    assert len(throttle._failures) == 100
    assert throttle.retry_after("10.0.3.231", 1.0) is not None  # the newest are kept
