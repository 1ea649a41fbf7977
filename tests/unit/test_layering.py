"""Imports point one way (schemas ← streams, handlers ← app), checked on what Python loads.

Each check imports in a fresh interpreter: in this one, other tests have loaded everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_LOADED = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if name in {"schemas", "streams", "handlers"}:  # a whole layer: every module of it
        for found in pkgutil.walk_packages(module.__path__, f"{name}."):
            if not found.name.endswith(".__main__"):
                importlib.import_module(found.name)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``modules``."""
    out = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    return set(json.loads(out))


def _packages(loaded: set[str]) -> set[str]:
    return {name.split(".")[0] for name in loaded} & {"schemas", "streams", "handlers", "app"}


@pytest.mark.parametrize("module", ["handlers.rollback.health", "schemas.window"])
def test_the_window_math_loads_neither_kafka_nor_stage_1(module: str) -> None:
    """Verify (handlers) merges panes into a window as stage 2 does, without stage 1's
    aiokafka service behind it."""
    loaded = _loaded(module)
    assert module in loaded
    assert "aiokafka" not in loaded
    assert not {name for name in loaded if name.startswith("streams")}


@pytest.mark.parametrize(
    ("layer", "allowed"),
    [
        ("schemas", {"schemas"}),
        ("streams", {"schemas", "streams"}),
        ("handlers", {"schemas", "handlers"}),
    ],
)
def test_a_layer_loads_only_the_layers_below_it(layer: str, allowed: set[str]) -> None:
    assert _packages(_loaded(layer)) == allowed
