"""Latency sketch: a DDSketch (logarithmic mapping, relative error ``alpha``), mergeable.

A value x > ``min_value`` goes to bucket ``i = ceil(log(x) / log(gamma))`` with
``gamma = (1 + alpha) / (1 - alpha)``; bucket i holds (gamma^(i-1), gamma^i] and is read back
as ``2 gamma^i / (gamma + 1)``, which is within ``alpha`` of every value in the bucket. Values
at or below ``min_value`` (1 µs for latencies in ms) count as zeros. Quantiles use the
lower-rank definition (``quantile_rank``: rank ``floor(q * (n - 1))``), answered within
``alpha`` and clamped to the observed [min, max].

The wire form (``LatencySketch``: run-length counts, at most ``MAX_BINS`` buckets, the lowest
collapsing) and its measured size: docs/design.md record 2; why it lives in ``schemas``:
record 15. In memory a pane's buckets are bounded by the mapping's finite index range (floats
above ``min_value``: about 35,800 buckets), so the hot path never checks the bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt

from schemas.panes import LatencySketch

__all__ = [
    "ALPHA",
    "MAX_BINS",
    "MIN_VALUE",
    "Mapping",
    "MergedSketch",
    "Sketch",
    "quantile_rank",
]

ALPHA = 0.01
MIN_VALUE = 1e-3
MAX_BINS = 2048  # buckets on the wire: an index range of 2048 covers a factor of ~6e17


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
    """Bucket counts (sparse in memory, run-length on the wire) plus the zero bucket."""

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
        # Written out again in stage 1's Pane.add_request (streams.aggregate.panes, the hot
        # path); keep the two in step.
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
        """Add a sketch as published in a pane (run-length or the old dense form)."""
        self._require_same_mapping(Mapping(wire.alpha, wire.min_value))
        self.zeros += wire.zeros
        indexes, counts = decode_runs([wire])
        bins = self.bins
        for index, count in zip(indexes.tolist(), counts.tolist(), strict=True):
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

    def to_wire(self, max_bins: int = MAX_BINS) -> dict[str, object]:
        """The ``LatencySketch`` wire form as a plain dict (cheap to serialise)."""
        offset, counts = encode_runs(self.bins, max_bins)
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


def encode_runs(bins: dict[int, int], max_bins: int) -> tuple[int, list[int]]:
    """``(offset, counts)``: counts from offset, each run of k > 1 empty buckets written -k.

    At most ``max_bins`` indexes are spanned: buckets below fold into the lowest one kept.
    """
    if not bins:
        return 0, []
    indexes = sorted(bins)
    if indexes[-1] - indexes[0] >= max_bins:
        bins = collapse_lowest(bins, indexes[-1] - max_bins + 1)
        indexes = sorted(bins)
    counts: list[int] = []
    append = counts.append  # bound once: this runs for every pane that closes
    previous = indexes[0] - 1
    for index in indexes:
        gap = index - previous
        if gap > 1:  # gap - 1 empty buckets; one is written "0", shorter than "-1"
            append(0 if gap == 2 else 1 - gap)
        append(bins[index])
        previous = index
    return indexes[0], counts


def collapse_lowest(bins: dict[int, int], floor: int) -> dict[int, int]:
    """The buckets at or below ``floor`` folded into bucket ``floor``, like DDSketch's
    CollapsingLowestDenseStore: the upper quantiles, the ones alerts watch, stay exact."""
    kept = {index: count for index, count in bins.items() if index > floor}
    kept[floor] = sum(count for index, count in bins.items() if index <= floor)
    return kept


Array = npt.NDArray[np.int64]


def decode_runs(wires: Sequence[LatencySketch]) -> tuple[Array, Array]:
    """The non-empty buckets of wire sketches (run-length or old dense): (indexes, counts).

    All sketches at once, vectorised: the entries are laid end to end, each stands for one
    bucket (a count) or ``k`` (a run ``-k``), and each sketch's entries are then shifted so
    that its first one lands on its ``offset``.
    """
    filled = [wire for wire in wires if wire.counts]
    if not filled:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lengths = np.fromiter((len(w.counts) for w in filled), np.int64, len(filled))
    offsets = np.fromiter((w.offset for w in filled), np.int64, len(filled))
    runs = np.fromiter(chain.from_iterable(w.counts for w in filled), np.int64, int(lengths.sum()))
    steps = np.where(runs < 0, -runs, 1)
    starts = np.cumsum(steps) - steps  # bucket of each entry, sketches laid end to end
    firsts = np.cumsum(lengths) - lengths  # each sketch's first entry
    indexes = starts + np.repeat(offsets - starts[firsts], lengths)
    filled_buckets = runs > 0
    return indexes[filled_buckets], runs[filled_buckets]


class MergedSketch:
    """Many wire sketches summed into one dense array (the window merge), read by quantile.

    Sketches of another mapping (a changed ``alpha``) are re-binned through their bucket
    values, which keeps the error within about twice the larger alpha instead of failing.
    """

    __slots__ = ("cumulative", "mapping", "offset", "total", "zeros")

    def __init__(self, sketches: Sequence[LatencySketch]) -> None:
        first = sketches[0] if sketches else None
        self.mapping = Mapping(first.alpha, first.min_value) if first else DEFAULT_MAPPING
        own = [s for s in sketches if Mapping(s.alpha, s.min_value) == self.mapping]
        foreign = [s for s in sketches if Mapping(s.alpha, s.min_value) != self.mapping]
        self.zeros = sum(s.zeros for s in sketches)
        parts = [decode_runs(own), *(self._rebinned(s) for s in foreign)]
        indexes = np.concatenate([i for i, _ in parts])
        counts = np.concatenate([c for _, c in parts])
        self.offset = int(indexes.min()) if len(indexes) else 0
        # Dense from the lowest bucket: one pane's buckets span at most MAX_BINS indexes,
        # a window's at most the mapping's index range (~36k), and usually a few hundred.
        dense = np.bincount(indexes - self.offset, weights=counts).astype(np.int64)
        self.cumulative: Array = np.cumsum(dense)
        self.total = self.zeros + (int(self.cumulative[-1]) if len(dense) else 0)

    def _rebinned(self, wire: LatencySketch) -> tuple[Array, Array]:
        source = Mapping(wire.alpha, wire.min_value)
        indexes, counts = decode_runs([wire])
        targets = [self.mapping.index(source.value(index)) for index in indexes.tolist()]
        return np.asarray(targets, dtype=np.int64), counts

    def quantile(self, q: float) -> float | None:
        """The q-quantile estimate (lower-rank definition), or None when empty."""
        if self.total == 0:
            return None
        rank = quantile_rank(q, self.total)
        if rank < self.zeros:
            return 0.0
        position = int(np.searchsorted(self.cumulative, rank - self.zeros, side="right"))
        return self.mapping.value(self.offset + position)
