"""The actions outbox: durable effects, delivered at least once under a stable idempotency key."""
