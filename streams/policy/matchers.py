"""Matchers and names shared by the policy's sections (rules, routes, the Alertmanager mapping).

A value is exact ("POST /api/message"), a glob when it contains ``*`` or ``?`` ("web-*"), or a
regular expression after ``re:`` ("re:POST /api/(search|message)"); a list matches when any of
its values does. Severities are written in any case (``critical``, ``CRITICAL``).
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from schemas.severity import Severity
from streams.policy.errors import FieldInvalid

__all__ = ["Patterns", "SeverityName", "check_patterns", "matches_all", "value_matches"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


SeverityName = Annotated[Severity, BeforeValidator(_upper)]


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str] | None:
    if pattern.startswith("re:"):
        return re.compile(pattern[3:])
    return None


def value_matches(pattern: str, value: str) -> bool:
    regex = _compile(pattern)
    if regex is not None:
        return regex.fullmatch(value) is not None
    if "*" in pattern or "?" in pattern:
        return fnmatchcase(value, pattern)
    return pattern == value


def matches_all(match: dict[str, tuple[str, ...]], fields: dict[str, str]) -> bool:
    """Every key's patterns take that field's value (a missing field is the empty string)."""
    return all(
        any(value_matches(pattern, fields.get(key, "")) for pattern in patterns)
        for key, patterns in match.items()
    )


def _as_patterns(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    return value


Patterns = Annotated[tuple[str, ...], BeforeValidator(_as_patterns), Field(min_length=1)]


def check_patterns(match: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    for key, patterns in match.items():
        for pattern in patterns:
            try:
                _compile(pattern)
            except re.error as error:
                raise FieldInvalid(
                    key, f"expected a valid regular expression after re:, got {pattern!r}: {error}"
                ) from None
    return match
