"""The exported ``incident.v1`` and ``action.v1`` schemas describe what the HTTP API really
serves: an S1 incident with its timeline, actions and a rollback with timed phases, produced
by the responder on the real servers, read through ``GET /incidents/{id}``, validates against
the schema, round-trips through the models, and has no field the models do not know."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from pydantic import BaseModel

from app.cli.schema_cmd import export_schemas
from app.credentials import issue_token
from schemas import ActionRecord, IncidentRecord, PhaseRecord, RollbackRecord, TimelineEntry
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack


def _unknown(data: dict[str, Any], model: type[BaseModel]) -> set[str]:
    return set(data) - set(model.model_fields)


def _fields_the_models_miss(incident: dict[str, Any]) -> set[str]:
    rollback = incident["rollback"]
    nested = [
        *(("timeline." + k) for t in incident["timeline"] for k in _unknown(t, TimelineEntry)),
        *(("actions." + k) for a in incident["actions"] for k in _unknown(a, ActionRecord)),
        *(("rollback." + k) for k in _unknown(rollback, RollbackRecord)),
        *(("phases." + k) for p in rollback["phases"] for k in _unknown(p, PhaseRecord)),
    ]
    return _unknown(incident, IncidentRecord) | set(nested)


async def _served(stack: Stack, incident_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The incident and the incident list, as JSON from the API."""
    assert stack.pipeline is not None and stack.pipeline.asgi is not None
    assert stack.responder is not None
    r = stack.responder
    _, token = await issue_token(r.credentials, "schema-test", "viewer", "tests", r.clock.now())
    transport = httpx.ASGITransport(app=stack.pipeline.asgi)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers=headers
    ) as client:
        one = (await client.get(f"/incidents/{incident_id}")).json()
        listed = (await client.get("/incidents")).json()
    return one, listed


async def test_a_served_incident_round_trips_through_incident_v1(
    stack: Callable[..., Awaitable[Stack]], recorder: Recorder, tmp_path: Path
) -> None:
    s = await stack()
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert call")
    s.background(s.feed_healthy("chat-api"))
    found = await s.wait_incident("chat-api", lambda i: i["status"] == "mitigated")
    incident, listed = await _served(s, found["id"])
    assert incident["rollback"]["phases"] and incident["actions"] and incident["timeline"]

    export_schemas(tmp_path)
    schema = json.loads((tmp_path / "incident.v1.schema.json").read_text(encoding="utf-8"))
    for data in (incident, *listed):
        jsonschema.validate(data, schema)
        model = IncidentRecord.model_validate(data)
        again = model.model_dump(mode="json")
        jsonschema.validate(again, schema)
        assert IncidentRecord.model_validate(again) == model
    assert not _fields_the_models_miss(incident), "the API serves fields incident.v1 lacks"

    action_schema = json.loads((tmp_path / "action.v1.schema.json").read_text(encoding="utf-8"))
    for action in incident["actions"]:
        jsonschema.validate(action, action_schema)
