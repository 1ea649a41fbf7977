"""Every module's public surface (``__all__``) is pinned here, as httpx's
tests/test_exported_members.py pins its own: a name joins or leaves a surface only with an
edit to this table, so a change of surface is a decision a reviewer sees.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ("schemas", "streams", "handlers", "app")

# module -> its ``__all__``, names separated by spaces, in the module's order. None: a package
# that declares none (its modules are its surface).
EXPORTED: dict[str, str | None] = {
    "app": None,
    "app.api": "ApiDeps create_app create_probe_app",
    "app.api.app": "create_app create_probe_app",
    "app.api.auth": (
        "CSRF_HEADER ROLES ROLE_NAMES SESSION_COOKIE Admin Authenticator Bearer Cookie Operator "
        "Principal Role Throttle Via Viewer allows authenticator bearer_scheme cookie_scheme "
        "require"
    ),
    "app.api.body": "media_type read_body",
    "app.api.dashboard": "LIVE_OVERLAP_MS STATIC DashboardDeps IncidentBoard router",
    "app.api.deps": "ApiDeps Commands Holds Intake Queries ReadinessGate Silences Writer",
    "app.api.drills": "router",
    "app.api.errors": "CSRF ERROR_CODES ApiError ErrorBody FieldError error_responses install",
    "app.api.guards": "BodyLimit declare_guarded_answers storable_text unstorable",
    "app.api.health": "HealthReport metrics_access router",
    "app.api.incidents": "router",
    "app.api.ingest": "INGEST_PATHS Ingester Left TelemetryOut intake router write",
    "app.api.maintenance": "holds_router windows_router",
    "app.api.metrics": (
        "REPORT_FIELDS Exposition HealthReport ReportField counter database_families "
        "decision_latency_family delivery_families gauge histogram report_families"
    ),
    "app.api.models": "AckIn DebriefIn DecisionIn DrillIn HoldIn MatcherIn ReleaseIn ResolveIn ReviewPatch SilenceIn SilenceOut SilencePatch",
    "app.api.otlp": "router",
    "app.api.readiness": "AttestationIn router",
    "app.api.reviews": "router",
    "app.api.server": "HttpServer",
    "app.api.session": "SessionOut SignIn router",
    "app.api.silences": "router",
    "app.api.slos": "router",
    "app.api.tokens": "NewTokenOut TokenIn TokenOut router",
    "app.cli": "build_parser main",
    "app.cli.config_cmd": "LOCAL_MARK in_effect load_settings register",
    "app.cli.database": "migrated_pool when",
    "app.cli.demo_cmd": "register",
    "app.cli.drill_cmd": "register",
    "app.cli.hold_cmd": "register",
    "app.cli.local_cmd": "endpoint_lines register status_table",
    "app.cli.policy_cmd": "register",
    "app.cli.readiness_cmd": "register",
    "app.cli.replay_cmd": "register",
    "app.cli.run_cmd": "register",
    "app.cli.schema_cmd": "export_schemas register",
    "app.cli.simulate_cmd": "register",
    "app.cli.token_cmd": "register",
    "app.credentials": (
        "TOKEN_NAME CredentialStore NameTaken NewToken SessionVia StoredSession StoredToken "
        "digest issue_token new_secret new_token parse_token same_digest"
    ),
    "app.dashboard": "Dashboard DashboardFeed FiringLog PaneRing not_found",
    "app.dashboard.board": "board_rows",
    "app.dashboard.feed": "DECISIONS_LOOKBACK_S DashboardFeed",
    "app.dashboard.firing": "CLOSED_PER_SCOPE Firing FiringLog decision_scope",
    "app.dashboard.ring": (
        "BOT_STATUSES FIELDS PaneRing RevisedPane ScopeRing Window pane_row sketch_quantiles"
    ),
    "app.dashboard.series": "DECIMALS Grid bot_counts forward_fill rolling_slope scope_series",
    "app.dashboard.thresholds": "SERIES_OF_METRIC Threshold growth_window_ms thresholds_for",
    "app.dashboard.view": "OVERVIEW Dashboard not_found",
    "app.demo": "DEMO_SCHEMA DemoResult demo_namespace drill_settings run_demo",
    "app.drills": None,
    "app.drills.control": "DrillControl new_drill_id",
    "app.drills.play": "DrillTraffic fault_onset",
    "app.drills.report": "PLAN_STEPS PLAN_TOTAL_S build_report report_markdown",
    "app.drills.runner": "DrillRunner announcement",
    "app.drills.store": "DrillNotFound DrillScenario DrillStatus PgDrillStore",
    "app.errors": "ConfigError InfrastructureError PolicyError",
    "app.infra": "local_if_needed prepare prepare_kafka",
    "app.local": "LocalEndpoints ServerStatus down ensure_up lock_path status",
    "app.local.kafka": (
        "LOG4J_VERSION MAVEN_TIMEOUT_S SLF4J_API_VERSION KafkaPaths check_logging_jars ensure_jars "
        "ensure_up pom_xml probe server_properties status stop wait_ready"
    ),
    "app.local.model": "LocalEndpoints ServerStatus",
    "app.local.postgres": (
        "PgPaths ensure_up find_bin_dir hba_conf install probe server_conf start_server status stop"
    ),
    "app.local.process": (
        "HEARTBEAT_S Progress Stopwatch as_user chown_to command_output failure file_lock is_root "
        "pid_alive pid_cmdline port_open read_pid run_logged run_streamed spawn_detached tail "
        "terminate ticking"
    ),
    "app.pane_history": "KafkaPaneReader read_panes",
    "app.pipeline": (
        "PART_NEEDS RESPONDER_PARTS ROLES Pipeline Responder RoleName aggregator_config "
        "build_pipeline correlator_config drill_urls evaluator_config needs_database "
        "readiness_service receiver_urls restore_objectives rollback_from_policy"
    ),
    "app.policy": "load_policy_file policy_from_settings",
    "app.readiness": (
        "ATTESTATION_ITEMS DrillRecords DrillsNotRecorded PaneSource ReadinessService "
        "ReadinessStore gate_config"
    ),
    "app.readiness.text": "report_text",
    "app.receivers": "ROUTING_KEY_LENGTH check_receivers receiver_setup routing_keys",
    "app.reviews": None,
    "app.reviews.control": "ReviewControl ReviewMissing",
    "app.reviews.draft": "CORRECTIVE_ACTIONS PEAK_MIN_REQUESTS Evidence draft_review impact_of review_markdown",
    "app.reviews.drafter": "ReviewDrafter",
    "app.reviews.store": "PgReviewStore needs_review",
    "app.roles": "ROLES ROLE_NAMES Role allows",
    "app.settings": "DRILL_URLS RECEIVER_URLS AggregatorSettings AuthSettings DashboardSettings DrillSettings EvaluatorSettings IngestSettings LocalSettings Settings TopicSettings get_settings masked",
    "app.settings_docs": "COMMAND settings_markdown",
    "app.simulation": None,
    "app.simulation.fleet": "Fleet fleet_app",
    "app.simulation.pacing": "PlayStats Sender play",
    "app.simulation.replay": "Recording read_recording",
    "app.simulation.scenarios": (
        "BACKUP_SCHEDULE DATASETS SCENARIOS Endpoint Health Remedies ScenarioName Timeline "
        "generate plan_for"
    ),
    "app.storage": None,
    "app.storage.board": "PgIncidentBoard",
    "app.storage.gauges": "Backlog PgGauges TimersDue",
    "app.storage.holds": "PgHoldStore policy_windows",
    "app.storage.incidents": (
        "PgIncidentStore PgIncidentTx incident_from_row incident_labels rollback_from_row"
    ),
    "app.storage.migrations": "Migration available_migrations migrate",
    "app.storage.notify": "APPLICATION_NAME CHANNEL PgNotifications",
    "app.storage.outbox": "PgOutboxStore",
    "app.storage.pool": "Conn Row create_pool database_error epoch moment",
    "app.storage.queries": "PgIncidentQueries",
    "app.storage.readiness": "PgDrillRecords PgReadinessStore",
    "app.storage.refs": "PgReceiverRefs",
    "app.storage.silences": "PgSilenceStore silence_from_row",
    "app.storage.tokens": "PgCredentialStore",
    "app.topics": "declared_topics",
    "handlers": None,
    "handlers.actions": (
        "ACTIONS CARRIED_KINDS LANES NOTIFICATION_KINDS URL_SETTINGS ActionSpec HttpReceiver Lane "
        "ReceiverSetup receiver_urls"
    ),
    "handlers.backups": "BackupRecorder Reported reported_in",
    "handlers.config": (
        "LEASE_MARGIN DeliveryConfig HoldConfig PhaseRetries ReadinessConfig ResponseConfig "
        "RollbackConfig"
    ),
    "handlers.deploys": "DeployRecorder deploys_in",
    "handlers.escalation": (
        "Due EscalationReason Step escalation_due next_escalation next_escalation_at "
        "no_rollback_target on_escalation"
    ),
    "handlers.events": "EventPublisher EventSink KafkaEventSink",
    "handlers.holds": (
        "Automation GlobalHold HoldCause HoldSource Window WindowSource holding muting_window "
        "release"
    ),
    "handlers.incidents": None,
    "handlers.incidents.classify": (
        "Cascade GroupReason ResponseKind ResponseReason ScenarioReason classify reason_text "
        "response_for should_join"
    ),
    "handlers.incidents.commands": "IncidentCommands IncidentNotFound",
    "handlers.incidents.effects": (
        "NOTIFICATION_KINDS ActionIntent Effects EventIntent RollbackIntent TimelineEntry "
        "TimelineKind TimerIntent TimerKind action_key"
    ),
    "handlers.incidents.incident": ("SCENARIO_RANK AlertEntry HoldRelease Incident worse_scenario"),
    "handlers.incidents.lifecycle": (
        "HumanAction InvestigationReason LifecycleError acknowledge breach_after_investigation "
        "human_decision investigation_expired investigation_verdict resolve rollback_finished"
    ),
    "handlers.incidents.manager": "Applied DecisionApplier IncidentManager new_incident_id",
    "handlers.incidents.notices": (
        "ALL_TARGETS RestoredBackup bot_action breaker chat duration_text labels page paged_tiers "
        "pager_fallback restore_call rollback_call status_page tier_of"
    ),
    "handlers.incidents.ports": "DueTimer IncidentStore IncidentTx Recorded",
    "handlers.incidents.rearm": (
        "REARMED RearmReason TurnOutcome is_turn rearm rearmed_alerts redelivery redelivery_id turn"
    ),
    "handlers.incidents.response": "DecisionContext on_decision respond",
    "handlers.incidents.source": "DecisionSource KafkaDecisionSource",
    "handlers.incidents.target": (
        "BASIS IN_EFFECT RollbackTarget TargetBasis basis_text choose_target no_target_reason "
        "settle_target"
    ),
    "handlers.instruments": "LATENCY_BUCKETS_S Histogram",
    "handlers.notify": None,
    "handlers.notify.holds": "DryRunStage HoldStage WindowStage",
    "handlers.notify.metrics": "DeliveryStats MeteredRecord Streak first_page",
    "handlers.notify.stages": (
        "CARRY_LIMIT CarryStage DedupReason DedupStage Delivery DeliveryPipeline DeliveryStage "
        "InhibitStage RecordStage RetryStage SilenceStage needs_send"
    ),
    "handlers.outbox": None,
    "handlers.outbox.dispatcher": "LANES OutboxDispatcher OutboxLane delivery_pipeline",
    "handlers.outbox.ports": "Claimed Missed OutboxStore PendingEvent Settlement",
    "handlers.outbox.retry": (
        "Next NextReason SendResult after_attempt backoff classify_status parse_retry_after"
    ),
    "handlers.pager_watch": "PAGER_INCIDENT_SERVICE PagerWatch pager_back pager_down",
    "handlers.readiness": None,
    "handlers.readiness.baselines": "HostLoad Measured latest_revisions measure",
    "handlers.readiness.checklist": (
        "BASELINES CHECKLIST Attestation DatasetBackups Deploy DrillRun Evidence GateConfig "
        "ItemResult ItemStatus Readiness judge"
    ),
    "handlers.readiness.gate": "CHECK_SKEW_S DeployGate unready_decision",
    "handlers.readiness.verdict": "GATE_RULE CheckedVersion GateVerdict gate_verdict",
    "handlers.receivers": "Outbound Receiver",
    "handlers.receivers.base": "MISSED_TEXT_MAX Outbound Receiver with_missed",
    "handlers.receivers.chat": (
        "BLOCKS_MAX HEADER_MAX SECTION_MAX TEXT_MAX ChatReceiver chat_body mrkdwn"
    ),
    "handlers.receivers.console": "ConsoleReceiver describe",
    "handlers.receivers.drill": "DRILL_HEADER DRILL_MARK DrillReceivers DrillRouter current_drill drill_context marked route_drills",
    "handlers.receivers.drill_header": "DRILL_HEADER current_drill drill_context",
    "handlers.receivers.http": "ANSWER_KEPT WebhookPoster",
    "handlers.receivers.pager": "CLIENT SEVERITY PagerReceiver dedup_key pager_body",
    "handlers.receivers.refs": "MemoryRefs ReceiverRefs",
    "handlers.receivers.registry": "ReceiverUrls build_drill_receivers build_receivers",
    "handlers.receivers.routing": "ConsoleLinks Destinations OneRoute Route Routes",
    "handlers.receivers.signing": "HEADER sign verify",
    "handlers.receivers.statuspage": (
        "COMPONENT_STATUSES INCIDENT_STATUSES StatusPageReceiver statuspage_body"
    ),
    "handlers.receivers.webhook": "ControlReceiver control_body integrity_verdict",
    "handlers.rollback": None,
    "handlers.rollback.health": "HealthProbe judge window_of",
    "handlers.rollback.kafka_probe": "KafkaHealthProbe",
    "handlers.rollback.orchestrator": "RollbackOrchestrator",
    "handlers.rollback.phases": (
        "BUDGET_FIELDS PHASES SPECS ActionStatus AttemptFailure Phase PhaseRecord PhaseSpec "
        "RetryPlan Rollback RollbackStep StepKind attempt_actions budget closes_breaker failed "
        "next_step phase_actions phase_notices phase_plan restore_point retry_plan verify_step"
    ),
    "handlers.rollback.restore": (
        "Backup ChosenBackup Objective Objectives RestorePlan RtoCheck affected_datasets "
        "plan_restore restore_times restored_backups"
    ),
    "handlers.service": "LoopService Signal SourceLoop sleep_or_wake",
    "handlers.silences": "Inhibitor MatchOp Matcher Silence SilenceState inhibited_by silenced_by",
    "handlers.slos": "BudgetRecorder budget_in",
    "handlers.timers": "Redeliver TimerWorker timer_effects",
    "schemas": (
        "EXPORTED_MODELS ActionKind ActionRecord AlertState BackupEvent BotEvent Decision "
        "DeployEvent Evidence IncidentEvent IncidentRecord IncidentStatus IntegrityEvent "
        "InvalidEvent LatencySketch LogEvent PaneSummary PhaseRecord QueueEvent RequestEvent "
        "ResourceEvent Response RestoreTestEvent RollbackRecord Scenario Scope Severity "
        "TelemetryEvent TimelineEntry encode_event parse_event parse_timestamp to_rfc3339 "
        "validate_event"
    ),
    "schemas.alertmanager": "AlertmanagerAlert AlertmanagerWebhook",
    "schemas.clock": "Clock ManualClock SystemClock",
    "schemas.decisions": "AlertState Decision Evidence Response",
    "schemas.errors": "AlertpipeError CommandError InputError OperationalError",
    "schemas.incidents": (
        "ActionKind ActionRecord ActionStatus IncidentEvent IncidentEventType IncidentRecord "
        "IncidentStatus PhaseRecord RestoredBackup RollbackRecord TimelineEntry"
    ),
    "schemas.maintenance": (
        "AutomationRecord HoldCauseRecord HoldRecord HoldReleaseRecord MaintenanceWindow "
        "Notifications TimeInterval TimeRange WindowRecord service_matches"
    ),
    "schemas.paging": "PAGE_TIERS PageTier",
    "schemas.panes": (
        "BackupRecord BotStats DeployRecord Dimension IntegrityStats LatencySketch LogStats "
        "PaneSummary QueueStats RequestStats ResourceStats RestoreTestRecord Scope Truncated "
        "scope_text"
    ),
    "schemas.rollback": "PHASES PhaseRetries PhaseStatus RollbackPhase RollbackStatus parse_phase",
    "schemas.severity": "Scenario Severity",
    "schemas.sketch": "ALPHA MAX_BINS MIN_VALUE Mapping MergedSketch Sketch quantile_rank",
    "schemas.slo": "SloBudget",
    "schemas.telemetry": (
        "BACKUP_STATUSES BACKUP_TYPES BOT_STATUSES DEPLOY_STATUSES KINDS LOG_LEVELS MAX_DEPTH "
        "MAX_LATENCY_MS MAX_SIZE_BYTES BackupEvent BotEvent DeployEvent IntegrityEvent "
        "InvalidEvent LogEvent QueueEvent RequestEvent ResourceEvent RestoreTestEvent "
        "TelemetryEvent encode_event parse_event validate_event"
    ),
    "schemas.timestamps": (
        "MAX_EPOCH_NUMBER MAX_EPOCH_S RFC3339_PATTERN TIMESTAMP_SCHEMA EpochSeconds Instant "
        "parse_timestamp to_rfc3339"
    ),
    "schemas.window": "WindowStats least_squares_slope merge_panes",
    "streams": None,
    "streams.aggregate": (
        "Aggregator AggregatorConfig AggregatorFailed AggregatorMetrics PaneRules "
        "PartitionAggregator tune_gc"
    ),
    "streams.aggregate.canonical": (
        "MAX_NAME MAX_TEXT NOT_CANONICAL Backup Bot Deploy Event Integrity Log Queue Request "
        "Resource RestoreTest decode_event"
    ),
    "streams.aggregate.checkpoint": "Checkpoint decode_checkpoint encode_checkpoint",
    "streams.aggregate.config": "AggregatorConfig",
    "streams.aggregate.deadletter": "MAX_VALUE_BYTES DeadLetter Record dead_letter invalid_code",
    "streams.aggregate.metrics": "AggregatorMetrics",
    "streams.aggregate.native": "BUILD COMPILED build digest use",
    "streams.aggregate.output": "PartitionOutput",
    "streams.aggregate.panes": "Pane ScopeKey scope_id",
    "streams.aggregate.partition": "ClosedPane PaneRules PartitionAggregator",
    "streams.aggregate.service": "Aggregator AggregatorFailed tune_gc",
    "streams.aggregate.validate": "Reading decode read_event read_record reading_of",
    "streams.aggregate.watermark": "NEVER PartitionTime",
    "streams.evaluate": (
        "AlertRecord Correlator CorrelatorConfig EngineConfig Evaluation Evaluator EvaluatorConfig "
        "Output Reason StateChange step"
    ),
    "streams.evaluate.backups": "BackupTrack after_backup after_restore_test age_ms apply_records",
    "streams.evaluate.baseline": "Baseline Trend expected_rate learn skip trend",
    "streams.evaluate.buffer": "PaneBuffer",
    "streams.evaluate.codec": (
        "CLOCK_KEY alert_key decode decode_alert decode_clock decode_service encode encode_alert "
        "encode_clock encode_service service_key"
    ),
    "streams.evaluate.confidence": "poisson_cdf poisson_judgeable wilson_bounds z_score",
    "streams.evaluate.correlate": "Cascade Member correlate decode_cascade encode_cascade",
    "streams.evaluate.correlator": "Correlator CorrelatorConfig",
    "streams.evaluate.decide": (
        "Observed RuleLike Subject Versions fingerprint make_decision scope_label"
    ),
    "streams.evaluate.deploys": (
        "VersionTrack after_deploy after_health after_served in_post_deploy"
    ),
    "streams.evaluate.engine": "EngineConfig Evaluation Output ServiceEvaluation StateChange",
    "streams.evaluate.kafka": (
        "Outgoing TransactionalSender ensure_state_topic last_timestamp_before make_reader "
        "partition_count read_range"
    ),
    "streams.evaluate.offline": "PolicyTests TestResult load_tests run_file run_tests",
    "streams.evaluate.rollup": "LEVELS Level RollUp",
    "streams.evaluate.rules": (
        "EXTRACTORS MetricInput Observation Reading compare decided_by_tolerance observe read"
    ),
    "streams.evaluate.series": "expand expand_numbers expand_text",
    "streams.evaluate.service": "Evaluator EvaluatorConfig EvaluatorFailed encode_decision",
    "streams.evaluate.slo": "ROLLUP_KIND SLO_KIND SloTracker rollup_key slo_key",
    "streams.evaluate.state": "AlertRecord Reason Status Timing step",
    "streams.evaluate.synthetic": (
        "START_MS BackupInput DeployInput RestoreTestInput SeriesInput build_panes"
    ),
    "streams.ingest": None,
    "streams.ingest.alertmanager": "Skipped decision_record to_decision to_decisions",
    "streams.ingest.batch": "UNSTORABLE BadBody Batch BodyFormat Rejected parse_batch",
    "streams.ingest.otlp": (
        "Encoding Signal Translation decode response translate translate_logs translate_metrics "
        "translate_traces"
    ),
    "streams.ingest.stats": "IngestStats",
    "streams.ingest.writer": "Headers IngestBusy KafkaWriter Record",
    "streams.lag": "consumer_lag",
    "streams.lifecycle": (
        "CLOSE_TIMEOUT_S ResourceRole Role Service ServiceRole StopIncomplete bounded run_roles"
    ),
    "streams.policy": (
        "DEFAULT_POLICY METRICS BotPolicy CascadePolicy Condition DeployPolicy MetricInfo "
        "PhaseRetries Policy PolicyInvalid Problem Readiness RollbackPolicy Rule ThroughputPolicy "
        "default_policy_text format_duration load_policy parse_duration_ms parse_policy "
        "scope_fields"
    ),
    "streams.policy.duplicates": "duplicate_keys",
    "streams.policy.durations": (
        "format_duration format_value parse_duration_ms parse_percent parse_threshold"
    ),
    "streams.policy.errors": "FieldInvalid PolicyInvalid Problem",
    "streams.policy.load": "DEFAULT_POLICY default_policy_text load_policy parse_policy",
    "streams.policy.maintenance": "DryRun MaintenanceWindow Windows",
    "streams.policy.matchers": "Patterns SeverityName check_patterns matches_all value_matches",
    "streams.policy.metrics": "MATCH_KEYS METRICS MetricInfo Unit",
    "streams.policy.model": (
        "WORKBOOK_ALERTS BackupCheck BackupPolicy BotPolicy BurnAlert CascadePolicy Comparison "
        "Condition DatasetObjective DeployPolicy ExpectedRate PhaseRetries Policy Readiness "
        "RollbackPolicy Rule RuleDefaults SloPolicy ThroughputPolicy scope_fields"
    ),
    "streams.policy.routes": "DEFAULT PagerKeys Route Routes SecretName",
    "streams.policy.sources": "AlertOverride AlertmanagerPolicy BotGauge OtlpPolicy QueueGauge",
    "streams.producer": "TelemetryProducer",
    "streams.supervise": (
        "DependencyWatch OutageTooLong Supervised SupervisionConfig backoff_s causes "
        "kafka_answers kafka_error"
    ),
    "streams.topics": "TopicMissing TopicSpec TopicUnusable ensure_topics",
}


def _modules() -> list[str]:
    found = []
    for top in PACKAGES:
        found.append(top)
        package = importlib.import_module(top)
        for module in pkgutil.walk_packages(package.__path__, f"{top}."):
            if module.name.endswith(".__main__"):  # entry points: nothing to import
                continue
            if module.name.endswith("__mypyc"):  # a build's compiled library (make native)
                continue
            found.append(module.name)
    return sorted(found)


def test_every_module_is_in_the_table() -> None:
    assert _modules() == sorted(EXPORTED)


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_the_public_surface_is_as_pinned(name: str) -> None:
    module = importlib.import_module(name)
    pinned = EXPORTED[name]
    declared = getattr(module, "__all__", None)
    assert (None if declared is None else list(declared)) == (
        None if pinned is None else pinned.split()
    )
    missing = [member for member in declared or () if not hasattr(module, member)]
    assert missing == [], f"{name}.__all__ names what it does not define"
