"""The error tree is pinned: every exception class of alertpipe's packages, its parents, and
the drawing of it in ``schemas.errors``' docstring. A new error fails here until it is placed.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

from app.errors import ConfigError, InfrastructureError, PolicyError
from schemas import errors
from schemas.errors import AlertpipeError, InputError
from schemas.telemetry import InvalidEvent
from streams.policy.errors import FieldInvalid, PolicyInvalid

PACKAGES = ("schemas", "streams", "handlers", "app")

# class -> its direct bases, in order (a built-in second base keeps old ``except``s working)
TREE: dict[str, tuple[str, ...]] = {
    "schemas.errors.AlertpipeError": ("Exception",),
    "schemas.errors.InputError": ("schemas.errors.AlertpipeError",),
    "schemas.telemetry.InvalidEvent": ("schemas.errors.InputError", "ValueError"),
    "streams.policy.errors.PolicyInvalid": ("schemas.errors.InputError", "ValueError"),
    "streams.policy.errors.FieldInvalid": ("schemas.errors.InputError", "ValueError"),
    "streams.ingest.batch.BadBody": ("schemas.errors.InputError", "ValueError"),
    "app.errors.ConfigError": ("schemas.errors.InputError",),
    "app.errors.PolicyError": ("app.errors.ConfigError",),
    "schemas.errors.CommandError": ("schemas.errors.AlertpipeError",),
    "handlers.incidents.commands.IncidentNotFound": ("schemas.errors.CommandError", "LookupError"),
    "handlers.incidents.lifecycle.LifecycleError": ("schemas.errors.CommandError", "ValueError"),
    "app.credentials.NameTaken": ("schemas.errors.CommandError", "ValueError"),
    "app.drills.store.DrillNotFound": ("schemas.errors.CommandError", "LookupError"),
    "app.reviews.control.ReviewMissing": ("schemas.errors.CommandError", "LookupError"),
    "app.api.errors.ApiError": ("schemas.errors.CommandError",),
    "schemas.errors.OperationalError": ("schemas.errors.AlertpipeError",),
    "app.errors.InfrastructureError": ("schemas.errors.OperationalError",),
    "streams.topics.TopicMissing": ("schemas.errors.OperationalError", "RuntimeError"),
    "streams.topics.TopicUnusable": ("schemas.errors.OperationalError", "RuntimeError"),
    "streams.ingest.writer.IngestBusy": ("schemas.errors.OperationalError",),
    "streams.aggregate.service.AggregatorFailed": (
        "schemas.errors.OperationalError",
        "RuntimeError",
    ),
    "streams.evaluate.service.EvaluatorFailed": ("schemas.errors.OperationalError", "RuntimeError"),
    "streams.supervise.OutageTooLong": ("schemas.errors.OperationalError", "RuntimeError"),
    "streams.lifecycle.StopIncomplete": ("schemas.errors.OperationalError", "RuntimeError"),
}


def _name(cls: type) -> str:
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _import_everything() -> None:
    for top in PACKAGES:
        package = importlib.import_module(top)
        for module in pkgutil.walk_packages(package.__path__, f"{top}."):
            if not module.name.endswith(".__main__"):  # entry points: they run when imported
                importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def _ours() -> dict[str, tuple[str, ...]]:
    """Every exception class defined in alertpipe's packages (nested ones included)."""
    _import_everything()
    return {
        _name(cls): tuple(_name(base) for base in cls.__bases__)
        for cls in _subclasses(BaseException)
        if cls.__module__.split(".")[0] in PACKAGES
    }


def test_every_error_of_the_packages_is_placed_in_the_tree() -> None:
    assert _ours() == TREE


def test_every_error_is_an_alertpipe_error() -> None:
    _import_everything()
    strays = [
        _name(cls)
        for cls in _subclasses(BaseException)
        if cls.__module__.split(".")[0] in PACKAGES and not issubclass(cls, AlertpipeError)
    ]
    assert strays == []


_DRAWN = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+) +-- (?:\((?P<kind>\w+)\) )?")
_PLACED = re.compile(r"^    (?P<module>[a-z_.]+) {2,}(?P<names>\w+(?:, \w+)*)$")


def _drawing() -> dict[str, tuple[str, ...]]:
    """The docstring's tree as class -> bases, each qualified by the docstring's own table of
    where the leaves live (unlisted classes live in ``schemas.errors``)."""
    doc = errors.__doc__ or ""
    homes = {
        name: placed["module"]
        for line in doc.splitlines()
        if (placed := _PLACED.match(line))
        for name in placed["names"].split(", ")
    }
    drawn: dict[str, tuple[str, ...]] = {}
    stack: list[tuple[int, str]] = []  # (column, qualified name) of the open ancestors
    for line in doc.splitlines():
        match = _DRAWN.match(line)
        if match is None:
            continue
        column, name = len(match["indent"]), match["name"]
        qualified = f"{homes.get(name, 'schemas.errors')}.{name}"
        while stack and stack[-1][0] >= column:
            stack.pop()
        bases = (stack[-1][1],) if stack else ("Exception",)
        drawn[qualified] = bases + ((match["kind"],) if match["kind"] else ())
        stack.append((column, qualified))
    return drawn


def test_the_docstring_draws_the_tree_as_it_is() -> None:
    assert _drawing() == TREE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AlertpipeError, 1),
        (InputError, 2),
        (InvalidEvent, 2),
        (PolicyInvalid, 2),
        (FieldInvalid, 2),
        (ConfigError, 2),
        (PolicyError, 2),
        (InfrastructureError, 3),
    ],
)
def test_the_exit_code_a_reported_error_ends_a_command_with(
    error: type[AlertpipeError], code: int
) -> None:
    assert error.exit_code == code
