"""The latency sketch: relative error within alpha of the exact percentile, mergeable, compact."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.panes import LatencySketch
from streams.aggregate.sketch import ALPHA, MIN_VALUE, Mapping, MergedSketch, Sketch, quantile_rank

values = st.lists(st.floats(MIN_VALUE * 2, 1e7, allow_nan=False), min_size=1, max_size=300)
QUANTILES = (0.0, 0.5, 0.95, 0.99, 1.0)


def exact(data: list[float], q: float) -> float:
    return sorted(data)[quantile_rank(q, len(data))]


def within_alpha(estimate: float | None, truth: float) -> bool:
    assert estimate is not None
    return abs(estimate - truth) <= ALPHA * truth * (1 + 1e-9)


@settings(max_examples=300, deadline=None)
@given(values)
def test_quantiles_are_within_alpha_of_the_exact_value(data: list[float]) -> None:
    sketch = Sketch()
    sketch.extend(data)
    for q in QUANTILES:
        assert within_alpha(sketch.quantile(q), exact(data, q)), q


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=6))
def test_merging_wire_sketches_equals_one_sketch_of_everything(parts: list[list[float]]) -> None:
    wires = []
    for part in parts:
        sketch = Sketch()
        sketch.extend(part)
        wires.append(LatencySketch.model_validate(sketch.to_wire()))
    merged = MergedSketch(wires)
    everything = [v for part in parts for v in part]
    whole = Sketch()
    whole.extend(everything)
    assert merged.total == len(everything)
    for q in QUANTILES:
        assert merged.quantile(q) == whole.quantile(q)
        assert within_alpha(merged.quantile(q), exact(everything, q))


def test_values_at_or_below_min_value_count_as_zeros() -> None:
    sketch = Sketch()
    sketch.extend([0.0, MIN_VALUE, 5.0])
    assert (sketch.zeros, sketch.count) == (2, 3)
    assert sketch.quantile(0.5) == 0.0
    assert within_alpha(sketch.quantile(1.0), 5.0)


def test_wire_form_is_dense_from_the_lowest_bucket() -> None:
    sketch = Sketch()
    sketch.extend([10.0, 10.0, 100.0])
    wire = LatencySketch.model_validate(sketch.to_wire())
    mapping = Mapping()
    assert wire.offset == mapping.index(10.0)
    assert wire.counts[0] == 2 and wire.counts[-1] == 1
    assert len(wire.counts) == mapping.index(100.0) - mapping.index(10.0) + 1
    assert sum(wire.counts) == 3


def test_empty_sketches_have_no_quantile() -> None:
    assert Sketch().quantile(0.5) is None
    assert MergedSketch([]).quantile(0.5) is None


def test_sketches_of_another_alpha_are_rebinned_not_rejected() -> None:
    coarse = Sketch(Mapping(alpha=0.02))
    coarse.extend([100.0] * 10)
    fine = Sketch()
    fine.extend([200.0] * 10)
    wires = [LatencySketch.model_validate(s.to_wire()) for s in (fine, coarse)]
    merged = MergedSketch(wires)
    assert merged.total == 20
    assert merged.quantile(0.0) == pytest.approx(100.0, rel=0.03)
    assert merged.quantile(1.0) == pytest.approx(200.0, rel=ALPHA)


def test_merging_sketches_of_different_mappings_in_memory_is_refused() -> None:
    with pytest.raises(ValueError, match="different mappings"):
        Sketch().merge(Sketch(Mapping(alpha=0.05)))


def test_bucket_bounds_follow_the_documented_mapping() -> None:
    mapping = Mapping()
    gamma = (1 + ALPHA) / (1 - ALPHA)
    assert mapping.gamma == pytest.approx(gamma)
    for value in (0.5, 1.0, 41.5, 12_345.0):
        index = mapping.index(value)
        assert gamma ** (index - 1) < value <= gamma**index * (1 + 1e-12)
        assert math.isclose(mapping.value(index), 2 * gamma**index / (gamma + 1))
