"""Memory of the SLO windows: 10,000 scopes over 3 days of simulated time (a script, not a test).

    .venv/bin/python benchmarks/slo_memory.py [--scopes 10000] [--days 3] [--every 5m]

SLO alerts read windows of 1 h, 6 h and 3 days, and budgets 30 days. The evaluator keeps
1 s panes only as long as its ordinary rules need them (the longest rule window plus a
margin: 90 s with the default policy) and rolls older panes up into per-scope rings of
minute, hour and day counts (``streams.evaluate.rollup``). This measures, with tracemalloc:

- the roll-ups of ``--scopes`` scopes fed for ``--days`` of simulated time (one rolled-up
  count per scope every ``--every``; the rings are preallocated, so their size does not
  depend on how often they are fed — checked on 20 scopes fed every minute), after each day;
- the 1 s pane buffer the evaluator keeps per scope (measured on 50 endpoint scopes run
  through the real engine for 4 minutes of panes), times the scopes;
- the baseline, measured in the same run: the bytes of one scope's 1 s panes (600 of them,
  as stage 1 publishes them), scaled to what holding 3 days of them for every scope takes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.panes import PaneSummary, RequestStats, Scope
from schemas.sketch import Sketch
from streams.evaluate.engine import Evaluation
from streams.evaluate.rollup import DAY_MS, MINUTE_MS, RollUp
from streams.policy import load_policy
from streams.policy.durations import parse_duration_ms

T0 = 1_700_006_400_000
MB = 1024 * 1024


def _traced(build: object) -> tuple[object, int]:
    """Build something and return it with the bytes it holds (tracemalloc, after a collect)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    found = build() if callable(build) else build
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return found, held


def rollups(scopes: int, days: int, every_ms: int) -> list[tuple[int, float, float]]:
    """(day, MB held, seconds taken) after each simulated day."""
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    rings = [RollUp() for _ in range(scopes)]
    out = []
    t = T0
    began = time.perf_counter()
    for day in range(1, days + 1):
        while t < T0 + day * DAY_MS:
            for n, ring in enumerate(rings):
                ring.add(t, 100 + n % 50, n % 3)
            t += every_ms
        for ring in rings:
            ring.rolled_until_ms = t
        gc.collect()
        out.append((day, (tracemalloc.get_traced_memory()[0] - start) / MB,
                    time.perf_counter() - began))  # fmt: skip
    tracemalloc.stop()
    return out


def feeding_check(days: int) -> list[tuple[str, float]]:
    """Bytes per scope of 20 roll-ups fed every minute, every 5 minutes and every hour."""
    sizes = []
    for label, every in (("1m", MINUTE_MS), ("5m", 5 * MINUTE_MS), ("1h", 60 * MINUTE_MS)):

        def build(every: int = every) -> list[RollUp]:
            rings = [RollUp() for _ in range(20)]
            for t in range(T0, T0 + days * DAY_MS, every):
                for ring in rings:
                    ring.add(t, 100, 1)
            return rings

        _, held = _traced(build)
        sizes.append((label, held / 20))
    return sizes


def _pane(scope: Scope, start_ms: int, n: int) -> PaneSummary:
    """A 1 s request pane as stage 1 publishes it: ~12 latency buckets, one version."""
    sketch = Sketch()
    for i in range(12):
        sketch.bins[sketch.mapping.index(60.0 + 7 * i + n % 5)] = 4 + i
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start_ms, 0),
        scope=scope,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        partition=0,
        requests=RequestStats.model_validate(
            {
                "count": 120,
                "errors": n % 3,
                "latency": sketch.to_wire(),
                "min_ms": 60.0,
                "max_ms": 150.0,
                "versions": {"1.0.0": 120},
            }
        ),
    )


def pane_bytes(seconds: int = 600) -> float:
    """Bytes of one scope's 1 s request panes, per pane."""
    scope = Scope(service="shop-api", dimension="endpoint", key="GET /api/items")
    panes, held = _traced(lambda: [_pane(scope, T0 + s * 1000, s) for s in range(seconds)])
    assert isinstance(panes, list)
    return held / len(panes)


def buffers_per_scope(scopes: int = 50, seconds: int = 240) -> tuple[float, int]:
    """Bytes the engine holds per endpoint scope with full buffers (panes made as they close,
    so only what the engine keeps is counted), and the panes it keeps per scope."""
    policy = load_policy()
    names = [Scope(service=f"svc-{n // 10}", dimension="endpoint", key=f"GET /api/e{n}")
             for n in range(scopes)]  # fmt: skip

    def run() -> Evaluation:
        engine = Evaluation(policy)
        for s in range(seconds):
            for scope in names:
                engine.add(_pane(scope, T0 + s * 1000, s))
            engine.advance()
        return engine

    engine, held = _traced(run)
    assert isinstance(engine, Evaluation)
    kept = max(len(b) for s in engine.services.values() for b in s.buffers.values())
    return held / scopes, kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scopes", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--every", default="1h", help="simulated time between counts")
    args = parser.parse_args()
    every = parse_duration_ms(args.every)
    print(f"roll-ups of {args.scopes:,} scopes, one count every {args.every}:")
    days = rollups(args.scopes, args.days, every)
    for day, mb, took in days:
        per = mb * MB / args.scopes
        print(f"  after day {day}: {mb:.1f} MB ({per:,.0f} B/scope; {took:.0f} s)")
    sizes = ", ".join(f"every {label}: {size:,.0f}" for label, size in feeding_check(args.days))
    print(f"  the same rings fed more often (20 scopes, {args.days} days), B/scope: {sizes}")
    per_scope, kept = buffers_per_scope()
    buffers_mb = per_scope * args.scopes / MB
    print(f"engine, 50 endpoint scopes: {per_scope:,.0f} B/scope with {kept} panes buffered each")
    print(f"  x {args.scopes:,} scopes: {buffers_mb:.0f} MB")
    per_pane = pane_bytes()
    baseline = per_pane * args.days * 86_400 * args.scopes / MB
    print(f"baseline: a 1 s pane holds {per_pane:,.0f} B; {args.days} days of them for "
          f"{args.scopes:,} scopes: {baseline:,.0f} MB")  # fmt: skip
    total = days[-1][1] + buffers_mb
    print(f"alertpipe: roll-ups {days[-1][1]:.0f} MB + pane buffers {buffers_mb:.0f} MB = "
          f"{total:.0f} MB; ratio to the baseline {total / baseline:.5f} "
          f"(1 : {baseline / total:,.0f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
