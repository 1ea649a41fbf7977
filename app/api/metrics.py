"""/metrics: a process's metrics in the Prometheus text format, written by ``prometheus_client``.

Every numeric field of every role's health report becomes ``alertpipe_<role>_<field>``, a
counter or a gauge as ``REPORT_FIELDS`` declares it (except a field declared ``elsewhere``,
whose count another family already carries), beside consumer lag, what the composition root
adds (delivery counts, latency histograms, database gauges sampled at each scrape) and the
process collectors. Only this HTTP edge knows the exposition format; stages keep plain-data
instruments (docs/design.md record 19). docs/metrics.md lists every family;
docs/grafana-dashboard.json graphs them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from app.storage.gauges import PgGauges
from handlers.instruments import Histogram
from handlers.notify.metrics import DeliveryStats
from handlers.outbox.dispatcher import LANES
from schemas.clock import Clock

__all__ = [
    "REPORT_FIELDS",
    "Exposition",
    "HealthReport",
    "ReportField",
    "counter",
    "database_families",
    "decision_latency_family",
    "delivery_families",
    "gauge",
    "histogram",
    "report_families",
]

log = logging.getLogger(__name__)

HealthReport = Callable[[], dict[str, dict[str, Any]]]
Families = Iterable[Metric]


@dataclass(frozen=True)
class ReportField:
    """``elsewhere``: in /health only; /metrics has the same count as another family (named in
    the help), so exposing the field too would count it twice."""

    kind: Literal["counter", "gauge", "elsewhere"]
    help: str
    label: str = "key"  # the label of a dict-valued field's keys


def _c(help_: str, label: str = "key") -> ReportField:
    return ReportField("counter", help_, label)


def _g(help_: str, label: str = "key") -> ReportField:
    return ReportField("gauge", help_, label)


def _elsewhere(help_: str, family: str) -> ReportField:
    return ReportField("elsewhere", f"{help_} (in /metrics: {family})")


# Every field a role reports in /health, by name (one declaration; a field the same name has
# in several roles means the same there). An undeclared numeric field is still exposed, as a
# gauge whose HELP says it is undeclared — the e2e test fails on that, so it gets declared.
REPORT_FIELDS: Mapping[str, ReportField] = {
    "ready": _g("1 when the role is ready (as /health reports it), else 0"),
    "running": _g("1 while the stage's loop runs"),
    # stage 1
    "open_panes": _g("panes open (not closed yet) over the partitions this process owns"),
    "events": _c("telemetry records consumed (records re-read after a restart left out)"),
    "accepted": _c("events added to a pane (replayed ones left out)"),
    "replayed": _c("records re-read after a restart or rebalance to rebuild open panes"),
    "panes": _c("panes published (aggregator), read (evaluator) or kept (dashboard)"),
    "refinements": _c(
        "later revisions of panes (late events counted): published (aggregator), applied "
        "(evaluator)"
    ),
    "dead_letters": _c("records sent to the dead-letter topic, by reason", "reason"),
    "truncated": _c("entries a pane's caps cut, by list", "list"),
    "transactions": _c("Kafka transactions committed"),
    "transaction_seconds": _c("wall time spent inside Kafka transactions"),
    "transaction_max_seconds": _g("the longest Kafka transaction so far, in seconds"),
    "batches": _c("batches consumed"),
    # stage 2
    "rebuilt_panes": _c("panes re-read to rebuild windows after a restart"),
    "bad_panes": _c("pane records that could not be decoded"),
    "stale_records": _c("records older than the state they would change, skipped"),
    "decisions": _c(
        "decisions made (evaluator, correlator), read (dashboard) or consumed by outcome "
        "(incident manager)",
        "outcome",
    ),
    "idle_ticks": _c("evaluations of scopes, services or partitions gone quiet"),
    "reversals": _c("verdicts a pane's refinement changed when its windows were judged again"),
    "alerts": _g("alerts by state over the partitions this process owns", "state"),
    "state_records": _c("records written to the state topic"),
    "restores": _c("state restores from the state topic"),
    "last_batch_at": _g("when the last batch was handled, epoch seconds"),
    "critical_firing": _g("CRITICAL alerts firing that the S4 correlator counts"),
    # stages 3-4
    "ticks": _c("loop iterations"),
    "errors": _c("loop iterations that failed (retried)"),
    "services": _g("services whose panes the rollback verify probe holds"),
    "invalid": _c("records that could not be decoded, skipped"),
    "recorded": _c("deploys recorded in the deploy history"),
    "delivered": _c("outbox actions claimed and run through the delivery pipeline", "lane"),
    "received": _c("PostgreSQL notifications of committed work received (the responder's own)"),
    "reconnects": _c("times the listening connection for notifications was re-established"),
    "failures": _elsewhere(
        "receiver attempts that failed, by receiver", "alertpipe_delivery_failures_total"
    ),
    "pager_failing_s": _g("how long the pager has failed with nothing delivered (0: it does not)"),
    "opened": _c("incidents the role opened (the pager watch: a dead pager)"),
    "resolved": _c("incidents the role resolved (the pager watch: the pager delivers again)"),
    # riding out outages: the watches of Kafka and PostgreSQL, and every supervised role
    "down_for_s": _g("how long the watched server has not answered, in seconds (0: it answers)"),
    "outages": _c("times the watched server stopped answering"),
    "restarts": _c("times the role was restarted in place after its server failed it"),
    # the api role's ingest producer (/v1/telemetry, OTLP, Alertmanager)
    "in_flight": _g("ingested messages sent to Kafka and not yet acknowledged"),
    "written": _c("ingested messages Kafka acknowledged (acks=all)"),
    "busy": _c("ingest writes answered 429: the in-flight bound or the acknowledgement deadline"),
    "ingested": _c("items ingested and written, by source", "source"),
    "rejected": _c("ingested items left out as invalid, by source", "source"),
    "ignored": _c("OTLP items that are not for alertpipe (client spans, INFO logs …)", "what"),
    # the api role's dashboard (its ring of panes per scope)
    "refilled": _g("1 once the dashboard's ring was refilled from Kafka at start"),
    "scopes": _g("scopes the dashboard's ring holds"),
    "stale_panes": _c("panes the dashboard ignored (an equal or newer one was kept)"),
    "evicted_scopes": _c("scopes the dashboard's ring dropped to stay within its bound"),
    "ring_bytes": _g("memory the dashboard's ring holds, in bytes"),
    "ring_bound_bytes": _g("the most memory the dashboard's ring may hold, in bytes"),
    "firing": _g("alerts firing as the dashboard's decision log has them"),
    # the responder's drill runner and review drafter
    "last_drill_at": _g("when the last DR drill finished, epoch seconds (absent: none yet)"),
    "drill_overdue": _g(
        "1 when the plan's monthly drill is overdue (ALERTPIPE_DRILL__SCHEDULE_DAYS)"
    ),
    "drafted": _c("post-incident reviews drafted"),
    # the responder's deploy gate
    "deploys": _c(
        "deploy starts the gate judged, by verdict (ready, not_ready: a decision; invalid)",
        "verdict",
    ),
}

_UNDECLARED = "undeclared field of the role's health report: declare it in REPORT_FIELDS"


def _name(*parts: str) -> str:
    raw = "_".join(("alertpipe", *parts)).lower()
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in raw)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    return None


def _family(
    name: str, field: ReportField, labels: list[str] | None = None
) -> CounterMetricFamily | GaugeMetricFamily:
    if field.kind == "counter":
        return CounterMetricFamily(name, field.help, labels=labels)
    return GaugeMetricFamily(name, field.help, labels=labels)


def _report_family(role: str, key: str, value: Any) -> Metric | None:
    field = REPORT_FIELDS.get(key, _g(_UNDECLARED))
    if field.kind == "elsewhere":
        return None
    name = _name(role, key)
    if isinstance(value, dict):
        family = _family(name, field, [field.label])
        for label, item in sorted((str(k), v) for k, v in value.items()):
            number = _number(item)
            if number is not None:
                family.add_metric([label], number)
        return family
    number = _number(value)
    if number is None:
        return None
    family = _family(name, field)
    family.add_metric([], number)
    return family


def report_families(roles: dict[str, dict[str, Any]]) -> list[Metric]:
    """Every numeric field of every role's health report (text and lists are left out)."""
    found = []
    for role, report in sorted(roles.items()):
        for key, value in sorted(report.items()):
            family = _report_family(role, key, value)
            if family is not None:
                found.append(family)
    return found


