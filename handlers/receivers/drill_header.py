"""The drill whose action is being sent, for the HTTP layer: ``X-Alertpipe-Drill: <id>``.

A context variable rather than a parameter, so that no receiver's wire format (pager, chat,
status page, control webhooks) has to know about drills: ``DrillRouter`` sets it around a
drill's send, ``WebhookPoster`` adds the header while it is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["DRILL_HEADER", "current_drill", "drill_context"]

DRILL_HEADER = "X-Alertpipe-Drill"

_CURRENT: ContextVar[str | None] = ContextVar("alertpipe_drill", default=None)


def current_drill() -> str | None:
    """The drill whose action is being sent in this task, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def drill_context(drill: str) -> Iterator[None]:
    token = _CURRENT.set(drill)
    try:
        yield
    finally:
        _CURRENT.reset(token)
