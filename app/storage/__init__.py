"""PostgreSQL adapters (asyncpg) and the migration runner. SQL is always parameterised."""
