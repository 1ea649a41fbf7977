"""Settings are loaded once, by ``app.settings``: no other module reads an ``ALERTPIPE_*``
variable or builds its own ``Settings()``, so the stream stages take their configuration as
arguments (that streams cannot import app at all is tests/unit/test_layers.py's)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.aggregate.__main__ import _parser as aggregate_parser
from streams.evaluate.__main__ import parse_args as evaluate_args

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "streams", "handlers", "app")
SETTINGS_MODULE = ROOT / "app" / "settings.py"


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _names_alertpipe_variable(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith("ALERTPIPE_")
    if isinstance(node, ast.JoinedStr) and node.values:
        return _names_alertpipe_variable(node.values[0])
    return False


def _reads_environment(node: ast.AST) -> ast.expr | None:
    """The variable name of ``os.environ[...]``, ``os.environ.get(...)``, ``os.getenv(...)``."""
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        return node.slice
    reader = isinstance(node, ast.Call) and ast.unparse(node.func) in (
        "os.environ.get",
        "os.getenv",
    )
    if isinstance(node, ast.Call) and reader and node.args:
        return node.args[0]
    return None


def _builds_settings(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func) in ("Settings", "_Settings")


def test_only_app_settings_reads_alertpipe_variables() -> None:
    found = []
    for path, tree in _modules():
        if path == SETTINGS_MODULE:
            continue
        for node in ast.walk(tree):
            name = _reads_environment(node)
            if (name is not None and _names_alertpipe_variable(name)) or _builds_settings(node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "read settings through app.settings.get_settings() instead:\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ALERTPIPE_TOPICS__PANES", "from-env"), ("ALERTPIPE_GROUP_PREFIX", "from-env")],
)
def test_the_stage_entry_points_take_flags_not_the_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    aggregate = aggregate_parser().parse_args(["--bootstrap", "k:9092"])
    evaluate = evaluate_args(["--bootstrap", "k:9092"])
    chosen = [aggregate.panes_topic, aggregate.group, evaluate.panes_topic, evaluate.group]
    assert value not in chosen
    assert aggregate.panes_topic == evaluate.panes_topic == "metrics.panes"