def counter(
    name: str, help_: str, labels: tuple[str, ...], values: Mapping[tuple[str, ...], float]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def gauge(
    name: str, help_: str, labels: tuple[str, ...], values: Mapping[tuple[str, ...], float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def histogram(name: str, help_: str, of: Histogram) -> HistogramMetricFamily:
    buckets = [("+Inf" if math.isinf(b) else repr(b), n) for b, n in of.cumulative()]
    return HistogramMetricFamily(name, help_, buckets=buckets, sum_value=of.total)


# --- what stages 3-4 add --------------------------------------------------------------------


def decision_latency_family(of: Histogram) -> HistogramMetricFamily:
    return histogram(
        "alertpipe_decision_latency_seconds",
        "from the end of the last pane a decision judged (event time) to the decision "
        "recorded by stage 3",
        of,
    )


def delivery_families(stats: DeliveryStats) -> list[Metric]:
    return [
        counter(
            "alertpipe_deliveries",
            "outbox actions settled, by receiver and status (sent, retry, failed, muted, "
            "inhibited)",
            ("receiver", "status"),
            {key: float(n) for key, n in stats.settled.items()},
        ),
        counter(
            "alertpipe_delivery_failures",
            "receiver attempts that failed, by receiver and HTTP status (`error`: no answer)",
            ("receiver", "status"),
            {key: float(n) for key, n in stats.failures.items()},
        ),
        histogram(
            "alertpipe_first_page_latency_seconds",
            "from a decision recorded (its incident opened, or its severity rose) to the "
            "detection page sent",
            stats.first_page_s,
        ),
    ]


_LANE_OF: dict[str, str] = {kind: lane for lane, kinds in LANES.items() for kind in kinds}


async def database_families(gauges: PgGauges, clock: Clock, late_after_s: float) -> list[Metric]:
    """The outbox's backlog per lane and the timers due and late, from the database."""
    now = clock.now()
    backlog: dict[tuple[str, ...], float] = {(lane,): 0.0 for lane in LANES}
    oldest: dict[tuple[str, ...], float] = {(lane,): 0.0 for lane in LANES}
    for row in await gauges.backlog():
        lane = (_LANE_OF.get(row.kind, "control"),)
        backlog[lane] += row.actions
        oldest[lane] = max(oldest[lane], now - row.oldest_created_at)
    timers = await gauges.timers(now, late_after_s)
    return [
        gauge(
            "alertpipe_outbox_backlog",
            "outbox actions not delivered yet (pending, sending or waiting to retry), by lane",
            ("lane",),
            backlog,
        ),
        gauge(
            "alertpipe_outbox_oldest_pending_age_seconds",
            "age of the oldest action not delivered yet, by lane (0: none)",
            ("lane",),
            oldest,
        ),
        gauge("alertpipe_timers_due", "durable timers due and not fired yet", (), {(): timers.due}),
        gauge(
            "alertpipe_timers_late",
            f"durable timers not fired {late_after_s:g} s after they were due",
            (),
            {(): timers.late},
        ),
    ]


class _Collected:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


class Exposition:
    """The metrics of one process: its roles' reports plus what the composition root adds."""

    def __init__(self, report: HealthReport) -> None:
        self.report = report
        self._lags: dict[str, Callable[[], dict[int, int]]] = {}
        self._families: list[Callable[[], Families]] = []
        self._samples: list[Callable[[], Awaitable[Families]]] = []
        own = CollectorRegistry()  # the collectors register themselves; collected by hand
        self._process = [
            ProcessCollector(registry=own),
            PlatformCollector(registry=own),
            GCCollector(registry=own),
        ]

    def add_lag(self, stage: str, lag: Callable[[], dict[int, int]]) -> None:
        """A stage's consumer lag by partition (``alertpipe_consumer_lag``)."""
        self._lags[stage] = lag

    def add(self, families: Callable[[], Families]) -> None:
        """Families computed from memory at each scrape."""
        self._families.append(families)

    def add_sampled(self, sample: Callable[[], Awaitable[Families]]) -> None:
        """Families sampled (from the database) at each scrape; a failed sample is left out."""
        self._samples.append(sample)

    def _lag(self) -> Metric:
        values: dict[tuple[str, ...], float] = {
            (stage, str(partition)): float(n)
            for stage, lag in self._lags.items()
            for partition, n in lag().items()
        }
        return gauge(
            "alertpipe_consumer_lag",
            "records a stage's Kafka consumer is behind the end of each partition it owns",
            ("stage", "partition"),
            values,
        )

    async def _sampled(self) -> list[Metric]:
        found: list[Metric] = []
        for sample in self._samples:
            try:
                found.extend(await sample())
            except Exception as error:  # /metrics must answer while the database does not
                log.warning("a /metrics sample failed: %s: %s", type(error).__name__, error)
        return found

    async def collect(self, extra: Families = ()) -> list[Metric]:
        families = [*report_families(self.report()), self._lag()]
        for more in self._families:
            families.extend(more())
        families.extend(await self._sampled())
        families.extend(extra)
        for collector in self._process:
            families.extend(collector.collect())
        return families

    async def render(self, extra: Families = ()) -> bytes:
        return generate_latest(_Collected(await self.collect(extra)))
