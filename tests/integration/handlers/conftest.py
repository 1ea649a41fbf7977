"""Fixtures for the responder's integration tests: a recorder and a responder stack factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.support.contracts import service_contracts
from tests.support.recorder import Recorder
from tests.support.stack import Stack, fast_settings


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder(contracts=service_contracts()) as rec:
        yield rec


@pytest.fixture
async def topics(make_topic: Callable[..., Awaitable[str]]) -> dict[str, str]:
    return {
        "decisions": await make_topic("decisions"),
        "panes": await make_topic("panes"),
        "incidents": await make_topic("incidents"),
        "state": await make_topic("state"),  # stage 2's: the SLO budgets come on it
    }


@pytest.fixture
async def stack(
    database: str, bootstrap: str, topics: dict[str, str], recorder: Recorder
) -> AsyncIterator[Callable[..., Awaitable[Stack]]]:
    """Build (and start) a responder with shortened durations; stopped after the test."""
    made: list[Stack] = []

    async def _make(roles: tuple[str, ...] | None = None, **groups: Any) -> Stack:
        s = Stack(fast_settings(database, bootstrap, topics, recorder, **groups), recorder)
        made.append(s)
        await s.start(roles)
        return s

    yield _make
    for s in made:
        await s.stop()
