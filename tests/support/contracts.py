"""The real services' documented contracts, enforced by the loopback recorder
(``Recorder(contracts=…)``): each checks a request as the service does and answers as it does.

    PagerDutyEvents   Events API v2 (``/v2/enqueue``): 202 ``{"status": "success", …}``, or 400
                      ``{"status": "invalid event", "message": "Event object is invalid",
                      "errors": [...]}``: routing_key of 32 characters, event_action,
                      dedup_key ≤ 255 (required to acknowledge or resolve), a trigger's
                      payload with summary (≤ 1,024), source and severity, optional fields
                      typed (never null), links with href, timestamp ISO 8601, ≤ 512 KB.
    SlackWebhook      incoming webhook: 200 ``ok`` (text/plain), or 400 ``invalid_payload`` /
                      ``no_text`` / ``invalid_blocks``: ≤ 50 blocks, section text ≤ 3,000,
                      header plain text ≤ 150, context ≤ 10 elements, buttons ≤ 75 with a url.
    Statuspage        REST API v1: ``Authorization: OAuth <key>`` (401 otherwise);
                      ``POST …/incidents`` creates (201, with an ``id``), ``PATCH
                      …/incidents/<id>`` updates (404 for an unknown id), ``GET
                      …/incidents/unresolved`` lists; names, statuses, impacts, component ids
                      and component statuses checked (422 ``{"error": …}``).

Sources: PagerDuty's Events API v2 OpenAPI and "Send an alert event" (error body, the 32-character
routing key, the 1,024-character summary, 255-character dedup key, 512 KB); Slack's Block Kit
reference (block and text limits) and incoming-webhook error strings; Statuspage's API reference
(incident and component statuses, ``incident[components]`` keyed by component id, OAuth header).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

__all__ = [
    "COMPONENTS",
    "ROUTING_KEY",
    "STATUSPAGE_KEY",
    "Answer",
    "Contract",
    "PagerDutyEvents",
    "SlackWebhook",
    "Statuspage",
    "service_contracts",
]

# The secrets and ids the test stacks configure (``tests.support.stack.fast_settings``).
ROUTING_KEY = "R0ut1ngKeyOfTheTests0000000000aa"  # 32 characters, as PagerDuty's are
STATUSPAGE_KEY = "statuspage-key-of-the-tests"
COMPONENTS = {"chat-api": "cmp0chat0api", "search-api": "cmp0search00"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @staticmethod
    def json(status: int, value: Any) -> Answer:
        return Answer(status, orjson.dumps(value))

    @staticmethod
    def text(status: int, value: str) -> Answer:
        return Answer(status, value.encode(), "text/plain")


class Contract(Protocol):
    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer: ...


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


# --- PagerDuty -----------------------------------------------------------------------------

PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")


@dataclass
class PagerDutyEvents:
    # The integration keys of the account's services (empty: any well-formed key is one).
    keys: set[str] = field(default_factory=set)
    accepted: list[dict[str, Any]] = field(default_factory=list)  # events it took
    refused: list[list[str]] = field(default_factory=list)  # each refusal's errors

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST":
            return Answer.json(405, {"status": "error", "message": "Method Not Allowed"})
        if len(body) > 512 * 1024:
            return self._invalid(["Request body is larger than 512 KB"])
        event = _json_object(body)
        if event is None:
            return Answer.json(
                400,
                {
                    "status": "Unrecognized object",
                    "message": "Event object format is unrecognized",
                    "errors": ["JSON parse error"],
                },
            )
        errors = self.errors(event)
        if not errors and self.keys and event["routing_key"] not in self.keys:
            errors = ["Invalid routing key"]
        if errors:
            return self._invalid(errors)
        self.accepted.append(event)
        key = event.get("dedup_key") or secrets.token_hex(16)
        return Answer.json(
            202, {"status": "success", "message": "Event processed", "dedup_key": key}
        )

    def _invalid(self, errors: list[str]) -> Answer:
        self.refused.append(errors)
        body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        return Answer.json(400, body)

    @staticmethod
    def errors(event: dict[str, Any]) -> list[str]:
        errors: list[str] = []
        key = event.get("routing_key")
        if not isinstance(key, str) or not key:
            errors.append("'routing_key' is missing or blank")
        elif len(key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        action = event.get("event_action")
        if action not in PD_ACTIONS:
            errors.append(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        dedup = event.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve events")
        if action == "trigger":
            errors += PagerDutyEvents._payload_errors(event.get("payload"))
            errors += PagerDutyEvents._extras_errors(event)
        return errors

    @staticmethod
    def _payload_errors(payload: Any) -> list[str]:
        if not isinstance(payload, dict):
            return ["'payload' is missing or not an object"]
        errors: list[str] = []
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        source = payload.get("source")
        if not isinstance(source, str) or not source.strip():
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (critical, error, warning or info)")
        for name in ("component", "group", "class"):
            if name in payload and not isinstance(payload[name], str):
                errors.append(f"'payload.{name}' must be a string")
        if "timestamp" in payload and not _is_time(payload["timestamp"]):
            errors.append("'payload.timestamp' is not a valid ISO 8601 date-time")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("'payload.custom_details' must be an object")
        return errors

    @staticmethod
    def _extras_errors(event: dict[str, Any]) -> list[str]:
        errors: list[str] = []
        if "client" in event and not isinstance(event["client"], str):
            errors.append("'client' must be a string")
        if "client_url" in event and not _is_url(event["client_url"]):
            errors.append("'client_url' must be a URL")
        links = event.get("links", [])
        if not isinstance(links, list) or not all(
            isinstance(link, dict)
            and _is_url(link.get("href"))
            and isinstance(link.get("text", ""), str)
            for link in links
        ):
            errors.append("'links' must be a list of objects with an 'href' URL")
        return errors


# --- Slack ---------------------------------------------------------------------------------

SLACK_BLOCKS = 50
SLACK_SECTION = 3000
SLACK_HEADER = 150


@dataclass
class SlackWebhook:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST":
            return Answer.text(405, "invalid_method")
        message = _json_object(body)
        if message is None or "json" not in headers.get("content-type", ""):
            return self._refuse(400, "invalid_payload")
        if not message.get("text") and not message.get("blocks"):
            return self._refuse(400, "no_text")
        if "blocks" in message and not self.blocks_valid(message["blocks"]):
            return self._refuse(400, "invalid_blocks")
        if "text" in message and not isinstance(message["text"], str):
            return self._refuse(400, "invalid_payload")
        self.accepted.append(message)
        return Answer.text(200, "ok")

    def _refuse(self, status: int, error: str) -> Answer:
        self.refused.append(error)
        return Answer.text(status, error)

    @staticmethod
    def _text(obj: Any, limit: int, kinds: tuple[str, ...] = ("mrkdwn", "plain_text")) -> bool:
        return (
            isinstance(obj, dict)
            and obj.get("type") in kinds
            and isinstance(obj.get("text"), str)
            and 0 < len(obj["text"]) <= limit
        )

    @classmethod
    def blocks_valid(cls, blocks: Any) -> bool:
        if not isinstance(blocks, list) or not 0 < len(blocks) <= SLACK_BLOCKS:
            return False
        return all(cls._block_valid(block) for block in blocks)

    @classmethod
    def _block_valid(cls, block: Any) -> bool:
        if not isinstance(block, dict):
            return False
        kind = block.get("type")
        if kind == "section":
            return cls._text(block.get("text"), SLACK_SECTION)
        if kind == "header":
            return cls._text(block.get("text"), SLACK_HEADER, ("plain_text",))
        if kind == "context":
            elements = block.get("elements")
            return (
                isinstance(elements, list)
                and 0 < len(elements) <= 10
                and all(cls._text(e, SLACK_SECTION) for e in elements)
            )
        if kind == "actions":
            elements = block.get("elements")
            return (
                isinstance(elements, list)
                and 0 < len(elements) <= 25
                and all(cls._button_valid(e) for e in elements)
            )
        return kind == "divider"

    @classmethod
    def _button_valid(cls, element: Any) -> bool:
        return (
            isinstance(element, dict)
            and element.get("type") == "button"
            and cls._text(element.get("text"), 75, ("plain_text",))
            and _is_url(element.get("url"))
            and len(element["url"]) <= 3000
        )


# --- Statuspage ----------------------------------------------------------------------------

SP_STATUSES = ("investigating", "identified", "monitoring", "resolved")
SP_IMPACTS = ("none", "maintenance", "minor", "major", "critical")
SP_COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)


@dataclass
class Statuspage:
    api_key: str
    components: set[str] = field(default_factory=set)  # the page's component ids
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    creates: int = 0
    updates: int = 0

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("authorization") != f"OAuth {self.api_key}":
            return Answer.json(401, {"error": "Could not authenticate"})
        parts = path.rstrip("/").split("/")
        if "incidents" not in parts:
            return Answer.json(404, {"error": "Not found"})
        rest = parts[parts.index("incidents") + 1 :]
        if not rest:
            return self._create(body) if method == "POST" else self._not_allowed()
        if rest == ["unresolved"] and method == "GET":
            open_ = [i for i in self.incidents.values() if i["status"] != "resolved"]
            return Answer.json(200, open_)
        if len(rest) == 1 and method in ("PATCH", "PUT"):
            return self._update(rest[0], body)
        return self._not_allowed()

    @staticmethod
    def _not_allowed() -> Answer:
        return Answer.json(405, {"error": "Method not allowed"})

    def _errors(self, incident: dict[str, Any], create: bool) -> list[str]:
        errors: list[str] = []
        name = incident.get("name")
        if create and (not isinstance(name, str) or not name.strip()):
            errors.append("name can't be blank")
        if "status" in incident and incident["status"] not in SP_STATUSES:
            errors.append(f"status is not included in the list ({incident['status']!r})")
        if "impact_override" in incident and incident["impact_override"] not in SP_IMPACTS:
            errors.append("impact_override is not included in the list")
        ids = incident.get("component_ids", [])
        if not isinstance(ids, list) or not all(i in self.components for i in ids):
            errors.append("component_ids: component not found")
        states = incident.get("components", {})
        if not isinstance(states, dict):
            errors.append("components must be an object of component id to status")
        else:
            for cid, state in states.items():
                if cid not in self.components:
                    errors.append(f"components: component {cid!r} not found")
                if state not in SP_COMPONENT_STATUSES:
                    errors.append(f"components: status {state!r} is not included in the list")
        if "metadata" in incident and not isinstance(incident["metadata"], dict):
            errors.append("metadata must be an object")
        return errors

    def _incident_of(self, body: bytes) -> dict[str, Any] | None:
        data = _json_object(body)
        incident = data.get("incident") if data else None
        return incident if isinstance(incident, dict) else None

    def _create(self, body: bytes) -> Answer:
        incident = self._incident_of(body)
        if incident is None:
            return Answer.json(400, {"error": "incident is missing"})
        errors = self._errors(incident, create=True)
        if errors:
            return Answer.json(422, {"error": errors})
        page_id = secrets.token_hex(6)
        stored = {
            "id": page_id,
            "name": incident["name"],
            "status": incident.get("status", "investigating"),
            "impact": incident.get("impact_override", "none"),
            "metadata": incident.get("metadata", {}),
            "components": dict(incident.get("components", {})),
            "incident_updates": [{"status": incident.get("status"), "body": incident.get("body")}],
        }
        self.incidents[page_id] = stored
        self.creates += 1
        return Answer.json(201, stored)

    def _update(self, page_id: str, body: bytes) -> Answer:
        stored = self.incidents.get(page_id)
        if stored is None:
            return Answer.json(404, {"error": "Not found"})
        incident = self._incident_of(body)
        if incident is None:
            return Answer.json(400, {"error": "incident is missing"})
        errors = self._errors(incident, create=False)
        if errors:
            return Answer.json(422, {"error": errors})
        stored["status"] = incident.get("status", stored["status"])
        stored["components"].update(incident.get("components", {}))
        stored["incident_updates"].append(
            {"status": stored["status"], "body": incident.get("body")}
        )
        self.updates += 1
        return Answer.json(200, stored)


def service_contracts() -> dict[str, Contract]:
    """The three notification receivers of a test stack, each as its real service behaves."""
    return {
        "/pager": PagerDutyEvents(),
        "/chat": SlackWebhook(),
        "/statuspage": Statuspage(STATUSPAGE_KEY, set(COMPONENTS.values())),
    }
