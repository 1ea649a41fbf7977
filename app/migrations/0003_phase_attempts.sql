-- A failed rollback phase is tried again as the policy says (rollback.phase_retries): the
-- phase row keeps its first start (its real duration spans every attempt) and counts attempts.
ALTER TABLE rollback_phases
    ADD COLUMN attempt            integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN attempt_started_at timestamptz;
