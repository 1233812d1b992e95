"""One settings object, read from the environment and validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "ruhu-development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUHU_", env_file=".env", extra="ignore")

    environment: str = Field(default="development", pattern="^(development|test|production)$")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "RUHU_DATABASE_URL")
    )
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("ruhu")))
    secret_key: str = DEV_SECRET
    token_ttl_seconds: int = 12 * 3600
    # failed-login throttling (server/login_throttle.py, docs/security.md): after this many
    # failures of one account from one address, of one address on any accounts, or of one
    # account from addresses still under their own limit, logins are refused for
    # ``login_lockout_seconds``, doubling with each further failure up to the maximum; counters
    # start over after ``login_failure_memory_seconds`` without a failure
    login_max_failures: int = Field(default=5, ge=1)
    login_address_max_failures: int = Field(default=20, ge=1)
    login_account_max_failures: int = Field(default=50, ge=1)
    login_lockout_seconds: float = Field(default=30, gt=0)
    login_lockout_max_seconds: float = Field(default=900, gt=0)
    login_failure_memory_seconds: float = Field(default=3600, gt=0)
    min_app_version: str = "0.1.0"
    attachment_max_bytes: int = 10 * 1024 * 1024
    db_pool_size: int = 10
    # seconds a request waits for a pooled connection before it is answered 503 sync.busy
    db_pool_timeout: float = Field(default=10.0, gt=0)
    # DATABASE_URL points at pgbouncer in transaction pooling: no prepared statements
    # (server/db/engine.py, docs/operations.md)
    db_transaction_pooling: bool = False
    # back-pressure per server process (server/backpressure.py): pushes and pulls at work at
    # once (separate slots), how many more of each may wait and how long, and the Retry-After
    # of a 503 sync.busy
    sync_concurrency: int = Field(default=2, ge=1)
    sync_pull_concurrency: int = Field(default=1, ge=1)
    sync_queue: int = Field(default=32, ge=0)
    sync_wait_seconds: float = Field(default=1.5, ge=0)
    sync_retry_after: int = Field(default=2, ge=1, le=30)
    # freeze start-up objects and collect garbage less often (server/runtime.py)
    gc_tuning: bool = True

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("RUHU_SECRET_KEY must be set in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
