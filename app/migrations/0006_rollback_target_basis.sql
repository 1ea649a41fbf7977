-- Why an incident's rollback goes to its target version: "known_good" (stage 2's last known
-- good version) or "previous_deploy" (the newest other version that deployed successfully
-- before the bad one, not yet proven through a post-deploy window); on an incident without a
-- target, "known_good_in_effect" when the version in effect is itself the known good one.
ALTER TABLE incidents ADD COLUMN target_basis text;
ALTER TABLE rollbacks ADD COLUMN target_basis text;
