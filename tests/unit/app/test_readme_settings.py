"""README.md documents every setting: a new field in ``Settings`` (or in any group nested in
it, wherever that group is defined) fails here until the README's settings tables name its
variable. Generic on purpose: it walks the model, so settings added on other branches are
caught at merge time."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from app.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"
DELIMITER = Settings.model_config.get("env_nested_delimiter") or "__"
PREFIX = Settings.model_config.get("env_prefix") or ""
_CODE = re.compile(r"`(ALERTPIPE_[A-Z0-9_]+)`")


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


def _settings_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Settings\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_walk_finds_nested_groups_and_flat_names() -> None:
    names = set(env_names())
    assert {
        "ALERTPIPE_KAFKA_BOOTSTRAP",
        "ALERTPIPE_LOCAL__KAFKA_HEAP",
        "ALERTPIPE_ROLLBACK__PHASE_RETRIES__VERIFY",
        "ALERTPIPE_PAGER_URL",
    } <= names
    assert "ALERTPIPE_ROLLBACK__PHASE_RETRIES" not in names  # a group, not a setting


def test_every_setting_is_documented_in_the_readme_settings_section() -> None:
    documented = set(_CODE.findall(_settings_section()))
    missing = sorted(set(env_names()) - documented)
    assert not missing, (
        f"README.md, section 'Settings', does not name {', '.join(missing)}: add a row "
        "(`variable` | default | meaning) to the table of its group"
    )


def test_the_readme_settings_section_names_no_setting_that_does_not_exist() -> None:
    stale = sorted(set(_CODE.findall(_settings_section())) - set(env_names()))
    assert not stale, f"README.md, section 'Settings', names unknown settings: {stale}"
