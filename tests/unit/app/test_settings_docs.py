"""docs/settings.md documents every setting: it must be exactly what ``alertpipe config docs``
writes from the settings models, so a new field in ``Settings`` (or in any group nested in it,
wherever that group is defined), a changed default or a changed description fails here until
the page is regenerated. The walk below is independent of the generator's, so a generator that
skipped a field would fail too."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from app.cli import main
from app.errors import ConfigError
from app.settings import Settings
from app.settings_docs import COMMAND, settings_markdown

SETTINGS_MD = Path(__file__).resolve().parents[3] / "docs" / "settings.md"
DELIMITER = Settings.model_config.get("env_nested_delimiter") or "__"
PREFIX = Settings.model_config.get("env_prefix") or ""
_ROW = re.compile(r"^\| `(ALERTPIPE_[A-Z0-9_]+)` \|", re.M)


def _group(annotation: object) -> type[BaseModel] | None:
    """The nested settings group behind an annotation (``Group`` or ``Group | None``)."""
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def env_names(model: type[BaseModel] = Settings, prefix: str = PREFIX) -> Iterator[str]:
    """The environment variable of every leaf setting, as pydantic-settings reads it."""
    for name, field in model.model_fields.items():
        variable = prefix + (field.alias or name).upper()
        group = _group(field.annotation)
        if group is None:
            yield variable
        else:
            yield from env_names(group, variable + DELIMITER)


def test_the_walk_finds_nested_groups_and_flat_names() -> None:
    names = set(env_names())
    assert {
        "ALERTPIPE_KAFKA_BOOTSTRAP",
        "ALERTPIPE_LOCAL__KAFKA_HEAP",
        "ALERTPIPE_ROLLBACK__PHASE_RETRIES__VERIFY",
        "ALERTPIPE_PAGER_URL",
    } <= names
    assert "ALERTPIPE_ROLLBACK__PHASE_RETRIES" not in names  # a group, not a setting


def test_docs_settings_md_is_what_the_command_writes() -> None:
    assert SETTINGS_MD.read_text(encoding="utf-8") == settings_markdown(), (
        f"docs/settings.md is stale: regenerate it with `{COMMAND}`"
    )


def test_the_reference_has_one_row_per_setting() -> None:
    rows = _ROW.findall(settings_markdown())
    assert sorted(rows) == sorted(env_names())
    assert len(rows) == len(set(rows))


def test_a_row_shows_type_bounds_default_and_description() -> None:
    text = settings_markdown()
    assert (
        "| `ALERTPIPE_TOPICS__PARTITIONS` | integer ≥ 1, ≤ 1000 | `3` | partitions of every "
        "topic created at start (existing ones are left alone) |"
    ) in text
    assert "| `ALERTPIPE_PAGER_URL` | secret | unset |" in text
    assert "| `ALERTPIPE_EVALUATOR__OFFSET_RESET` | `latest` or `earliest` | `latest` |" in text
    # A default computed on this machine is shown as its factory documents it, not as computed.
    assert "| `ALERTPIPE_LOCAL__DIR` | path | `/tmp/alertpipe-$USER`" in text


def test_a_setting_without_a_description_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Bare(BaseModel):
        undocumented: int = Field(default=1)

    class WithBare(Settings):
        bare: Bare = Field(default_factory=Bare)

    monkeypatch.setattr("app.settings_docs.Settings", WithBare)
    with pytest.raises(ConfigError, match=r"ALERTPIPE_BARE__UNDOCUMENTED: .*no description="):
        settings_markdown()


def test_the_command_prints_and_writes_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "docs"]) == 0
    assert capsys.readouterr().out == settings_markdown()
    target = tmp_path / "settings.md"
    assert main(["config", "docs", "--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == settings_markdown()
    assert str(target) in capsys.readouterr().out
