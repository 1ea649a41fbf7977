-- Preparedness (issue 15): the backups and restore tests services reported, what S2's restore
-- picks from; the readiness checks deploy tooling ran, the attestations operators recorded,
-- and the gate's verdict on each deploy.

-- Every backup reported (`backup` telemetry, read from the panes). A backup reported again
-- (a re-sent pane, a retried job under the same id) keeps its latest report. A DR drill's
-- backups (`drill`: its id) are the drill's catalogue, never the service's (as deploys are).
CREATE TABLE backups (
    service     text        NOT NULL,
    dataset     text        NOT NULL,
    backup_id   text        NOT NULL,
    type        text        NOT NULL CHECK (type IN ('wal', 'incremental', 'full', 'offsite')),
    status      text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    taken_at    timestamptz NOT NULL,
    reported_at timestamptz NOT NULL,
    size_bytes  bigint,
    location    text,
    drill       text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX backups_once ON backups (service, dataset, backup_id, (coalesce(drill, '')));
CREATE INDEX backups_newest ON backups (service, dataset, taken_at DESC) WHERE status = 'succeeded';

-- Every test restore reported (`restore_test` telemetry).
CREATE TABLE restore_tests (
    id          bigserial        PRIMARY KEY,
    service     text             NOT NULL,
    dataset     text             NOT NULL,
    backup_id   text             NOT NULL,
    ok          boolean          NOT NULL,
    duration_s  double precision NOT NULL,
    environment text             NOT NULL,
    at          timestamptz      NOT NULL,
    drill       text,
    recorded_at timestamptz      NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX restore_tests_once
    ON restore_tests (service, dataset, backup_id, environment, at, (coalesce(drill, '')));
CREATE INDEX restore_tests_by_backup ON restore_tests (service, dataset, backup_id);
CREATE INDEX restore_tests_passed ON restore_tests (service, at DESC) WHERE ok;

-- Append-only: each readiness check run (the deploy gate), its verdict and who asked.
CREATE TABLE readiness_checks (
    id      bigserial   PRIMARY KEY,
    service text        NOT NULL,
    version text,
    ready   boolean     NOT NULL,
    report  jsonb       NOT NULL,
    actor   text        NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX readiness_checks_latest ON readiness_checks (service, version, at DESC);
CREATE TRIGGER readiness_checks_append_only BEFORE UPDATE OR DELETE ON readiness_checks
    FOR EACH ROW EXECUTE FUNCTION timeline_is_append_only();

-- Append-only: what an operator attested for a service (the team trained on the runbook),
-- by whom, when, and until when it counts.
CREATE TABLE readiness_attestations (
    id         bigserial   PRIMARY KEY,
    service    text        NOT NULL,
    item       text        NOT NULL CHECK (item IN ('team_trained')),
    actor      text        NOT NULL,
    note       text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX readiness_attestations_latest ON readiness_attestations (service, item, at DESC);
CREATE TRIGGER readiness_attestations_append_only BEFORE UPDATE OR DELETE ON readiness_attestations
    FOR EACH ROW EXECUTE FUNCTION timeline_is_append_only();

-- The gate's verdict on each deploy that started: was its version checked ready? Once per
-- deploy (a re-read pane changes nothing).
CREATE TABLE deploy_gate (
    service     text        NOT NULL,
    version     text        NOT NULL,
    deployed_at timestamptz NOT NULL,
    ready       boolean     NOT NULL,
    reason      text        NOT NULL,
    check_id    bigint      REFERENCES readiness_checks (id),
    decision_id text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, version, deployed_at)
);
