-- Maintenance windows, automation holds and dry run (handlers/holds.py, docs/response.md).
-- Windows made through the API (the policy file's live in the policy); DELETE ends one and
-- keeps the row for the record.
CREATE TABLE maintenance_windows (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    spec        jsonb       NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    ended_by    text
);
CREATE INDEX maintenance_windows_standing ON maintenance_windows (created_at) WHERE ended_at IS NULL;

-- Global automation holds: every automated control action waits while one stands.
CREATE TABLE automation_holds (
    id          text        PRIMARY KEY,
    reason      text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    lifted_at   timestamptz,
    lifted_by   text
);
CREATE INDEX automation_holds_standing ON automation_holds (created_at) WHERE lifted_at IS NULL;

ALTER TABLE silences ADD COLUMN hold_automation boolean NOT NULL DEFAULT false;

-- An operator's releases of an incident from its holds; a dry-run incident sends nothing.
ALTER TABLE incidents
    ADD COLUMN hold_releases jsonb   NOT NULL DEFAULT '[]',
    ADD COLUMN dry_run       boolean NOT NULL DEFAULT false;
DROP INDEX incidents_open_by_service;
CREATE INDEX incidents_open_by_service ON incidents (service, dry_run, opened_at DESC)
    WHERE status <> 'resolved';

-- A held control call waits (claimed again every holds.recheck_s); a dry run's is recorded.
ALTER TABLE actions ADD COLUMN dry_run boolean NOT NULL DEFAULT false;
ALTER TABLE actions DROP CONSTRAINT actions_status_check;
ALTER TABLE actions ADD CONSTRAINT actions_status_check CHECK (status IN
    ('pending', 'sending', 'sent', 'failed', 'muted', 'inhibited', 'held', 'dry_run'));
DROP INDEX actions_due;
CREATE INDEX actions_due ON actions (next_attempt_at, id) WHERE status IN ('pending', 'sending', 'held');
