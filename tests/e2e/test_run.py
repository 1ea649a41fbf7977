"""`alertpipe run` through the console script: roles split across two processes as an
operator would deploy them, each with its readiness probe; SIGTERM stops them gracefully.

Process A runs stages 1–2 (``--role aggregator --role evaluator``), process B stages 3–4 and
the API (``--role responder --role api``). ``alertpipe simulate --scenario s1 --backfill``
feeds them; the incident is read back through B's HTTP API and the rollback webhook arrives
exactly once at a loopback recorder.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Process
from tests.support.contracts import ROUTING_KEY, STATUSPAGE_KEY, service_contracts
from tests.support.recorder import Recorder
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

_READY = re.compile(r"^alertpipe: running (.+); (http://\S+)/health")
BOOTSTRAP = "e2e-bootstrap-admin-token-0123456789"


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics parsed with prometheus_client's parser; every family declared and helped."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation and "undeclared" not in family.documentation, family.name
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _namespace(database: str, recorder: Recorder) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    topics = {
        name: f"e2e-{run}.{name}"
        for name in ("telemetry", "dead_letter", "panes", "decisions", "incidents")
    }
    env = {f"ALERTPIPE_TOPICS__{name.upper()}": topic for name, topic in topics.items()}
    urls = ("pager", "chat", "statuspage", "breaker", "rollback", "restore", "bot_restart")
    return {
        **env,
        **{f"ALERTPIPE_{name.upper()}_URL": recorder.url(f"/{name}") for name in urls},
        "ALERTPIPE_PAGER_ROUTING_KEY": ROUTING_KEY,
        "ALERTPIPE_STATUSPAGE_API_KEY": STATUSPAGE_KEY,
        "ALERTPIPE_DATABASE_URL": database,
        "ALERTPIPE_GROUP_PREFIX": f"e2e-{run}",
        "ALERTPIPE_EVALUATOR__STATE_TOPIC": f"e2e-{run}.alerts.state",
        "ALERTPIPE_EVALUATOR__OFFSET_RESET": "earliest",
        "ALERTPIPE_HTTP_PORT": "0",
        "ALERTPIPE_ROLLBACK__VERIFY_BUDGET_S": "5",
        "ALERTPIPE_AUTH__BOOTSTRAP_TOKEN": BOOTSTRAP,
    }


async def _ready(process: Process) -> str:
    line = await process.wait_line(lambda s: bool(_READY.match(s)), 90, "the ready line")
    match = _READY.match(line)
    assert match is not None
    url = match.group(2)

    async def health() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/health")).status_code

    await eventually(health, lambda code: code == 200, 60, "every role ready (/health 200)")
    return url


async def test_split_roles_turn_s1_into_one_rollback_and_stop_gracefully(
    cli: Callable[..., Awaitable[Process]], empty_database: str
) -> None:
    async with Recorder(contracts=service_contracts()) as recorder:
        env = _namespace(empty_database, recorder)
        stages = await cli("run", "--role", "aggregator", "--role", "evaluator", env=env)
        respond = await cli("run", "--role", "responder", "--role", "api", env=env)
        stages_url, api_url = await _ready(stages), await _ready(respond)
        assert "running aggregator, evaluator;" in stages.output
        assert "running responder, api;" in respond.output

        simulate = await cli("simulate", "--scenario", "s1", "--backfill", env=env)
        assert await simulate.wait(120) == 0, simulate.output
        await recorder.wait_for(lambda r: bool(r.on("/rollback")), 90, "the rollback call")

        async with httpx.AsyncClient() as anonymous:
            refused = await anonymous.get(f"{api_url}/incidents")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {BOOTSTRAP}"}) as http:
            found = (await http.get(f"{api_url}/incidents", params={"service": "chat-api"})).json()
            assert [i["scenario"] for i in found] == ["S1"], found
            incident = (await http.get(f"{api_url}/incidents/{found[0]['id']}")).json()
            metrics = _metrics((await http.get(f"{stages_url}/metrics")).text)
            respond_metrics = _metrics((await http.get(f"{api_url}/metrics")).text)
            no_incidents = await http.get(f"{stages_url}/incidents")

        assert incident["severity"] == "CRITICAL"
        assert (incident["bad_version"], incident["last_good_version"]) == ("2.4.0", "2.3.9")
        rollbacks = recorder.on("/rollback")
        assert len(rollbacks) == 1, [r.json for r in rollbacks]
        assert rollbacks[0].json["to_version"] == "2.3.9"
        assert rollbacks[0].key == f"{incident['id']}:rollback:revert_code"
        assert metrics["alertpipe_aggregator_events_total", ()] > 1000, metrics
        assert metrics["alertpipe_evaluator_decisions_total", ()] >= 1, metrics
        lagging = {dict(k[1])["stage"] for k in metrics if k[0] == "alertpipe_consumer_lag"}
        assert lagging == {"aggregator", "evaluator", "correlator"}, metrics
        assert (
            respond_metrics[
                "alertpipe_deliveries_total", (("receiver", "rollback"), ("status", "sent"))
            ]
            >= 1
        )
        assert respond_metrics["alertpipe_first_page_latency_seconds_count", ()] >= 1
        assert ("alertpipe_outbox_backlog", (("lane", "control"),)) in respond_metrics
        assert no_incidents.status_code == 404  # a stages-only process serves no incident API

        assert await stages.terminate() == 0, stages.output
        assert await respond.terminate() == 0, respond.output
    assert "Traceback" not in stages.output + respond.output
