"""`alertpipe schema export` writes JSON Schemas that accept and reject what the models do."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from pydantic import ValidationError

from app.cli import main
from schemas import EXPORTED_MODELS
from tests.support.wire_values import as_json, events, one_field_changed

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
    """Each kind's wire example validates against the schema exported from its own model (the
    file named for its kind), and that model reads the same bytes."""
    (name,) = [name for name, exported_model in EXPORTED_MODELS.items() if exported_model is model]
    assert name == KIND_FILE[str(data["kind"])]
    schema = _schema(exported, name)
    for wire in (data, dict(data, ts=1795626000123)):  # epoch ms is allowed too
        jsonschema.validate(wire, schema)
        assert isinstance(model.model_validate_json(json.dumps(wire)), model)


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


WINDOW: dict[str, object] = {
    "id": "policy:weekly-db", "source": "policy", "active": False, "created_by": "policy",
    "window": {"name": "weekly-db", "services": ["chat-api", "web-*"],
               "time_intervals": [{"weekdays": ["saturday"], "location": "Europe/Berlin",
                                   "times": [{"start_time": "02:00", "end_time": "04:00"}]}]},
}  # fmt: skip
ONE_OFF: dict[str, object] = {
    "name": "load-test", "starts_at": "2026-11-25T17:00:00Z", "ends_at": "2026-11-25T18:00:00Z",
    "notifications": "send",
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
    if name == "maintenance-window.v1":
        return [WINDOW, {**WINDOW, "id": "mw_1", "source": "api", "window": ONE_OFF}]
    if name == "automation-hold.v1":
        return [{"id": "hold_1", "reason": "load test", "created_by": "ana",
                 "created_at": "2026-11-25T17:00:00Z"}]  # fmt: skip
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


# --- the exported schema and the model accept exactly the same events ------------------------


@pytest.fixture(scope="module")
def validators(exported: Path) -> dict[str, jsonschema.Draft202012Validator]:
    """One validator per telemetry kind, asserting ``format`` too where a checker exists."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return {
        kind: jsonschema.Draft202012Validator(_schema(exported, name), format_checker=checker)
        for kind, name in KIND_FILE.items()
    }


def _verdicts(
    validators: dict[str, jsonschema.Draft202012Validator], data: dict[str, Any]
) -> tuple[bool, bool]:
    """(valid per the kind's exported JSON Schema, valid per the model)."""
    from schemas.telemetry import InvalidEvent, validate_event

    schema_ok = validators[data["kind"]].is_valid(data)
    try:
        validate_event(data)
    except InvalidEvent:
        return schema_ok, False
    return schema_ok, True


TRICKY: list[tuple[str, str, object, bool]] = [
    # (kind, field, value, valid): the coercions a lax model allowed and the schema did not,
    # and the edges of every bound, for every kind.
    ("request", "status", "503", False),
    ("request", "status", 503.0, True),  # JSON Schema's integer: any zero-fraction number
    ("request", "status", 503.5, False),
    ("request", "status", True, False),
    ("request", "latency_ms", "812.5", False),
    ("request", "latency_ms", True, False),
    ("request", "latency_ms", 812, True),
    ("request", "latency_ms", 86_400_000, True),
    ("request", "latency_ms", 86_400_000.5, False),
    ("request", "latency_ms", 1e300, False),
    ("request", "version", " ", False),
    ("request", "endpoint", " POST /api/message ", True),  # stored stripped
    ("request", "endpoint", " " + "x" * 256, False),  # the length as sent counts
    ("log", "level", " error", False),
    ("log", "message", "y" * 65_537, False),
    ("log", "endpoint", None, True),
    ("resource", "cpu_pct", "91.5", False),
    ("resource", "cpu_pct", True, False),
    ("resource", "cpu_pct", 100, True),
    ("resource", "mem_pct", 100.5, False),
    ("queue", "depth", "140", False),
    ("queue", "depth", 140.0, True),
    ("queue", "depth", 140.5, False),
    ("queue", "depth", 2**63 - 1, True),
    ("queue", "depth", 2**63, False),
    ("queue", "depth", 1e300, False),
    ("bot", "status", "ONLINE", False),
    ("bot", "bot_id", "\u3000", False),  # blank in Python and in the pattern alike
    ("bot", "bot_id", "\u200b", True),  # a zero-width space is not whitespace to either
    ("integrity", "ok", "yes", False),
    ("integrity", "ok", 1, False),
    ("integrity", "ok", 0, False),
    ("integrity", "ok", "false", False),
    ("integrity", "ok", True, True),
    ("integrity", "detail", None, True),
    ("deploy", "version", "", False),
    ("deploy", "status", "rolled_back", True),
    ("deploy", "ts", "1795626000", False),  # numeric text: the schema says number
    ("deploy", "ts", "1795626000123", False),
    ("deploy", "ts", 1795626000123, True),  # epoch ms as a number
    ("deploy", "ts", 253_402_300_800 * 10**9, False),  # after 9999 even as ns
    ("deploy", "ts", 253_402_300_800 * 10**9 - 1, True),
    ("deploy", "ts", "2026-11-25 17:00:00Z", False),
    ("deploy", "ts", "2026-11-25t17:00:00.5z", True),
    ("deploy", "ts", "2026-02-29T17:00:00Z", False),
    ("deploy", "ts", "2028-02-29T17:00:00Z", True),
    ("deploy", "ts", "2026-11-25T17:00:00", False),
    ("deploy", "ts", "2026-11-25T17:00:00Z\n", False),
    ("deploy", "ts", True, False),
    ("deploy", "v", True, False),
    ("deploy", "v", 1.0, True),
    ("deploy", "v", 2, False),
]


@pytest.mark.parametrize(("kind", "field", "value", "valid"), TRICKY)
def test_schema_and_model_agree_on_tricky_values(
    validators: dict[str, jsonschema.Draft202012Validator],
    kind: str,
    field: str,
    value: object,
    valid: bool,
) -> None:
    [base] = [data for data, _ in EXAMPLES if data["kind"] == kind]
    data = {**base, field: value}
    assert _verdicts(validators, data) == (valid, valid)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events() | one_field_changed())
def test_schema_and_model_agree_on_near_valid_events(
    validators: dict[str, jsonschema.Draft202012Validator], data: dict[str, Any]
) -> None:
    data = as_json(data)
    assume(data.get("kind") in validators)  # no schema to ask for an unknown kind
    schema_ok, model_ok = _verdicts(validators, data)
    assert schema_ok == model_ok, data
