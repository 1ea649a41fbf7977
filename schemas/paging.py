"""Who a page is for: the plan's paging tiers, from the on-call engineer paged at detection to
the final contact. Each tier is its own PagerDuty alert (its own ``dedup_key``, and the routing
key its route names for it), so an escalation really pages that person instead of folding
into the on-call alert that is already open."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["PAGE_TIERS", "PageTier"]

PageTier = Literal["on_call", "lead_engineer", "team_lead", "final_contact"]
PAGE_TIERS: tuple[PageTier, ...] = get_args(PageTier)
