"""Fixtures of the kit's tests: a service made of nothing but the kit."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service_kit.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    """A service as the kit sees one (its distribution name must be installed: the kit's)."""

    service_name: ClassVar[str] = "service-kit"

    model_config = SettingsConfigDict(env_prefix="EXAMPLE_SERVICE_")

    database_url: str = Field(default="postgresql://localhost/example_service", repr=False)
    port: int = Field(default=8000, ge=1, le=65535)


@pytest.fixture
def settings_class(
    clean_environment: Callable[[type[BaseSettings]], None],
) -> type[ExampleSettings]:
    """``ExampleSettings``, read from an environment without any ``EXAMPLE_SERVICE_*``."""
    clean_environment(ExampleSettings)
    return ExampleSettings
