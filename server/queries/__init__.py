"""Read-side SQL helpers (scoped queries for the API, console and reports)."""
