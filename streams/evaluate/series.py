"""Compact series notation for policy tests, one value per pane (like promtool's).

    "70x60"        70, sixty times
    "0x30 12x30"   0 for thirty panes, then 12 for thirty
    "20+5x4"       20 25 30 35 (four values from 20, step 5)
    "_x10"         ten panes with no value
    "onlinex3 crashed offlinex2"   text values repeat the same way
    "(1 0x4)x3"    a group repeated: 1 0 0 0 0, three times (a steady 1 request in 5 s)

Unlike promtool, ``x N`` means N values in total, so lengths add up: "0x30 12x30" is 60.
"""

from __future__ import annotations

import re

__all__ = ["expand", "expand_numbers", "expand_text"]

_STEP = re.compile(r"^(-?\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)x(\d+)$")
_REPEAT = re.compile(r"^(.+?)x(\d+)$")
_GROUP = re.compile(r"\(([^()]*)\)x(\d+)")
_HINT = 'expected values like "70x60", "0x30 12x30", "20+5x4", "(1 0x4)x3" or "_x10"'


def _token(token: str) -> list[str | None]:
    if re.fullmatch(r"x\d+", token):
        raise ValueError(f'{_HINT}; write the value and "x" together, got {token!r}')
    stepped = _STEP.match(token)
    if stepped:
        first, step, count = float(stepped[1]), float(stepped[2]), int(stepped[3])
        return [f"{first + step * i:g}" for i in range(count)]
    repeated = _REPEAT.match(token)
    value, count = (repeated[1], int(repeated[2])) if repeated else (token, 1)
    return [None if value == "_" else value] * count


def expand(text: str | int | float) -> list[str | None]:
    """Every pane's value as text (None: no value in that pane)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return [f"{text:g}"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{_HINT}, got {text!r}")
    while _GROUP.search(text):  # innermost groups first
        text = _GROUP.sub(lambda m: " ".join([m[1]] * int(m[2])), text)
    if "(" in text or ")" in text:
        raise ValueError(f'{_HINT}; a group is "(values)xN", got {text!r}')
    values: list[str | None] = []
    for token in text.split():
        values.extend(_token(token))
    return values


def expand_numbers(text: str | int | float) -> list[float | None]:
    numbers: list[float | None] = []
    for value in expand(text):
        try:
            numbers.append(None if value is None else float(value))
        except ValueError:
            raise ValueError(f"{_HINT} (numbers), got {value!r} in {text!r}") from None
    return numbers


def expand_text(text: str) -> list[str | None]:
    return expand(text)
