-- DR drills (issue 14): what a drill causes carries its id, so it is kept apart from the
-- service's real incidents, rollbacks and deploy history; the drills themselves, their
-- reports, post-incident reviews, and the audit of what people wrote into either.

ALTER TABLE incidents ADD COLUMN drill text;
ALTER TABLE decisions ADD COLUMN drill text;
ALTER TABLE rollbacks ADD COLUMN drill text;
ALTER TABLE deploys ADD COLUMN drill text;
CREATE INDEX incidents_by_drill ON incidents (drill, opened_at) WHERE drill IS NOT NULL;

-- A drill's deploy of v2 is not the service's: one history per (service, drill).
ALTER TABLE deploys DROP CONSTRAINT deploys_service_version_status_at_key;
CREATE UNIQUE INDEX deploys_once ON deploys (service, version, status, at, (coalesce(drill, '')));

-- At most one active rollback per service, and per service of each drill: a drill's rollback
-- never blocks the real one.
DROP INDEX rollbacks_one_active_per_service;
CREATE UNIQUE INDEX rollbacks_one_active_per_service ON rollbacks (service, (coalesce(drill, '')))
    WHERE status IN ('requested', 'running');

CREATE TABLE drills (
    id                 text             PRIMARY KEY,
    scenario           text             NOT NULL CHECK (scenario IN ('s1', 's2', 's3', 's4')),
    service            text,
    live               boolean          NOT NULL DEFAULT false,
    status             text             NOT NULL CHECK (status IN ('starting', 'running', 'finished', 'aborted')),
    started_by         text             NOT NULL,
    compress           double precision NOT NULL DEFAULT 1,
    created_at         timestamptz      NOT NULL,
    announced_at       timestamptz,
    fault_at           timestamptz,
    traffic_stopped_at timestamptz,
    ended_at           timestamptz,
    outcome            text,
    events_sent        bigint           NOT NULL DEFAULT 0,
    lease_owner        text,
    lease_until        timestamptz,
    report             jsonb,
    debrief            jsonb            NOT NULL DEFAULT '{}'
);
CREATE INDEX drills_created ON drills (created_at DESC);
CREATE INDEX drills_active ON drills (created_at) WHERE status IN ('starting', 'running');

-- Post-incident reviews: the draft is regenerated from evidence; what people wrote is kept
-- apart (``edits``) so a new draft never loses it.
CREATE TABLE reviews (
    incident_id  text        PRIMARY KEY REFERENCES incidents (id),
    drafted_at   timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    draft        jsonb       NOT NULL,
    edits        jsonb       NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL
);

-- Append-only: every edit of a review or a drill debrief, by whom and when.
CREATE TABLE edits (
    id        bigserial   PRIMARY KEY,
    subject   text        NOT NULL,
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    field     text        NOT NULL,
    value     jsonb       NOT NULL
);
CREATE INDEX edits_by_subject ON edits (subject, id);
CREATE TRIGGER edits_append_only BEFORE UPDATE OR DELETE ON edits
    FOR EACH ROW EXECUTE FUNCTION timeline_is_append_only();
