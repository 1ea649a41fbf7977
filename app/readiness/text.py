"""The readiness report as people read it (``alertpipe readiness check``, the demo)."""

from __future__ import annotations

from typing import Any

from handlers.incidents.notices import duration_text
from handlers.readiness.checklist import ItemResult, Readiness

__all__ = ["report_text"]

_MARK = {"pass": "pass", "fail": "FAIL", "unknown": "??  "}


def _line(result: ItemResult) -> list[str]:
    lines = [f"  {_MARK[result.status]}  {result.title}: {result.detail}"]
    if result.fix:
        lines.append(f"        to pass: {result.fix}")
    return lines


def report_text(report: Readiness) -> str:
    """The verdict, then each item: status, title, detail and, unless it passes, the fix."""
    what = report.service + (f" {report.version}" if report.version else "")
    failed = len(report.failed)
    total = len(report.checklist) + len(report.baselines)
    verdict = "READY" if report.ready else f"NOT READY ({failed} of {total} items do not pass)"
    lines = [f"{what}: {verdict}", "checklist:"]
    for result in report.checklist:
        lines += _line(result)
    window: Any = report.baselines[0].evidence.get("window_s") if report.baselines else None
    over = f" over the last {duration_text(window)}" if window else ""
    lines.append(f"baselines{over}:")
    for result in report.baselines:
        lines += _line(result)
    return "\n".join(lines)
