"""The ruhu server: FastAPI app, Postgres storage, sync endpoints and the clerk console."""
