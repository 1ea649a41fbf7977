-- An incident resolved by hand while its alerts fire re-arms them (handlers/incidents/rearm.py):
-- a `rearm` timer fires when the grace period ends, and looks up each alert's latest decision.
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check
    CHECK (kind IN ('escalation', 'investigation', 'rearm'));
CREATE INDEX decisions_by_fingerprint ON decisions (fingerprint, at DESC);
