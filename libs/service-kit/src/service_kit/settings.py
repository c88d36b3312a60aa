"""``ServiceSettings``: the knobs every service has, read from the environment and validated.

A service subclasses it with its name, its environment prefix and its defaults::

    class Settings(ServiceSettings):
        service_name: ClassVar[str] = "user-service"
        model_config = SettingsConfigDict(env_prefix="USER_SERVICE_")
        port: Port = 8001

and offers a cached ``get_settings()``; nothing else reads ``os.environ``. What every service
shares is stated here once: its database is, by default, the local server's one named after it
(``user_service``), and it verifies bearer tokens of one issuer for one audience.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_PLACEHOLDER_PASSWORDS = {"changeme", "change-me", "replace-me", "placeholder", "xxx"}

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Port = Annotated[int, Field(ge=1, le=65535)]  # a service sets its default: ``port: Port = 8001``
THREADPOOL_SIZE = 40  # anyio's default: the threads FastAPI runs sync routes on
MAX_POOL = THREADPOOL_SIZE - 8


class ServiceSettings(BaseSettings):
    """Database, server and logging settings; see docs/design.md for the table."""

    service_name: ClassVar[str]  # the distribution name: logs, metrics, the app's title

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # libpq's conventions: the local server, as the OS user; `make run` passes its own server's
    # URL. None: the database named after the service (``_default_database_url``).
    database_url: str = Field(default=None, repr=False, validate_default=True)
    # The database's bounds (docs/design.md, "Bounded database"): seconds unless said otherwise.
    db_pool_size: int = Field(default=10, ge=1, le=100)
    db_max_overflow: int = Field(default=0, ge=0, le=100)
    db_pool_timeout: float = Field(default=2.0, gt=0, le=60)
    db_ping_after_idle: float = Field(default=0.5, ge=0, le=3600)  # 0: ping every checkout
    db_connect_timeout: float = Field(default=2.0, gt=0, le=60)
    db_response_timeout: float = Field(default=2.5, gt=0, le=600)
    db_statement_timeout: float = Field(default=2.0, ge=0, le=600)  # 0: off
    db_lock_timeout: float = Field(default=1.0, ge=0, le=600)  # 0: off
    db_idle_in_transaction_timeout: float = Field(default=10.0, ge=0, le=3600)  # 0: off
    db_tcp_user_timeout: float = Field(default=5.0, ge=0, le=600)  # 0: the kernel's
    db_keepalives_idle: int = Field(default=10, ge=1, le=7200)
    db_keepalives_interval: int = Field(default=3, ge=1, le=600)
    db_keepalives_count: int = Field(default=3, ge=1, le=100)
    readiness_timeout: float = Field(default=2.0, gt=0, le=60)
    log_level: LogLevel = "INFO"
    host: str = "127.0.0.1"
    port: Port
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout: float = Field(default=20.0, ge=0, le=600)
    # The HTTP server's bounds on a request head (service_kit.server): bytes, seconds.
    max_header_bytes: int = Field(default=16384, ge=1024, le=1024 * 1024)
    header_timeout: float = Field(default=10.0, gt=0, le=600)
    # Peers whose X-Forwarded-For/-Proto are believed: IPs or CIDRs, comma-separated; "" none.
    trusted_proxies: str = Field(default="", max_length=4096)
    # bearer tokens: issued by user-service, verified by every service (service_kit.tokens)
    token_issuer: str = Field(default="user-service", min_length=1)
    token_audience: str = Field(default="shop", min_length=1)
    # migrate only: the role the service serves as, granted DML (and nothing else) on the tables
    db_app_role: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    "trusted_proxies must be IP addresses or CIDR networks, comma-separated"
                ) from None
        return ",".join(entries)

    @field_validator("database_url", mode="before")
    @classmethod
    def _default_database_url(cls, value: object) -> object:
        if value is None:
            return f"postgresql://localhost/{cls.service_name.replace('-', '_')}"
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("database_url is not a valid SQLAlchemy URL") from exc
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg2")
        if url.get_backend_name() != "postgresql":
            raise ValueError(
                "database_url must be a postgresql:// URL (the services run on PostgreSQL only; "
                "`make run` starts one)"
            )
        if url.password is not None and str(url.password).lower() in _PLACEHOLDER_PASSWORDS:
            raise ValueError("database_url carries a placeholder password; set a real secret")
        return url.render_as_string(hide_password=False)

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if 0 < self.db_statement_timeout >= self.db_response_timeout:
            raise ValueError(
                "db_response_timeout must be longer than db_statement_timeout: the server cancels "
                "a slow statement itself; the service gives the connection up only when even "
                "that answer does not come"
            )
        if self.db_pool_size + self.db_max_overflow > MAX_POOL:
            raise ValueError(
                f"db_pool_size + db_max_overflow must be at most {MAX_POOL}: each connection in "
                f"use pins one of the {THREADPOOL_SIZE} threads sync routes run on, and some "
                "threads must stay free for health probes and other routes"
            )
        return self

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable of a field: ``env_name("database_url")``."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @property
    def safe_database_url(self) -> str:
        """The URL with the password masked, for logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)
