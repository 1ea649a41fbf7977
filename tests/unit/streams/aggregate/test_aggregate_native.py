"""The compiled build of stage 1's hot modules (``make native``) is used exactly when it was
built from the current sources; otherwise the same modules run as Python."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from streams.aggregate import native


def _build_stamped(tmp_path: Path, digest: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "sources.sha256"
    stamp.write_text(digest + "\n", encoding="ascii")
    monkeypatch.setattr(native, "_DIGEST", stamp)


def test_a_build_of_the_current_sources_goes_first_on_the_package_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build_stamped(tmp_path, native.digest(), monkeypatch)
    path = ["streams/aggregate"]
    assert native.use(path) is True
    assert path == [str(native.BUILD), "streams/aggregate"]


def test_a_build_of_other_sources_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build_stamped(tmp_path, "0" * 64, monkeypatch)
    path = ["streams/aggregate"]
    assert native.use(path) is False
    assert path == ["streams/aggregate"]


def test_without_a_build_the_modules_run_as_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "_DIGEST", tmp_path / "absent" / "sources.sha256")
    path = ["streams/aggregate"]
    assert native.use(path) is False
    assert path == ["streams/aggregate"]


def test_the_digest_changes_with_any_source_it_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, schemas = tmp_path / "streams" / "aggregate", tmp_path / "schemas"
    package.mkdir(parents=True)
    schemas.mkdir()
    (package / "partition.py").write_text("x = 1\n")
    (schemas / "sketch.py").write_text("y = 1\n")
    monkeypatch.setattr(native, "_PACKAGE", package)
    monkeypatch.setattr(native, "_ROOT", tmp_path)
    before = native.digest()
    (schemas / "sketch.py").write_text("y = 2\n")
    assert native.digest() != before


def test_when_built_the_hot_modules_are_the_compiled_ones() -> None:
    """What `make test` runs: the suite exercises the compiled modules, not the .py files."""
    stamp = native.BUILD / "sources.sha256"
    if not stamp.is_file():
        pytest.skip("no compiled build (make native): the modules run as Python")
    assert stamp.read_text(encoding="ascii").strip() == native.digest(), (
        "the compiled build is older than the sources: run `make native`"
    )
    for name in native.COMPILED:
        module = importlib.import_module(f"streams.aggregate.{name}")
        assert module.__file__ is not None and module.__file__.endswith(".so"), module.__file__
        assert module.__file__.startswith(str(native.BUILD))
