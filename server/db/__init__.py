"""Storage: SQLModel tables, the engine and the embedded Postgres."""
