"""Durations and thresholds as people write them in a policy: "30s", "1m", "2m30s", "10%", "5s".

Durations become integer milliseconds. A bare number is accepted only for 0 (a duration
without a unit is ambiguous: seconds? milliseconds?).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "format_duration",
    "format_value",
    "parse_duration_ms",
    "parse_percent",
    "parse_threshold",
]

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_HINT = "expected a duration like 30s, 1m, 2m30s or 500ms"


def _parse_text_duration(text: str) -> int:
    compact = text.strip().replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"{_DURATION_HINT}, got {text!r}")
    return round(sum(float(number) * _UNIT_MS[unit] for number, unit in parts))


def parse_duration_ms(value: Any) -> int:
    """Milliseconds from "30s", "1m", "2m30s", "500ms", "1h" (or the number 0)."""
    if isinstance(value, bool):
        raise ValueError(f"{_DURATION_HINT}, got {value!r}")
    if isinstance(value, int | float):
        if value == 0:
            return 0
        raise ValueError(f"{_DURATION_HINT} (a number needs a unit), got {value!r}")
    if isinstance(value, str):
        return _parse_text_duration(value)
    raise ValueError(f"{_DURATION_HINT}, got {value!r}")


def format_duration(ms: int) -> str:
    """The shortest text for a duration: 60000 -> "1m", 90000 -> "1m30s", 250 -> "250ms"."""
    if ms == 0:
        return "0s"
    parts: list[str] = []
    rest = ms
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNIT_MS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _number(value: Any, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{hint}, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{hint}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{hint}, got {value!r}")
    return number


def parse_percent(value: Any, *, as_fraction: bool) -> float:
    """ "10%" -> 0.1 (fraction) or 10.0 (percent); a bare number is taken as it is."""
    hint = "expected a number or a percentage like 10%"
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _number(value.strip()[:-1], hint)
        return number / 100.0 if as_fraction else number
    return _number(value, hint)


def parse_threshold(value: Any, unit: str) -> float:
    """A threshold in the metric's own unit; "5s" for milliseconds, "10%" for ratios."""
    if unit == "ratio":
        return parse_percent(value, as_fraction=True)
    if unit == "percent":
        return parse_percent(value, as_fraction=False)
    if unit == "ms" and isinstance(value, str) and not _is_number(value):
        try:
            return float(parse_duration_ms(value))
        except ValueError:
            raise ValueError(
                f"expected a number of milliseconds or a duration like 5s, got {value!r}"
            ) from None
    hint = "expected a number" + (" or a duration like 5s" if unit == "ms" else "")
    return _number(value, hint)


def format_value(value: float, unit: str) -> str:
    """A threshold as a policy writes it: 0.1 ratio -> "10%", 5000 ms -> "5s", 80 -> "80%"."""
    if unit == "ratio":
        return f"{value * 100:g}%"
    if unit == "percent":
        return f"{value:g}%"
    if unit == "ms":
        if value >= 60_000 and value % 1000 == 0:  # a backup's age: "10m", "7d"
            return format_duration(int(value))
        return f"{value / 1000:g}s" if abs(value) >= 1000 else f"{value:g}ms"
    return f"{value:g}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
