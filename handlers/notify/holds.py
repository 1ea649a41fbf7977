"""Delivery stages for maintenance windows, automation holds and dry run (``handlers.holds``).

    WindowStage   a notification of a service in a window that mutes: muted, like a silence
    HoldStage     a control call whose incident is held: ``held``, looked at again later
    DryRunStage   an action of a dry-run incident: ``dry_run`` ("would have sent"), not sent

They sit in ``delivery_pipeline`` before the send (``RetryStage``): a held call keeps its row
and idempotency key, is claimed again every ``holds.recheck_s`` (its attempts are not spent:
the store gives the claim's attempt back) and goes out once nothing holds it. Closing pages
(acknowledge, resolve) are never muted, as with silences. The hold is recorded on the
timeline once, when the call is first held; its send says when it went out.
"""

from __future__ import annotations

from handlers.config import HoldConfig
from handlers.holds import holding, muting_window
from handlers.incidents.effects import TimelineEntry

# The stages' own wording of an action ("breaker open"), shared rather than copied.
from handlers.notify.stages import Delivery
from handlers.notify.stages import _describe as describe
from handlers.outbox.ports import Settlement

__all__ = ["DryRunStage", "HoldStage", "WindowStage"]


class WindowStage:
    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        if not a.notification or a.closing:
            return d
        window = muting_window(d.automation, a.service, d.now)
        if window is None:
            return d
        note = TimelineEntry(
            "silence",
            f"{describe(a)} muted by maintenance window {window.name}",
            reason=window.spec.comment,
            result={"window": window.id, "key": a.key},
        )
        why = f"muted by maintenance window {window.name}"
        return d.settle(Settlement("muted", why, timeline=note))


class HoldStage:
    def __init__(self, cfg: HoldConfig) -> None:
        self._cfg = cfg

    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        if a.notification:
            return d
        causes = holding(d.automation, a.service, a.labels, a.released, d.now)
        if not causes:
            return d
        names = ", ".join(c.describe() for c in causes)
        note = None
        if not a.held:  # first held: say so once
            note = TimelineEntry(
                "hold",
                f"{describe(a)} held by {names}",
                reason="; ".join(c.reason for c in causes),
                result={"holds": [c.key for c in causes], "key": a.key},
            )
        again = d.now + self._cfg.recheck_s
        return d.settle(Settlement("held", f"held by {names}", again, timeline=note))


class DryRunStage:
    async def exec(self, d: Delivery) -> Delivery:
        a = d.action
        if not a.dry_run:
            return d
        note = TimelineEntry(
            "action",
            f"{describe(a)} would have been sent (dry run)",
            result={"key": a.key, "payload": dict(a.payload)},
        )
        return d.settle(Settlement("dry_run", "dry run: would have sent", timeline=note))
