"""Bytes of a pane's latency sketch in candidate wire forms (a script, not a test).

    .venv/bin/python benchmarks/sketch_wire.py

Why the sketch is published run-length coded: for each data set it builds the 1 s pane
sketches and prints the mean size, in orjson bytes, of the ``latency`` object written as

- dense: counts of every bucket from the lowest to the highest (the original form);
- pairs: ``[[index, count], ...]`` of the non-empty buckets;
- delta: non-empty buckets as index deltas and counts, two lists;
- runs: what ``Sketch.to_wire`` publishes (dense, each run of k > 1 empty buckets as -k);
- varint: index deltas and counts as zigzag varints, base64 (compact but opaque to kcat).

Data: the simulated traffic of ``app/simulation/scenarios.py`` (scenario s1, one pane per
endpoint and second, at the default 200 requests/s and at 2,000/s), lognormal (unimodal)
panes, a bimodal mix of ~0.5 ms and ~30 s, two values 0.5 ms and 30 s, one value, and one
normal value next to 1e300 (the worst case of the dense form).
"""

from __future__ import annotations

import base64
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.simulation.scenarios import Timeline, generate
from schemas.sketch import Sketch


def _header(sketch: Sketch) -> dict[str, Any]:
    return {"alpha": sketch.mapping.alpha, "min_value": sketch.min_value, "zeros": sketch.zeros}


def dense(sketch: Sketch) -> dict[str, Any]:
    bins = sketch.bins
    offset = min(bins, default=0)
    counts = [bins.get(i, 0) for i in range(offset, max(bins, default=-1) + 1)]
    return {**_header(sketch), "offset": offset, "counts": counts}


def pairs(sketch: Sketch) -> dict[str, Any]:
    return {**_header(sketch), "bins": sorted(sketch.bins.items())}


def _deltas(sketch: Sketch) -> list[tuple[int, int]]:
    indexes = sorted(sketch.bins)
    return [(b - a, sketch.bins[b]) for a, b in zip([0, *indexes], indexes, strict=False)]


def delta(sketch: Sketch) -> dict[str, Any]:
    steps = _deltas(sketch)
    return {**_header(sketch), "deltas": [d for d, _ in steps], "counts": [c for _, c in steps]}


def _varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)  # zigzag: small negatives stay short
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def varint(sketch: Sketch) -> dict[str, Any]:
    raw = b"".join(_varint(d) + _varint(c) for d, c in _deltas(sketch))
    return {**_header(sketch), "bins": base64.b64encode(raw).decode()}


FORMS: dict[str, Callable[[Sketch], dict[str, Any]]] = {
    "dense": dense,
    "pairs": pairs,
    "delta": delta,
    "runs": Sketch.to_wire,
    "varint": varint,
}


def simulated(rate: float) -> list[Sketch]:
    panes: dict[tuple[str, int], Sketch] = {}
    for event in generate("s1", 1_764_090_000.0, Timeline(rate=rate)):
        if event.kind == "request":
            panes.setdefault((event.endpoint, int(event.ts)), Sketch()).add(event.latency_ms)
    return list(panes.values())


def of(values: list[float]) -> Sketch:
    sketch = Sketch()
    sketch.extend(values)
    return sketch


def data_sets(rnd: random.Random) -> dict[str, list[Sketch]]:
    sigma = math.log(350 / 90) / 1.645  # the scenarios' healthy median and p95

    def lognormal(n: int) -> list[float]:
        return [90 * math.exp(rnd.gauss(0, sigma)) for _ in range(n)]

    def bimodal(n: int) -> list[float]:
        return [rnd.choice((0.5, 30_000.0)) * math.exp(rnd.gauss(0, 0.1)) for _ in range(n)]

    return {
        "simulated s1, 200 req/s": simulated(200),
        "simulated s1, 2000 req/s": simulated(2000),
        "unimodal, 200 per pane": [of(lognormal(200)) for _ in range(50)],
        "unimodal, 5000 per pane": [of(lognormal(5000)) for _ in range(10)],
        "bimodal, 200 per pane": [of(bimodal(200)) for _ in range(50)],
        "0.5 ms and 30 s": [of([0.5, 30_000.0])],
        "one value": [of([41.0])],
        "41 ms and 1e300": [of([41.0, 1e300])],
    }


def main() -> None:
    print(f"{'mean bytes of latency':28}" + "".join(f"{name:>9}" for name in FORMS))
    for name, sketches in data_sets(random.Random(1)).items():
        sizes = [
            sum(len(orjson.dumps(form(s))) for s in sketches) / len(sketches)
            for form in FORMS.values()
        ]
        print(f"{name:28}" + "".join(f"{size:9.0f}" for size in sizes))


if __name__ == "__main__":
    main()
