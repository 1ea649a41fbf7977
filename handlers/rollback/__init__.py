"""Stage 4: the plan's five-phase rollback, driven from durable state."""
