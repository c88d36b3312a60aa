"""Settings: the environment (prefix ``USER_SERVICE_``) read once, validated, then passed down.

Nothing else in the package reads ``os.environ``; ``get_settings()`` is the lazy, cached entry.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///./.data/user-service.db"
_SUPPORTED_BACKENDS = {"postgresql", "sqlite"}
_PLACEHOLDER_PASSWORDS = {"changeme", "change-me", "replace-me", "placeholder", "xxx"}

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Every knob of the service; see docs/design.md for the table."""

    model_config = SettingsConfigDict(env_prefix="USER_SERVICE_", extra="ignore", frozen=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=60)
    db_connect_timeout: int = Field(default=3, ge=1, le=60)
    log_level: LogLevel = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout: float = Field(default=20.0, ge=0, le=600)
    # migrate only: the role the app connects as, granted DML (and nothing else) on the tables
    db_app_role: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # identity: signing keys (signing.py), tokens (tokens.py), passwords, login throttling
    keys_dir: Path = Path(".data/keys")
    token_issuer: str = Field(default="user-service", min_length=1)
    token_audience: str = Field(default="shop", min_length=1)
    access_token_ttl: int = Field(default=900, ge=60, le=86400)
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_cost: int = Field(default=19 * 1024, ge=8 * 1024, le=1024 * 1024)  # KiB
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_lockout: float = Field(default=60.0, gt=0, le=86400)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("database_url is not a valid SQLAlchemy URL") from exc
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg2")
        if url.get_backend_name() not in _SUPPORTED_BACKENDS:
            raise ValueError("database_url must be a postgresql:// or sqlite:// URL")
        if url.password is not None and str(url.password).lower() in _PLACEHOLDER_PASSWORDS:
            raise ValueError("database_url carries a placeholder password; set a real secret")
        return url.render_as_string(hide_password=False)

    @property
    def uses_default_database(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL

    @property
    def safe_database_url(self) -> str:
        """The URL with the password masked, for logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
