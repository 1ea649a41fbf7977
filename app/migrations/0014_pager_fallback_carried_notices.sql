-- Issue 17: the pager fallback receiver (a new kind of action), and notices carried into a
-- later one of their channel: a notification that failed for good records the action that
-- finally delivered its text (NULL: not carried yet).
ALTER TABLE actions DROP CONSTRAINT actions_kind_check,
    ADD CONSTRAINT actions_kind_check CHECK (kind IN ('page', 'chat', 'status_page', 'breaker', 'rollback', 'restore', 'bot_restart', 'integrity_check', 'pager_fallback'));
ALTER TABLE actions ADD COLUMN carried_into bigint REFERENCES actions (id);
CREATE INDEX actions_to_carry ON actions (kind, id) WHERE status = 'failed' AND carried_into IS NULL;
