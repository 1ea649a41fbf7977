"""Which errors the console script reports as one line, and which keep their traceback."""

from __future__ import annotations

import argparse
from typing import NoReturn

import pytest

import app.cli
from app.errors import ConfigError, InfrastructureError, PolicyError
from handlers.incidents.lifecycle import LifecycleError
from schemas.errors import InputError
from schemas.telemetry import InvalidEvent
from streams.aggregate.service import AggregatorFailed
from streams.evaluate.service import EvaluatorFailed
from streams.topics import TopicMissing


def _failing(error: Exception) -> object:
    def run(handler: object, args: argparse.Namespace) -> NoReturn:
        raise error

    return run


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("ALERTPIPE_LOG_LEVEL: expected one of DEBUG, INFO"), 2),
        (PolicyError("policy.yaml: rule #1: field metric: expected one of …"), 2),
        (InputError("rec.jsonl: no such file"), 2),
        (InvalidEvent("kind: field required", "kind", "missing"), 2),
        (InfrastructureError("kafka: the broker exited during startup"), 3),
    ],
)
def test_an_input_or_infrastructure_error_is_one_line_and_its_exit_code(
    error: Exception,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(app.cli, "_run", _failing(error))
    assert app.cli.main(["local", "status"]) == code
    assert capsys.readouterr().err == f"alertpipe: error: {error}\n"


@pytest.mark.parametrize(
    "error",
    [
        AggregatorFailed("stage 1 stopped to keep exactly-once"),
        EvaluatorFailed("fenced"),
        TopicMissing("metrics.panes"),
        LifecycleError("incident i-1 is already resolved"),
    ],
)
def test_any_other_failure_keeps_its_traceback(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.cli, "_run", _failing(error))
    with pytest.raises(type(error)) as raised:
        app.cli.main(["local", "status"])
    assert raised.value is error
