"""Reading a policy file: YAML in, a validated ``Policy`` out, or ``PolicyInvalid``."""

from __future__ import annotations

import types
import typing
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from streams.policy.duplicates import duplicate_keys
from streams.policy.errors import FieldInvalid, PolicyInvalid, Problem
from streams.policy.model import Policy

__all__ = ["DEFAULT_POLICY", "default_policy_text", "load_policy", "parse_policy"]

DEFAULT_POLICY = "<built-in default policy>"


def default_policy_text() -> str:
    """The shipped ``default.yaml``: the plan, as rules."""
    return files("streams.policy").joinpath("default.yaml").read_text(encoding="utf-8")


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy at ``path``, or the built-in default when ``path`` is None."""
    if path is None:
        return parse_policy(default_policy_text(), DEFAULT_POLICY)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyInvalid(
            [Problem(source, None, None, f"cannot read: {error.strerror}")]
        ) from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML text; ``source`` names it in every problem."""
    data = _parse_yaml(text, source)
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        problems = [_problem(source, data, detail) for detail in error.errors(include_url=False)]
        raise PolicyInvalid(problems) from None


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyInvalid(
            [Problem(source, None, None, f"{where}invalid YAML: {problem}")]
        ) from None
    repeated = duplicate_keys(text, source)
    if repeated:
        raise PolicyInvalid(repeated)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        message = f"expected a mapping with rules: and settings, got {type(data).__name__}"
        raise PolicyInvalid([Problem(source, None, None, message)])
    return data


# The policy's lists of named items, and what a problem calls one of them.
_NAMED_LISTS = {"rules": "rule", "maintenance": "window"}


def _rule_label(data: dict[str, Any], index: int, key: str = "rules") -> str:
    items = data.get(key)
    if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
        name = items[index].get("name")
        if isinstance(name, str) and name:
            return name
    return f"#{index + 1}"


def _problem(source: str, data: dict[str, Any], detail: ErrorDetails) -> Problem:
    loc = [*detail["loc"], *_below(detail)]
    rule: str | None = None
    item = "rule"
    if len(loc) >= 2 and loc[0] in _NAMED_LISTS and isinstance(loc[1], int):
        item = _NAMED_LISTS[str(loc[0])]
        rule = _rule_label(data, loc[1], str(loc[0]))
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or None
    return Problem(source, rule, field, _expectation(detail), item)


def _below(detail: ErrorDetails) -> list[int | str]:
    """The part of the location a validator named with ``FieldInvalid`` (``match.host``)."""
    error = (detail.get("ctx") or {}).get("error")
    if not isinstance(error, FieldInvalid):
        return []
    return [int(part) if part.isdigit() else part for part in error.field.split(".")]


def _expectation(detail: ErrorDetails) -> str:
    kind, message = detail["type"], detail["msg"]
    got = detail.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = _known_fields(tuple(detail["loc"][:-1]))
        return f"unknown field; expected one of {', '.join(known)}" if known else "unknown field"
    if kind in ("literal_error", "enum"):
        expected = (detail.get("ctx") or {}).get("expected", "")
        return f"expected one of {expected}, got {got!r}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return f"expected {message.removeprefix('Input should be ')}, got {got!r}"
    return message


def _known_fields(parent: tuple[int | str, ...]) -> list[str]:
    """The fields the model at ``parent`` (a location inside the policy) accepts."""
    model: Any = Policy
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if _is_model(model) else None
        if field is None:
            return []
        model = _unwrap(field.annotation)
    return _fields_of(model) if _is_model(model) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _fields_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _unwrap(annotation: Any) -> Any:
    """The model inside ``X | None`` or ``tuple[X, ...]``, if any."""
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            inner = _unwrap(arg)
            if _is_model(inner):
                return inner
    return annotation
