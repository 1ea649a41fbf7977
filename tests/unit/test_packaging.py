"""A normal (non-editable) install carries every subpackage and data file: the wheel that
`pip install .` (and the Dockerfile) builds is what runs in production."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("alertpipe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _modules(folder: str) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py")}


@pytest.mark.parametrize("package", ["schemas", "streams", "handlers", "app"])
def test_every_module_of_the_package_is_in_the_wheel(wheel_files: set[str], package: str) -> None:
    missing = _modules(package) - wheel_files
    assert not missing, f"not packaged: {sorted(missing)}"


def test_the_data_files_are_in_the_wheel(wheel_files: set[str]) -> None:
    assert "streams/policy/default.yaml" in wheel_files
    migrations = {str(p.relative_to(ROOT)) for p in (ROOT / "app/migrations").glob("*.sql")}
    assert migrations and migrations <= wheel_files
    assert {
        "app/py.typed",
        "schemas/py.typed",
        "streams/py.typed",
        "handlers/py.typed",
    } <= wheel_files
    assert not any(name.startswith("tests/") for name in wheel_files)


def test_the_build_backend_is_pinned_exactly() -> None:
    """`pip install .` builds in an isolated environment from [build-system] requires: a
    range there would let a new setuptools change what gets built."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requires = pyproject["build-system"]["requires"]
    assert requires and all(
        re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", r) for r in requires
    )
