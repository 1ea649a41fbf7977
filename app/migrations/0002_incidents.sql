-- Stages 3–4: incidents, their append-only timeline, the decision log, the actions outbox,
-- lifecycle events for the `incidents` topic, durable timers, rollbacks and silences.
-- Times are timestamptz; the code passes its (injectable) clock's time in, never now().

CREATE TABLE incidents (
    id                text        PRIMARY KEY,
    service           text        NOT NULL,
    scenario          text        CHECK (scenario IN ('S1', 'S2', 'S3', 'S4')),
    severity          text        NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    status            text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'mitigated', 'resolved')),
    title             text        NOT NULL,
    opened_at         timestamptz NOT NULL,
    last_decision_at  timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    ack_note          text,
    mitigated_at      timestamptz,
    resolved_at       timestamptz,
    bad_version       text,
    last_good_version text,
    involves_data     boolean     NOT NULL DEFAULT false,
    alerts            jsonb       NOT NULL DEFAULT '{}',
    steps             text[]      NOT NULL DEFAULT '{}',
    rollback_status   text,
    human_decision    text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incidents_open_by_service ON incidents (service, opened_at DESC) WHERE status <> 'resolved';
CREATE INDEX incidents_opened ON incidents (opened_at DESC);

-- Every decision consumed, once: the primary key makes re-delivery a no-op.
CREATE TABLE decisions (
    decision_id  text        PRIMARY KEY,
    fingerprint  text        NOT NULL,
    service      text        NOT NULL,
    state        text        NOT NULL,
    severity     text        NOT NULL,
    at           timestamptz NOT NULL,
    incident_id  text        REFERENCES incidents (id),
    body         jsonb       NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX decisions_critical_firing ON decisions (at) WHERE state = 'firing' AND severity = 'CRITICAL';

-- Append-only: what happened to an incident and why (decisions, actions, human steps, timers).
CREATE TABLE timeline (
    id           bigserial   PRIMARY KEY,
    incident_id  text        NOT NULL REFERENCES incidents (id),
    at           timestamptz NOT NULL,
    kind         text        NOT NULL,
    actor        text        NOT NULL,
    message      text        NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    evidence     jsonb       NOT NULL DEFAULT '{}',
    result       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_by_incident ON timeline (incident_id, id);

CREATE FUNCTION timeline_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the incident timeline is append-only';
END;
$$;
CREATE TRIGGER timeline_append_only BEFORE UPDATE OR DELETE ON timeline
    FOR EACH ROW EXECUTE FUNCTION timeline_is_append_only();

-- The actions outbox: one row per effect, unique by its idempotency key.
CREATE TABLE actions (
    id               bigserial   PRIMARY KEY,
    incident_id      text        NOT NULL REFERENCES incidents (id),
    kind             text        NOT NULL CHECK (kind IN ('page', 'chat', 'status_page', 'breaker', 'rollback', 'restore', 'bot_restart', 'integrity_check')),
    idempotency_key  text        NOT NULL UNIQUE,
    severity         text        NOT NULL,
    labels           jsonb       NOT NULL DEFAULT '{}',
    closing          boolean     NOT NULL DEFAULT false,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'muted', 'inhibited')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,
    last_error       text,
    reason           text,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz
);
CREATE INDEX actions_due ON actions (next_attempt_at, id) WHERE status IN ('pending', 'sending');
CREATE INDEX actions_by_incident ON actions (incident_id, kind, id);

-- Lifecycle events for the `incidents` topic, published from here (never lost; event_id dedups).
CREATE TABLE incident_events (
    seq           bigserial   PRIMARY KEY,
    event_id      text        NOT NULL UNIQUE,
    incident_id   text        NOT NULL REFERENCES incidents (id),
    service       text        NOT NULL,
    body          jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    published_at  timestamptz
);
CREATE INDEX incident_events_unpublished ON incident_events (seq) WHERE published_at IS NULL;

-- Durable timers: each row fires once (claimed FOR UPDATE SKIP LOCKED in the firing transaction).
CREATE TABLE timers (
    id           bigserial   PRIMARY KEY,
    incident_id  text        NOT NULL REFERENCES incidents (id),
    kind         text        NOT NULL CHECK (kind IN ('escalation', 'investigation')),
    due_at       timestamptz NOT NULL,
    fired_at     timestamptz,
    outcome      text,
    UNIQUE (incident_id, kind, due_at)
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;

-- Rollbacks: one per incident, at most one active per service.
CREATE TABLE rollbacks (
    id              text        PRIMARY KEY,
    incident_id     text        NOT NULL UNIQUE REFERENCES incidents (id),
    service         text        NOT NULL,
    reason          text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('requested', 'running', 'succeeded', 'failed')),
    from_version    text,
    target_version  text,
    involves_data   boolean     NOT NULL DEFAULT false,
    emergency       boolean     NOT NULL DEFAULT false,
    capacity        double precision,
    requested_at    timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    outcome         text,
    lease_owner     text,
    lease_until     timestamptz
);
CREATE UNIQUE INDEX rollbacks_one_active_per_service ON rollbacks (service)
    WHERE status IN ('requested', 'running');

CREATE TABLE rollback_phases (
    rollback_id  text             NOT NULL REFERENCES rollbacks (id),
    phase        text             NOT NULL CHECK (phase IN ('prepare', 'revert_code', 'restore_data', 'verify', 'resume')),
    status       text             NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   timestamptz      NOT NULL,
    finished_at  timestamptz,
    budget_min_s double precision NOT NULL,
    budget_s     double precision NOT NULL,
    duration_s   double precision,
    detail       jsonb            NOT NULL DEFAULT '{}',
    PRIMARY KEY (rollback_id, phase)
);

CREATE TABLE silences (
    id          text        PRIMARY KEY,
    matchers    jsonb       NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text        NOT NULL,
    comment     text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK (ends_at >= starts_at)
);
CREATE INDEX silences_ends ON silences (ends_at);

-- Deploy history: rollbacks are recorded there too; this index serves "last known good".
CREATE INDEX deploys_good ON deploys (service, at DESC) WHERE status = 'succeeded';
