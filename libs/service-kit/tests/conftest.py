"""Fixtures of the kit's tests: a service made of nothing but the kit."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    """A service as the kit sees one (its distribution name must be installed: the kit's)."""

    service_name: ClassVar[str] = "service-kit"

    model_config = SettingsConfigDict(env_prefix="EXAMPLE_SERVICE_")

    database_url: str = Field(default="postgresql://localhost/example_service", repr=False)
    port: int = Field(default=8000, ge=1, le=65535)


@pytest.fixture
def settings_class(monkeypatch: pytest.MonkeyPatch) -> type[ExampleSettings]:
    """``ExampleSettings``, read from an environment without any ``EXAMPLE_SERVICE_*``."""
    import os

    for name in list(os.environ):
        if name.startswith("EXAMPLE_SERVICE_"):
            monkeypatch.delenv(name)
    return ExampleSettings


@pytest.fixture
def unused_port_url() -> str:
    """A PostgreSQL URL where nothing listens: a database outage."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/nothing"
