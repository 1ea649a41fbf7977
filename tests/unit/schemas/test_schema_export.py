"""`alertpipe schema export` writes JSON Schemas that accept and reject what the models do."""

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

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


RESOURCE = {"kind": "resource", "ts": 1795626000, "service": "chat-api", "host": "web-1"}


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        ({**RESOURCE, "cpu_pct": 91.5, "mem_pct": 70.2}, True),
        ({**RESOURCE, "cpu_pct": 91.5}, True),
        ({**RESOURCE, "mem_pct": 70.2}, True),
        (RESOURCE, False),  # no reading at all
        ({**RESOURCE, "cpu_pct": None, "mem_pct": None}, False),
        ({**RESOURCE, "cpu_pct": 101}, False),
    ],
)
def test_the_resource_schema_accepts_exactly_what_the_model_does(
    exported: Path, data: dict[str, object], valid: bool
) -> None:
    from schemas.telemetry import InvalidEvent, validate_event

    schema = _schema(exported, "telemetry.resource.v1")
    schema_ok = jsonschema.Draft202012Validator(schema).is_valid(data)
    try:
        validate_event(data)
        model_ok = True
    except InvalidEvent as error:
        model_ok = False
        assert error.field in ("cpu_pct", "mem_pct"), error.reason  # the error names a field
    assert (schema_ok, model_ok) == (valid, valid)


ACTION: dict[str, object] = {
    "id": 7, "kind": "rollback", "idempotency_key": "inc_1:rollback:revert_code",
    "status": "sent", "attempts": 1, "created_at": "2026-11-25T17:00:02Z",
    "finished_at": "2026-11-25T17:00:03.250000+00:00",
    "payload": {"service": "chat-api", "from_version": "2.4.0", "to_version": "2.3.9"},
}  # fmt: skip
DETAIL = ("timeline", "actions", "rollback")
INCIDENT: dict[str, object] = {
    "id": "inc_1", "service": "chat-api", "scenario": "S1", "severity": "CRITICAL",
    "status": "mitigated", "title": "POST /api/message 5xx", "opened_at": "2026-11-25T17:00:00Z",
    "mitigated_at": "2026-11-25T17:00:20Z", "bad_version": "2.4.0", "last_good_version": "2.3.9",
    "rollback_status": "succeeded", "alerts": {"f1": {"state": "firing"}}, "steps": ["rollback"],
    "updated_at": "2026-11-25T17:00:20Z",
    "timeline": [{"id": 1, "at": "2026-11-25T17:00:00Z", "kind": "decision", "actor": "alertpipe",
                  "message": "CRITICAL firing", "evidence": {"observed": 0.4}}],
    "actions": [ACTION],
    "rollback": {"id": "rb_1", "status": "succeeded", "reason": "CRITICAL: roll back now",
                 "from_version": "2.4.0", "target_version": "2.3.9",
                 "requested_at": "2026-11-25T17:00:01Z",
                 "phases": [{"phase": "verify", "status": "succeeded",
                             "started_at": "2026-11-25T17:00:04Z", "budget_min_s": 120,
                             "budget_s": 300, "duration_s": 15.1, "attempt": 1}]},
}  # fmt: skip


def _built(name: str) -> list[dict[str, object]]:
    """Instances of the non-telemetry models in their wire (JSON) form, built for real."""
    from streams.aggregate.partition import PaneRules
    from tests.unit.streams.aggregate.telemetry_factory import BASE_MS, request, run_all

    if name == "pane.v1":
        events = [request(BASE_MS + n, status=500 if n % 3 else 200) for n in range(50)]
        _, panes = run_all(events, PaneRules(pane_ms=100, allowed_lateness_ms=300))
        return [pane.model_dump(mode="json") for pane in panes]
    if name == "action.v1":
        return [ACTION]
    if name == "incident.v1":
        return [INCIDENT, {k: v for k, v in INCIDENT.items() if k not in DETAIL}]
    if name == "incident-event.v1":
        return [{"event_id": "e1", "incident_id": "inc_1", "type": "opened", "at": 1795626000.5,
                 "service": "chat-api", "severity": "CRITICAL", "status": "open",
                 "title": "POST /api/message 5xx"}]  # fmt: skip
    return []


@pytest.mark.parametrize("name", sorted(set(EXPORTED_MODELS) - {"decision.v1"}))
def test_every_model_round_trips_through_its_schema(exported: Path, name: str) -> None:
    """Each model's JSON form validates against its exported schema, before and after the
    model read it (decision.v1 has its own test above)."""
    model = EXPORTED_MODELS[name]
    schema = _schema(exported, name)
    examples = [data for data, m in EXAMPLES if m is model] or _built(name)
    assert examples, f"{name}: nothing to round-trip"
    for data in examples:
        jsonschema.validate(data, schema)
        again = model.model_validate(data).model_dump(mode="json")
        jsonschema.validate(again, schema)
        assert model.model_validate(again) == model.model_validate(data)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("action.v1", {"status": "lost"}),
        ("action.v1", {"attempts": -1}),
        ("incident.v1", {"severity": "SEVERE"}),
        ("incident.v1", {"rollback": {"id": "rb", "status": "done", "reason": "r",
                                      "requested_at": "2026-11-25T17:00:01Z"}}),
    ],
)  # fmt: skip
def test_incident_and_action_schemas_reject_what_the_models_reject(
    exported: Path, name: str, change: dict[str, object]
) -> None:
    data = {**(ACTION if name == "action.v1" else INCIDENT), **change}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _schema(exported, name))
    with pytest.raises(ValidationError):
        EXPORTED_MODELS[name].model_validate(data)
