"""A subscriber to copy: the open incidents of every service, kept in a faust table.

alertpipe publishes one ``IncidentEvent`` per lifecycle step of an incident on its
``incidents`` topic (JSON, key: service). This faust app's agent reads them and keeps, per
service, the incidents that are not resolved yet; ``GET /open/`` on the worker's web port shows
the table. Install and run (from a clone of alertpipe, or with ``alertpipe[examples]``
installed)::

    pip install -c constraints.txt '.[examples]'
    INCIDENT_BOARD_BROKER=kafka://127.0.0.1:19092 \\
        faust -A examples.incident_board worker -l info
    curl http://127.0.0.1:6066/open/

Events arrive at least once, in order per service (they are keyed by service): a re-sent
event repeats a stretch of what came before, and each event carries the incident's status
after its step, so applying every event as it comes leaves the right state, duplicates or not.
The table is keyed by service like the topic (faust tables are partition-local, so a table must
be keyed as its source topic is), and its changelog topic must have as many partitions as the
``incidents`` topic (``INCIDENT_BOARD_PARTITIONS``, alertpipe's default 3).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust
from faust.web import Request, Response, View
from pydantic import ValidationError

from schemas.incidents import IncidentEvent

__all__ = ["app", "apply", "open_incidents", "track"]

log = logging.getLogger(__name__)

app = faust.App(
    os.environ.get("INCIDENT_BOARD_ID", "incident-board"),
    broker=os.environ.get("INCIDENT_BOARD_BROKER", "kafka://127.0.0.1:19092"),
    store="memory://",  # rebuilt from the changelog topic at start; use rocksdb:// for large tables
    topic_partitions=int(os.environ.get("INCIDENT_BOARD_PARTITIONS", "3")),
    web_bind="127.0.0.1",
    web_port=int(os.environ.get("INCIDENT_BOARD_WEB_PORT", "6066")),
)

incidents_topic = app.topic(
    os.environ.get("INCIDENT_BOARD_TOPIC", "incidents"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)

# service → {incident id → what a board shows of it}
open_incidents = app.Table("open-incidents", default=dict)


def apply(board: dict[str, Any], event: IncidentEvent) -> dict[str, Any]:
    """A service's open incidents after ``event``: a resolved incident leaves the board, any
    other step shows the incident as it is after that step."""
    after = {k: v for k, v in board.items() if k != event.incident_id}
    if event.status != "resolved":
        after[event.incident_id] = {
            "severity": event.severity.value,
            "status": event.status,
            "scenario": event.scenario,
            "title": event.title,
            "bad_version": event.bad_version,
            "last_good_version": event.last_good_version,
            "updated_at": event.at,
        }
    return after


@app.agent(incidents_topic)
async def track(stream: faust.StreamT[bytes]) -> None:
    async for raw in stream:
        try:
            event = IncidentEvent.model_validate_json(raw)
        except ValidationError as error:  # a subscriber never stops on one bad message
            log.warning("skipped a message that is not an incident.v1 event: %s", error)
            continue
        board = apply(open_incidents[event.service], event)
        if board:
            open_incidents[event.service] = board  # assigned, so the changelog records it
        elif event.service in open_incidents:
            del open_incidents[event.service]


@app.page("/open/")
async def open_page(web: View, request: Request) -> Response:
    """The table as JSON: ``{service: {incident id: {...}}}`` (this worker's partitions)."""
    return web.json({service: board for service, board in open_incidents.items()})


if __name__ == "__main__":
    app.main()
