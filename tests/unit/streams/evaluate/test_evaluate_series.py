"""The compact series notation of policy tests."""

from __future__ import annotations

import pytest

from streams.evaluate.series import expand, expand_numbers


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("70x3", [70, 70, 70]),
        ("0x2 12x2", [0, 0, 12, 12]),
        ("20+5x4", [20, 25, 30, 35]),
        ("100-10x3", [100, 90, 80]),
        ("1 _x2 3", [1, None, None, 3]),
        (5, [5]),
        ("(1 0x2)x2", [1, 0, 0, 1, 0, 0]),
        ("((1 0)x2 5)x2", [1, 0, 1, 0, 5, 1, 0, 1, 0, 5]),
    ],
)
def test_numbers(text: str | int, values: list[float | None]) -> None:
    assert expand_numbers(text) == values


def test_text_values_repeat_too() -> None:
    assert expand("onlinex2 crashed 2.4.0x2") == ["online", "online", "crashed", "2.4.0", "2.4.0"]


@pytest.mark.parametrize("bad", ["online x3", "", "12a", "(1 0x2", "(1 0)"])
def test_bad_series_say_what_is_expected(bad: str) -> None:
    with pytest.raises(ValueError, match="expected values like"):
        expand_numbers(bad)
