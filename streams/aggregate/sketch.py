"""Latency sketch: a DDSketch (logarithmic mapping, relative error ``alpha``), mergeable.

A value x > ``min_value`` goes to bucket ``i = ceil(log(x) / log(gamma))`` with
``gamma = (1 + alpha) / (1 - alpha)``; bucket i holds (gamma^(i-1), gamma^i] and is read back
as ``2 gamma^i / (gamma + 1)``, which is within ``alpha`` of every value in the bucket. Values
at or below ``min_value`` (1 µs for latencies in ms) count as zeros, so a stray 1e-300 cannot
stretch the dense wire form over thousands of empty buckets.

Quantiles use the lower-rank definition: the q-quantile of n values is the value at
0-based rank ``floor(q * (n - 1))`` in sorted order (``quantile_rank``). The sketch returns a
value within ``alpha`` (relative) of that exact value, clamped to the observed [min, max].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from schemas.panes import LatencySketch

__all__ = ["ALPHA", "MIN_VALUE", "Mapping", "MergedSketch", "Sketch", "quantile_rank"]

ALPHA = 0.01
MIN_VALUE = 1e-3


@dataclass(frozen=True)
class Mapping:
    """The value ↔ bucket mapping, with its logarithm precomputed once."""

    alpha: float = ALPHA
    min_value: float = MIN_VALUE
    gamma: float = field(init=False)
    multiplier: float = field(init=False)  # 1 / log(gamma): one multiply per value

    def __post_init__(self) -> None:
        gamma = (1.0 + self.alpha) / (1.0 - self.alpha)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "multiplier", 1.0 / math.log(gamma))

    def index(self, value: float) -> int:
        return math.ceil(math.log(value) * self.multiplier)

    def value(self, index: int) -> float:
        return 2.0 * self.gamma**index / (self.gamma + 1.0)


DEFAULT_MAPPING = Mapping()


def quantile_rank(q: float, count: int) -> int:
    """0-based rank of the q-quantile among ``count`` sorted values (lower definition)."""
    return math.floor(q * (count - 1))


class Sketch:
    """Bucket counts (sparse in memory, dense on the wire) plus the zero bucket."""

    __slots__ = ("bins", "mapping", "min_value", "multiplier", "zeros")

    def __init__(self, mapping: Mapping = DEFAULT_MAPPING) -> None:
        self.mapping = mapping
        self.multiplier = mapping.multiplier  # copied: the hot path reads them per value
        self.min_value = mapping.min_value
        self.zeros = 0
        self.bins: dict[int, int] = {}

    @property
    def count(self) -> int:
        return self.zeros + sum(self.bins.values())

    def add(self, value: float) -> None:
        # Written out again in Pane.add_request (the hot path); keep the two in step.
        if value <= self.min_value:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) * self.multiplier)
        self.bins[index] = self.bins.get(index, 0) + 1

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def merge(self, other: Sketch) -> None:
        self._require_same_mapping(other.mapping)
        self.zeros += other.zeros
        for index, count in other.bins.items():
            self.bins[index] = self.bins.get(index, 0) + count

    def merge_wire(self, wire: LatencySketch) -> None:
        """Add a sketch as published in a pane (dense counts from ``offset``)."""
        self._require_same_mapping(Mapping(wire.alpha, wire.min_value))
        self.zeros += wire.zeros
        bins = self.bins
        for index, count in enumerate(wire.counts, start=wire.offset):
            if count:
                bins[index] = bins.get(index, 0) + count

    def _require_same_mapping(self, other: Mapping) -> None:
        # Buckets of different gammas do not line up; merging them would be silently wrong.
        if other != self.mapping:
            raise ValueError(f"cannot merge sketches with different mappings: {other}")

    def quantile(self, q: float) -> float | None:
        """The q-quantile estimate (before clamping to min/max), or None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = quantile_rank(q, total)
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen > rank:
                return self.mapping.value(index)
        raise AssertionError("unreachable: rank is below the total count")

    def to_wire(self) -> dict[str, object]:
        """The ``LatencySketch`` wire form as a plain dict (cheap to serialise)."""
        if not self.bins:
            counts: list[int] = []
            offset = 0
        else:
            offset = min(self.bins)
            counts = [0] * (max(self.bins) - offset + 1)
            for index, count in self.bins.items():
                counts[index - offset] = count
        return {
            "alpha": self.mapping.alpha,
            "min_value": self.mapping.min_value,
            "zeros": self.zeros,
            "offset": offset,
            "counts": counts,
        }

    @classmethod
    def from_wire(cls, wire: LatencySketch) -> Sketch:
        sketch = cls(Mapping(wire.alpha, wire.min_value))
        sketch.merge_wire(wire)
        return sketch


class MergedSketch:
    """Many wire sketches summed into one dense array (the window merge), read by quantile.

    Sketches of another mapping (a changed ``alpha``) are re-binned through their bucket
    values, which keeps the error within about twice the larger alpha instead of failing.
    """

    __slots__ = ("counts", "mapping", "offset", "total", "zeros")

    def __init__(self, sketches: Sequence[LatencySketch]) -> None:
        first = sketches[0] if sketches else None
        self.mapping = Mapping(first.alpha, first.min_value) if first else DEFAULT_MAPPING
        own = [s for s in sketches if Mapping(s.alpha, s.min_value) == self.mapping]
        foreign = [s for s in sketches if Mapping(s.alpha, s.min_value) != self.mapping]
        self.zeros = sum(s.zeros for s in own)
        self.offset, self.counts = _dense_sum(own)
        for sketch in foreign:
            self._rebin(sketch)
        self.total = self.zeros + int(self.counts.sum())

    def _rebin(self, wire: LatencySketch) -> None:
        source = Mapping(wire.alpha, wire.min_value)
        self.zeros += wire.zeros
        bins: dict[int, int] = {}
        for index, count in enumerate(wire.counts, start=wire.offset):
            if count:
                target = self.mapping.index(source.value(index))
                bins[target] = bins.get(target, 0) + count
        self.offset, self.counts = _with_bins(self.offset, self.counts, bins)

    def quantile(self, q: float) -> float | None:
        """The q-quantile estimate (lower-rank definition), or None when empty."""
        if self.total == 0:
            return None
        rank = quantile_rank(q, self.total)
        if rank < self.zeros:
            return 0.0
        cumulative = np.cumsum(self.counts)
        position = int(np.searchsorted(cumulative, rank - self.zeros, side="right"))
        return self.mapping.value(self.offset + position)


def _dense_sum(sketches: Sequence[LatencySketch]) -> tuple[int, npt.NDArray[np.int64]]:
    filled = [s for s in sketches if s.counts]
    if not filled:
        return 0, np.zeros(0, dtype=np.int64)
    low = min(s.offset for s in filled)
    high = max(s.offset + len(s.counts) for s in filled)
    total = np.zeros(high - low, dtype=np.int64)
    for sketch in filled:
        start = sketch.offset - low
        total[start : start + len(sketch.counts)] += np.asarray(sketch.counts, dtype=np.int64)
    return low, total


def _with_bins(
    offset: int, counts: npt.NDArray[np.int64], bins: dict[int, int]
) -> tuple[int, npt.NDArray[np.int64]]:
    if not bins:
        return offset, counts
    low, high = min(bins), max(bins) + 1
    if len(counts):
        low, high = min(low, offset), max(high, offset + len(counts))
    total = np.zeros(high - low, dtype=np.int64)
    total[offset - low : offset - low + len(counts)] += counts
    for index, count in bins.items():
        total[index - low] += count
    return low, total
