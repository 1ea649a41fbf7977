"""The evaluation of one partition's services: panes in, decisions and state changes out.

No I/O and no clock: time is the event time of the panes, and silence is measured on a clock
the caller passes in (``arrived_ms``, ``now_ms``), so the Kafka service and the offline policy
tester run the same engine. Scopes are judged at pane closes, quiet ones too, so that a silent
endpoint still reports "no data" or a throughput collapse; a partition silent altogether is
moved on by ``idle_tick`` by the wall-clock time since its last pane, never straight to "now",
so backfilled data is not judged against the present (docs/policy.md, "Silence is judged
too"). A refinement replaces its pane in the buffer and the scope is judged again at the time
it was last judged, unless a newer pane end judged it since; a reversal resolves through
``keep_firing_for`` (docs/telemetry.md, "Panes: on time, then refinements"). Without a
caller's clock, panes count as arriving as they close.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.decisions import Decision
from schemas.panes import BackupRecord, DeployRecord, PaneSummary, RestoreTestRecord, Scope
from schemas.window import WindowStats
from streams.evaluate import codec
from streams.evaluate.backups import BackupTrack, apply_records
from streams.evaluate.baseline import Baseline, expected_rate, learn, skip
from streams.evaluate.buffer import PaneBuffer
from streams.evaluate.decide import Subject, Versions, fingerprint, make_decision
from streams.evaluate.deploys import (
    VersionTrack,
    after_deploy,
    after_health,
    after_served,
    in_post_deploy,
)
from streams.evaluate.rollup import MINUTE_MS
from streams.evaluate.rules import MetricInput, Observation, observe
from streams.evaluate.slo import ROLLUP_KIND, SLO_KIND, SloTracker, rollup_key, slo_key
from streams.evaluate.state import AlertRecord, step
from streams.policy.model import Policy, Rule

__all__ = ["EngineConfig", "Evaluation", "Output", "ServiceEvaluation", "StateChange"]


@dataclass(frozen=True)
class EngineConfig:
    # A scope (or service, or partition) with no pane for this long is judged on its silence.
    # Longer than stage 1's pauses (its 3 s idle timeout, a rebalance), so that a pane that is
    # merely late is evaluated at its own time; shorter than what a silence needs to show in a
    # window (a 30 s throughput window halves after 15 s), so it delays no decision.
    idle_after_ms: int = 10_000
    margin_ms: int = 30_000  # panes kept beyond the longest window
    checkpoint_every_ms: int = 30_000  # baselines are persisted at most this often


@dataclass(frozen=True)
class StateChange:
    """One record for the compacted state topic (None value: delete)."""

    key: str
    value: dict[str, Any] | None


@dataclass
class Output:
    decisions: list[Decision] = field(default_factory=list)
    state: list[StateChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.state)

    def extend(self, other: Output) -> None:
        self.decisions.extend(other.decisions)
        self.state.extend(other.state)


@dataclass(frozen=True)
class _Alert:
    rule: str
    scope: Scope
    record: AlertRecord


def _warming(rule: Rule, data: MetricInput) -> bool:
    """The scope is younger than the rule's window (its first window is still filling)."""
    return data.covered_s * 1000 < rule.window_ms


def _service_scope(service: str, drill: str | None = None) -> Scope:
    return Scope(service=service, dimension="service", key=service, drill=drill)


