"""The latency sketch: relative error within alpha of the exact percentile, mergeable, compact."""

from __future__ import annotations

import math
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.panes import LatencySketch
from schemas.sketch import (
    ALPHA,
    MAX_BINS,
    MIN_VALUE,
    Mapping,
    MergedSketch,
    Sketch,
    quantile_rank,
)

values = st.lists(st.floats(MIN_VALUE * 2, 1e7, allow_nan=False), min_size=1, max_size=300)
QUANTILES = (0.0, 0.5, 0.95, 0.99, 1.0)


def exact(data: list[float], q: float) -> float:
    return sorted(data)[quantile_rank(q, len(data))]


def sketch_of(data: list[float]) -> Sketch:
    sketch = Sketch()
    sketch.extend(data)
    return sketch


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


def test_wire_form_is_run_length_from_the_lowest_bucket() -> None:
    mapping = Mapping()
    low, high = mapping.index(10.0), mapping.index(100.0)
    sketch = Sketch()
    sketch.extend([10.0, 10.0, 100.0, 100.0 * mapping.gamma**2])  # the last: one bucket on
    wire = LatencySketch.model_validate(sketch.to_wire())
    # 2 at low, (high - low - 1) empty buckets as one negative entry, 2 at high, then one
    # empty bucket written as 0 (shorter than -1), 1 at high + 2.
    assert (wire.offset, wire.counts) == (low, [2, -(high - low - 1), 1, 0, 1])


def dense_wire(sketch: Sketch) -> LatencySketch:
    """The wire form published before run-length coding: every bucket from the lowest."""
    bins = sketch.bins
    offset = min(bins, default=0)
    counts = [bins.get(i, 0) for i in range(offset, max(bins, default=-1) + 1)]
    return LatencySketch(alpha=ALPHA, min_value=MIN_VALUE, zeros=sketch.zeros, offset=offset,
                         counts=counts)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(values, min_size=1, max_size=5))
def test_the_old_dense_wire_form_still_reads(parts: list[list[float]]) -> None:
    # Panes published before the upgrade may still be on the topic (and mixed with new ones).
    sketches = [Sketch() for _ in parts]
    for sketch, part in zip(sketches, parts, strict=True):
        sketch.extend(part)
    dense = [dense_wire(s) for s in sketches]
    runs = [LatencySketch.model_validate(s.to_wire()) for s in sketches]
    for old, new, sketch in zip(dense, runs, sketches, strict=True):
        assert Sketch.from_wire(old).bins == Sketch.from_wire(new).bins == sketch.bins
    mixed = [old if i % 2 else new for i, (old, new) in enumerate(zip(dense, runs, strict=True))]
    for q in QUANTILES:
        assert MergedSketch(dense).quantile(q) == MergedSketch(runs).quantile(q)
        assert MergedSketch(mixed).quantile(q) == MergedSketch(runs).quantile(q)


# Latencies anywhere in the float range, with clusters: what a hostile or broken producer sends.
anything = st.lists(
    st.one_of(st.floats(MIN_VALUE * 2, 1e308), st.floats(0.1, 100.0), st.just(1e300)),
    min_size=1,
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(anything, min_size=1, max_size=6))
def test_window_merge_of_wire_forms_equals_merging_the_decoded_sketches(
    parts: list[list[float]],
) -> None:
    wires = []
    for part in parts:
        sketch = Sketch()
        sketch.extend(part)
        wires.append(LatencySketch.model_validate(sketch.to_wire()))
    one = Sketch()
    for wire in wires:
        one.merge_wire(wire)
    merged = MergedSketch(wires)
    assert merged.total == one.count == sum(len(part) for part in parts)
    for q in QUANTILES:
        assert merged.quantile(q) == one.quantile(q)


@settings(max_examples=200, deadline=None)
@given(anything)
def test_a_wire_sketch_spans_at_most_max_bins_buckets(data: list[float]) -> None:
    wire = LatencySketch.model_validate(sketch_of(data).to_wire())
    filled = [count for count in wire.counts if count > 0]
    spanned = sum(-count if count < 0 else 1 for count in wire.counts)
    assert spanned <= MAX_BINS and sum(filled) == len(data)


def test_the_serialised_size_is_bounded_even_for_extreme_values() -> None:
    two_modes = sketch_of([0.5, 30_000.0])
    assert len(orjson.dumps(two_modes.to_wire())) < 100  # was 1,168 bytes dense
    extreme = sketch_of([41.0, 1e300])
    assert len(orjson.dumps(extreme.to_wire())) < 100  # was 69.5 KB dense
    # Worst case: a value in every bucket the mapping has, from MIN_VALUE to the largest float.
    mapping = Mapping()
    every = Sketch()
    for index in range(mapping.index(MIN_VALUE * 2), mapping.index(1.7e308) + 1):
        every.bins[index] = 1
    wire = every.to_wire()
    assert len(wire["counts"]) == MAX_BINS  # type: ignore[arg-type]
    assert len(orjson.dumps(wire)) < 2 * MAX_BINS + 200  # "1," per bucket and the collapsed one


def test_collapsing_the_lowest_buckets_keeps_the_upper_quantiles_within_alpha() -> None:
    # 10 values near 0.01 ms and 990 from 1e20 to 1e30 ms: more than MAX_BINS buckets apart.
    rnd = random.Random(5)
    high = [10 ** rnd.uniform(20, 30) for _ in range(990)]
    data = [0.01 * (1 + i / 10) for i in range(10)] + high
    wire = LatencySketch.model_validate(sketch_of(data).to_wire())
    merged = MergedSketch([wire])
    assert merged.total == len(data)
    for q in (0.5, 0.95, 0.99, 1.0):
        assert within_alpha(merged.quantile(q), exact(data, q)), q
    lowest = merged.quantile(0.0)  # collapsed: overestimated, documented
    assert lowest is not None and lowest > 1e10


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
