"""Stages 3–4: incidents, the plan's response, receivers, outbox, timers, rollback."""