class ServiceEvaluation:
    """Buffers, alert records, versions and baselines of one service — or of one DR drill's
    copy of it (``drill``), which shares nothing with the real one: a drill's deploys, alerts
    and baselines never touch the service's own."""

    def __init__(
        self, service: str, policy: Policy, config: EngineConfig, drill: str | None = None
    ) -> None:
        self.service = service
        self.drill = drill
        self.policy = policy
        self.config = config
        self.buffers: dict[str, PaneBuffer] = {}
        self.alerts: dict[str, _Alert] = {}
        self.warming: set[str] = set()  # (rule, scope) fingerprints whose first window fills
        self.track = VersionTrack()
        self.baselines: dict[str, Baseline] = {}
        self.evaluated_ms = 0  # latest tick evaluated
        self.first_ms: int | None = None  # start of the earliest pane seen
        self.last_end_ms = 0  # end of the latest pane seen, of any scope
        self.arrived_ms = 0  # when (on the caller's clock) its latest pane arrived
        self._new: dict[int, set[str]] = {}  # pane end -> scope ids with a new pane there
        self._deploys: list[DeployRecord] = []
        # Dataset scopes: their backups so far, and the records not applied yet (by scope id)
        self.backups: dict[str, BackupTrack] = {}
        self._backup_records: dict[str, list[BackupRecord | RestoreTestRecord]] = {}
        self._served: dict[int, Counter[str]] = {}
        self._rules: dict[str, list[Rule]] = {}
        self._by_name = {rule.name: rule for rule in policy.rules}
        throughput = [r.window_ms for r in policy.rules if r.metric == "throughput_ratio"]
        self._learning_lag_ms = max(throughput, default=0)
        self._checkpoint_ms = 0
        self._service_dirty = False
        self._out = Output()
        self._refined: dict[str, int] = {}  # scope id -> when it was judged before the refinement
        self._observed: dict[str, str] = {}  # fingerprint -> status of its latest evaluation
        self.refinements = 0  # refined panes applied
        self.reversals = 0  # verdicts a refinement changed
        self.slos = SloTracker(service, policy, drill)

    # --- input ---------------------------------------------------------------------------

    def buffer(self, scope: Scope) -> PaneBuffer:
        found = self.buffers.get(scope.id)
        if found is None:
            found = self.buffers[scope.id] = PaneBuffer(scope)
        return found

    def add(
        self, pane: PaneSummary, *, evaluate: bool = True, arrived_ms: int | None = None
    ) -> bool:
        """Buffer a pane; with ``evaluate=False`` (rebuilding after a restart) it is context
        only: it was evaluated before the restart and its deploys are in the restored state.
        ``arrived_ms`` is when it arrived on the caller's clock (default: as it closed)."""
        if pane.end_ms <= self._horizon():
            return False
        buffer = self.buffer(pane.scope)
        if not buffer.add(pane):
            return self._refine(buffer, pane, evaluate)
        if evaluate and pane.end_ms <= buffer.evaluated_ms:  # a pane first published late
            self._refined.setdefault(buffer.scope.id, buffer.evaluated_ms)
        if self.first_ms is None or pane.start_ms < self.first_ms:
            self.first_ms = pane.start_ms
        self.last_end_ms = max(self.last_end_ms, pane.end_ms)
        self.arrived_ms = max(self.arrived_ms, pane.end_ms if arrived_ms is None else arrived_ms)
        if not evaluate:
            buffer.evaluated_ms = max(buffer.evaluated_ms, pane.end_ms)
            self.evaluated_ms = max(self.evaluated_ms, pane.end_ms)
            self.slos.minute = max(self.slos.minute, pane.end_ms // MINUTE_MS)  # judged then
            return True
        self._new.setdefault(pane.end_ms, set()).add(pane.scope.id)
        self._deploys.extend(pane.deploys)
        self._add_backups(pane.scope, [*pane.backups, *pane.restore_tests])
        if pane.requests is not None and pane.requests.versions:
            self._served.setdefault(pane.end_ms, Counter()).update(pane.requests.versions)
        return True

    def _refine(self, buffer: PaneBuffer, pane: PaneSummary, evaluate: bool) -> bool:
        """A later revision of a held pane: it replaces the pane; a scope judged with the
        earlier revision is judged again (its new deploy events apply at the next tick)."""
        previous = buffer.refine(pane)
        if previous is None:
            return False
        if evaluate:
            self.refinements += 1
            known = set(previous.deploys)
            self._deploys.extend(d for d in pane.deploys if d not in known)
            seen: set[BackupRecord | RestoreTestRecord] = {
                *previous.backups,
                *previous.restore_tests,
            }
            records: list[BackupRecord | RestoreTestRecord] = [*pane.backups, *pane.restore_tests]
            self._add_backups(pane.scope, [r for r in records if r not in seen])
            if pane.end_ms <= buffer.evaluated_ms:
                self._refined.setdefault(buffer.scope.id, buffer.evaluated_ms)
        return True

    def restore_alert(self, rule: str, scope: Scope, record: AlertRecord) -> None:
        self.alerts[fingerprint(rule, scope.id)] = _Alert(rule, scope, record)

    def _add_backups(
        self, scope: Scope, records: Sequence[BackupRecord | RestoreTestRecord]
    ) -> None:
        if records:
            self._backup_records.setdefault(scope.id, []).extend(records)

    def restore_service(
        self,
        track: VersionTrack,
        baselines: dict[str, Baseline],
        backups: dict[str, BackupTrack] | None = None,
    ) -> None:
        self.track = track
        self.baselines = dict(baselines)
        self.backups = dict(backups or {})
        prefix = f"{self.service}|dataset|"
        for scope_id in self.backups:
            # A dataset whose panes are older than the rebuilt window still has its backups
            # judged (its silence above all): its buffer exists, empty.
            if scope_id.startswith(prefix):
                key = scope_id.removeprefix(prefix)
                self.buffer(Scope(service=self.service, dimension="dataset", key=key))

    # --- evaluation ----------------------------------------------------------------------

    @property
    def new_ticks(self) -> set[int]:
        """Pane end times with new panes of this service, not evaluated yet."""
        return set(self._new)

    def advance(self, partition_ticks: Iterable[int] = (), now_ms: int | None = None) -> Output:
        """Evaluate every pane end time that got new panes since the last call, and the
        partition's ``partition_ticks`` (other services' pane ends, idle ticks) at which this
        service has been silent for ``idle_after_ms``: a crashed service is still judged.
        ``now_ms`` is the caller's clock (default: each tick's own time, as if panes arrived
        as they closed)."""
        self._out = Output()
        silent = {t for t in partition_ticks if self._silent_at(t, t if now_ms is None else now_ms)}
        service_judged = self.evaluated_ms
        for tick in sorted(self._new.keys() | silent):
            self._tick(tick)
        self._judge_refined(service_judged)
        self._new.clear()
        self._served.clear()
        self._evict()
        out, self._out = self._out, Output()
        return out

    def _tick(self, tick: int) -> None:
        self._apply_deploys(tick)
        self._apply_backups(tick)
        new_scopes = self._new.get(tick, set())
        evaluated = [
            buffer
            for buffer in list(self.buffers.values())
            if buffer.scope.dimension != "service" and self._due(buffer, tick, new_scopes)
        ]
        for buffer in evaluated:
            self._evaluate_scope(buffer, tick)
        if tick > self.evaluated_ms:
            self._evaluate_service(tick)
            self.evaluated_ms = tick
        if self.slos.due(tick):
            self._judge_slos(tick)
        healthy = self.healthy()
        self._learn(evaluated, tick, healthy)
        self._set_track(after_health(self.track, healthy, tick, self.policy.deploys))
        self._maybe_checkpoint(tick)

    def _judge_refined(self, service_judged: int) -> None:
        """Judge again, at the same time, the scopes whose panes were refined after they
        were judged — unless a newer pane end has judged them since (with the refinement)."""
        for scope_id, judged in self._refined.items():
            buffer = self.buffers[scope_id]
            if judged and buffer.evaluated_ms == judged:
                self._evaluate(buffer, self.rules_for(buffer.scope), judged, again=True)
        if self._refined and service_judged and self.evaluated_ms == service_judged:
            self._evaluate_service(service_judged, again=True)
        self._refined.clear()

    def _silent_at(self, tick: int, now_ms: int) -> bool:
        """No pane for ``idle_after_ms`` in event time *and* on the caller's clock: a service
        whose panes merely lag (stage 1 catching up one partition behind another) keeps
        sending, so it is not judged silent on the others' event time."""
        idle = self.config.idle_after_ms
        quiet = now_ms - self.arrived_ms >= idle
        return quiet and tick > self.evaluated_ms and self.last_end_ms <= tick - idle

    def _due(self, buffer: PaneBuffer, tick: int, new_scopes: set[str]) -> bool:
        if tick <= buffer.evaluated_ms:
            return False
        if buffer.scope.id in new_scopes:
            return True
        return buffer.last_end_ms <= tick - self.config.idle_after_ms

    def _apply_deploys(self, tick: int) -> None:
        due = sorted((d for d in self._deploys if d.ts * 1000 < tick), key=lambda d: d.ts)
        self._deploys = [d for d in self._deploys if d.ts * 1000 >= tick]
        track = self.track
        for deploy in due:
            track = after_deploy(track, deploy)
        served = self._served.get(tick)
        if served:
            track = after_served(track, served, tick, self.policy.deploys)
        self._set_track(track)

    def _apply_backups(self, tick: int) -> None:
        """Backup and restore-test reports before ``tick`` (event time) join their dataset's
        track, as deploys join the version track."""
        for scope_id, records in list(self._backup_records.items()):
            due = [r for r in records if r.ts * 1000 < tick]
            if not due:
                continue
            rest = [r for r in records if r.ts * 1000 >= tick]
            if rest:
                self._backup_records[scope_id] = rest
            else:
                del self._backup_records[scope_id]
            track = apply_records(self.backups.get(scope_id), due)
            if track is not None:
                self.backups[scope_id] = track
                self._service_dirty = True

    def _set_track(self, track: VersionTrack) -> None:
        if track != self.track:
            self.track = track
            self._service_dirty = True

    def rules_for(self, scope: Scope) -> list[Rule]:
        found = self._rules.get(scope.id)
        if found is None:
            found = self._rules[scope.id] = [
                r for r in self.policy.rules if r.slo is None and r.matches(scope)
            ]
        return found

    def _evaluate_scope(self, buffer: PaneBuffer, tick: int) -> None:
        self._evaluate(buffer, self.rules_for(buffer.scope), tick)

    def _evaluate_service(self, tick: int, *, again: bool = False) -> None:
        """Service-wide rules (e.g. several bots offline), over the service's scopes."""
        buffer = self.buffer(_service_scope(self.service, self.drill))
        dimensions = {b.scope.dimension for b in self.buffers.values()}
        rules = [
            rule
            for rule in self.rules_for(buffer.scope)
            if rule.info.over is None or rule.info.over in dimensions  # no bots: no bot rules
        ]
        self._evaluate(buffer, rules, tick, again=again)

    def _evaluate(
        self, buffer: PaneBuffer, rules: list[Rule], tick: int, *, again: bool = False
    ) -> None:
        """Judge ``rules`` on the windows ending at ``tick``; ``again``: at a time judged
        before, after a refinement (a changed verdict is a reversal)."""
        inputs: dict[int, MetricInput] = {}  # one window per length, shared by the rules

        def window(length: int) -> MetricInput:
            found = inputs.get(length)
            if found is None:
                found = inputs[length] = self._input(buffer, length, tick)
            return found

        for rule in rules:
            data = window(rule.window_ms)
            short = window(rule.short_window_ms) if rule.short_window_ms else None
            observation = observe(rule, data, short)
            print_ = fingerprint(rule.name, buffer.scope.id)
            if again and self._observed.get(print_, observation.status) != observation.status:
                self.reversals += 1
            self._observed[print_] = observation.status
            self._apply(rule, buffer.scope, observation, tick, _warming(rule, data))
        buffer.evaluated_ms = tick

    def _judge_slos(self, tick: int) -> None:
        """Burn-rate rules on rolled-up windows, each SLO's budget, the roll-ups' checkpoint
        (once a minute: see ``streams.evaluate.slo``)."""
        slos, buffers = self.slos, self.buffers
        slos.minute = tick // MINUTE_MS
        for scope in slos.scopes(buffers):
            for rule in slos.rules_for(scope):
                data = slos.metric_input(scope, rule.window_ms, tick, buffers, self.first_ms)
                short = None
                if rule.short_window_ms:
                    short = slos.metric_input(
                        scope, rule.short_window_ms, tick, buffers, self.first_ms
                    )
                if _warming(rule, data):
                    # A burn rate over the few minutes a new scope has is no burn over an hour
                    # (a start-up blip would page): judged once its long window is covered.
                    # Roll-ups survive restarts, so only a new scope waits.
                    self.warming.add(fingerprint(rule.name, scope.id))
                    continue
                self.warming.discard(fingerprint(rule.name, scope.id))
                self._apply(rule, scope, observe(rule, data, short), tick, False)
            for budget in slos.budgets(scope, tick, buffers, self.first_ms):
                value = {"kind": SLO_KIND, **budget.model_dump(mode="json")}
                self._out.state.append(StateChange(slo_key(budget.slo, scope.id), value))
            checkpoint = slos.checkpoint(scope)
            if checkpoint is not None:
                self._out.state.append(StateChange(rollup_key(scope.id), checkpoint))

    def _input(self, buffer: PaneBuffer, window_ms: int, tick: int) -> MetricInput:
        scope = buffer.scope
        covered = buffer.covered_s(tick, window_ms)
        if scope.dimension == "service" and self.first_ms is not None:
            covered = max(0, min(window_ms, tick - self.first_ms)) / 1000.0
        return MetricInput(
            window=buffer.window(tick, window_ms),
            covered_s=covered,
            expected_rps=(
                # the rate the window was due, at its middle (a learned trend moves it)
                self.expected_rps(scope, tick - window_ms // 2)
                if scope.dimension == "endpoint"
                else None
            ),
            bot_windows=self._bot_windows(scope, window_ms, tick),
            bots=self.policy.bots,
            service_requests=self._service_requests(scope, window_ms, tick),
            backups=self.backups.get(scope.id) if scope.dimension == "dataset" else None,
        )

    def _service_requests(self, scope: Scope, window_ms: int, tick: int) -> tuple[int, int]:
        """Requests and 5xx over all the service's endpoints, for service-wide rates."""
        if scope.dimension != "service" or not any(
            rule.info.over == "endpoint" for rule in self.rules_for(scope)
        ):
            return 0, 0
        requests = errors = 0
        for buffer in self.buffers.values():
            if buffer.scope.dimension == "endpoint":
                found = buffer.request_counts(tick, window_ms)
                requests, errors = requests + found[0], errors + found[1]
        return requests, errors

    def _bot_windows(self, scope: Scope, window_ms: int, tick: int) -> tuple[WindowStats, ...]:
        needs = any(
            rule.info.dimension == "service"
            or any(c.info.dimension == "service" for c in rule.also)
            for rule in self.rules_for(scope)
        )
        if not needs:
            return ()
        bots = [b for b in self.buffers.values() if b.scope.dimension == "bot"]
        return tuple(b.window(tick, window_ms) for b in bots)

    def expected_rps(self, scope: Scope, at_ms: int | None = None) -> float | None:
        configured = self.policy.throughput.configured(scope)
        if configured is not None:
            return configured
        baseline = self.baselines.get(scope.id)
        if baseline is None:
            return None
        return expected_rate(baseline, self.policy.throughput, at_ms)

    def _apply(
        self, rule: Rule, scope: Scope, observation: Observation, tick: int, warming: bool
    ) -> None:
        print_ = fingerprint(rule.name, scope.id)
        alert = self.alerts.get(print_) or _Alert(rule.name, scope, AlertRecord(since_ms=tick))
        if warming and observation.status == "no_data" and alert.record.sequence == 0:
            self.warming.add(print_)  # a new scope's first window is still filling: counted
            return  # as `warming` in the evaluator's health and metrics, not judged yet
        self.warming.discard(print_)
        record, reason = step(alert.record, observation.status, rule, tick)
        if record == alert.record:
            return
        self.alerts[print_] = replace(alert, record=record)
        value = codec.encode_alert(rule.name, scope, record)
        self._out.state.append(StateChange(codec.alert_key(print_), value))
        if record.sequence != alert.record.sequence:  # a state change, or a firing turn
            decision = make_decision(
                Subject.of(rule, scope),
                alert.record,
                record,
                reason,
                observation,
                self.versions(tick),
                tick,
            )
            if self.policy.is_dry_run(rule):
                decision = decision.model_copy(update={"dry_run": True})
            self._out.decisions.append(decision)

    def versions(self, tick: int) -> Versions:
        track = self.track
        post = in_post_deploy(track, tick, self.policy.deploys)
        return Versions(track.current, track.last_good, post)

    def healthy(self) -> bool:
        """No alert at ``unhealthy_at`` or above pending or firing for this service."""
        floor = self.policy.deploys.unhealthy_at
        for alert in self.alerts.values():
            rule = self._by_name.get(alert.rule)
            if alert.record.active and rule is not None and rule.severity >= floor:
                return False
        return True

    # --- baselines, persistence, eviction -----------------------------------------------

    def _learn(self, evaluated: list[PaneBuffer], tick: int, healthy: bool) -> None:
        """Teach the throughput baselines healthy traffic, one throughput window late: by the
        time a collapse would be learned, the rule has seen it and the service is unhealthy."""
        until = tick - self._learning_lag_ms
        for buffer in evaluated:
            if buffer.scope.dimension != "endpoint" or buffer.first_start_ms is None:
                continue
            baseline = self.baselines.get(buffer.scope.id, Baseline())
            since = baseline.updated_ms
            if since is None:
                since = buffer.first_start_ms
            if until <= since:
                continue
            if not healthy:
                self.baselines[buffer.scope.id] = skip(baseline, until)
                continue
            requests = sum(
                p.requests.count for p in buffer.between(since, until) if p.requests is not None
            )
            seconds = (until - since) / 1000.0
            learned = learn(baseline, requests, seconds, until, self.policy.throughput)
            self.baselines[buffer.scope.id] = learned

    def _maybe_checkpoint(self, tick: int) -> None:
        due = tick - self._checkpoint_ms >= self.config.checkpoint_every_ms
        if not (self._service_dirty or due):
            return
        value = codec.encode_service(
            self.service, self.track, self.baselines, self.backups, self.drill
        )
        key = codec.service_key(self.service, self.drill)
        self._out.state.append(StateChange(key, value))
        self._service_dirty = False
        self._checkpoint_ms = tick

    def _horizon(self) -> int:
        keep = self.policy.longest_window_ms + self.config.margin_ms
        return self.evaluated_ms - keep if self.evaluated_ms else 0

    def _evict(self) -> None:
        horizon = self._horizon()
        for buffer in self.buffers.values():
            evicted = buffer.evict(horizon)
            if self.slos.active and evicted:
                self.slos.fold(evicted, horizon)
        if self.slos.active:
            self.slos.fold((), horizon)


class Evaluation:
    """All services of one partition, and the partition's event time (``clock_ms``)."""

    def __init__(self, policy: Policy, config: EngineConfig | None = None) -> None:
        self.policy = policy
        self.config = config or EngineConfig()
        # By service; a DR drill's copy of one by ``service|drill:<id>`` (see ``service``).
        self.services: dict[str, ServiceEvaluation] = {}
        self.clock_ms = 0  # the latest pane end, or further when idle ticks moved it on
        self.pane_ms: int | None = None  # the width of the latest pane (the idle ticks' step)
        self._arrived_ms = 0  # when the latest pane arrived, on the caller's clock
        self._clock_then_ms = 0  # the partition's event time then
        self._restored_clock_ms = 0  # every service was judged up to here before a restart

    def take_counts(self) -> dict[str, int]:
        """Refined panes applied and verdicts they reversed since the last call."""
        counts = {"refinements": 0, "reversals": 0}
        for service in self.services.values():
            counts["refinements"] += service.refinements
            counts["reversals"] += service.reversals
            service.refinements = service.reversals = 0
        return counts

    def alert_states(self) -> dict[str, int]:
        """How many (rule, scope) alerts are in each state, and how many are still warming up
        (their scope is younger than the rule's window: neither judged nor no_data yet)."""
        states = ("inactive", "pending", "firing", "resolved", "no_data", "warming")
        counts = dict.fromkeys(states, 0)
        for service in self.services.values():
            for alert in service.alerts.values():
                counts[alert.record.state] += 1
            counts["warming"] += len(service.warming)
        return counts

    def service(self, name: str, drill: str | None = None) -> ServiceEvaluation:
        unit = name if drill is None else f"{name}|drill:{drill}"
        found = self.services.get(unit)
        if found is None:
            found = ServiceEvaluation(name, self.policy, self.config, drill)
            self.services[unit] = found
        return found

    def add(
        self, pane: PaneSummary, *, evaluate: bool = True, arrived_ms: int | None = None
    ) -> bool:
        """See ``ServiceEvaluation.add``; the evaluator passes its monotonic clock as
        ``arrived_ms``, and the arrival time of rebuilt panes is the restart's."""
        arrived = pane.end_ms if arrived_ms is None else arrived_ms
        scope = pane.scope
        added = self.service(scope.service, scope.drill).add(
            pane, evaluate=evaluate, arrived_ms=arrived
        )
        if added:
            self.clock_ms = max(self.clock_ms, pane.end_ms)
            self.pane_ms = pane.end_ms - pane.start_ms
            self._arrived_ms = max(self._arrived_ms, arrived)
            self._clock_then_ms = self.clock_ms
        return added

    def restore(self, value: dict[str, Any]) -> None:
        """Apply one record of the state topic (unknown kinds and rules are skipped)."""
        kind = value.get("kind")
        if kind == "alert":
            rule, scope, record = codec.decode_alert(value)
            if any(r.name == rule for r in self.policy.rules):
                self.service(scope.service, scope.drill).restore_alert(rule, scope, record)
        elif kind == "service":
            service, drill, track, baselines, backups = codec.decode_service(value)
            self.service(service, drill).restore_service(track, baselines, backups)
        elif kind == ROLLUP_KIND:
            rolled = value.get("scope") or {}
            owner = rolled.get("service")
            if isinstance(owner, str):
                self.service(owner, rolled.get("drill")).slos.restore(value)
        elif kind == "clock":
            self._restored_clock_ms = codec.decode_clock(value)
            self.clock_ms = max(self.clock_ms, self._restored_clock_ms)

    def advance(self, now_ms: int | None = None) -> Output:
        """Evaluate the new panes; a service silent at their end times is judged there too
        (``now_ms``: the caller's clock, as given to ``add``)."""
        ticks = set().union(*(service.new_ticks for service in self.services.values()))
        # Silent services were judged up to the restored clock before a restart: a late
        # pane's end time before it must not judge them again, earlier than they were.
        partition = [tick for tick in ticks if tick > self._restored_clock_ms]
        out = Output()
        for service in self.services.values():
            out.extend(service.advance(partition, now_ms))
        return out

    def idle_tick(self, now_ms: int) -> Output:
        """At ``now_ms`` on the caller's clock: if the partition got no pane for
        ``idle_after_ms``, move its event time on by the time since its last pane (in whole
        panes) and judge every service there. The new clock is a state change, so a restart
        resumes from it."""
        target = self._idle_target(now_ms - self._arrived_ms)
        if target is None:
            return Output()
        self.clock_ms = target
        out = Output(state=[StateChange(codec.CLOCK_KEY, codec.encode_clock(target))])
        for service in self.services.values():
            out.extend(service.advance([target], now_ms))
        return out

    def _idle_target(self, quiet_ms: int) -> int | None:
        if not self.pane_ms:
            return None  # no pane yet: nothing to judge
        since = self._clock_then_ms
        target = since + quiet_ms // self.pane_ms * self.pane_ms
        if target - since < self.config.idle_after_ms or target <= self.clock_ms:
            return None
        return target
