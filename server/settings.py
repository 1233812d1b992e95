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
    min_app_version: str = "0.1.0"
    attachment_max_bytes: int = 10 * 1024 * 1024
    db_pool_size: int = 10
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
