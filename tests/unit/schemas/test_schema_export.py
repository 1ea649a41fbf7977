"""`alertpipe schema export` writes JSON Schemas that accept and reject what the models do."""

import json
from pathlib import Path

import jsonschema
import pytest

from app.cli import main
from schemas import EXPORTED_MODELS

from .test_telemetry import EXAMPLES

KIND_FILE = {data["kind"]: f"telemetry.{data['kind']}.v1" for data, _ in EXAMPLES}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("schemas")
    assert main(["schema", "export", str(folder)]) == 0
    return folder


def _schema(folder: Path, name: str) -> dict[str, object]:
    return json.loads((folder / f"{name}.schema.json").read_text())


def test_one_file_per_model(exported: Path) -> None:
    names = {p.name.removesuffix(".schema.json") for p in exported.glob("*.schema.json")}
    assert names == set(EXPORTED_MODELS)
    for name in names:
        schema = _schema(exported, name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"https://alertpipe.dev/schemas/{name}.schema.json"


@pytest.mark.parametrize(("data", "model"), EXAMPLES)
def test_wire_examples_validate(exported: Path, data: dict[str, object], model: type) -> None:
    schema = _schema(exported, KIND_FILE[str(data["kind"])])
    jsonschema.validate(data, schema)
    jsonschema.validate(dict(data, ts=1795626000123), schema)  # epoch ms is allowed too


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": 700}, "status"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"endpoint": None}, "missing"),
    ],
)
def test_invalid_requests_are_rejected_like_the_model(
    exported: Path, change: dict[str, object], why: str
) -> None:
    data = {k: v for k, v in dict(EXAMPLES[0][0], **change).items() if v is not None}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _schema(exported, "telemetry.request.v1"))


def test_decision_schema_round_trips_a_decision(exported: Path) -> None:
    from schemas.decisions import Decision, Evidence
    from schemas.severity import Severity

    decision = Decision(
        decision_id="f:1",
        fingerprint="f",
        rule="error-rate-critical",
        scope={"service": "chat-api", "endpoint": "POST /api/message"},
        service="chat-api",
        state="firing",
        previous="pending",
        severity=Severity.CRITICAL,
        scenario="S1",
        response="rollback",
        at_ms=1,
        version="2.4.0",
        last_good_version="2.3.9",
        evidence=Evidence(
            metric="error_rate",
            window_start_ms=0,
            window_end_ms=60_000,
            observed=0.4,
            comparison=">",
            threshold=0.1,
            samples=900,
            min_samples=20,
        ),
    )
    wire = json.loads(decision.model_dump_json())
    jsonschema.validate(wire, _schema(exported, "decision.v1"))
    assert Decision.model_validate(wire) == decision
