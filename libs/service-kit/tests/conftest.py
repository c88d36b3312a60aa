"""Fixtures of the kit's tests: a service made of nothing but the kit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service_kit import cli
from service_kit.migrations import Migrations
from service_kit.settings import Port, ServiceSettings


class ExampleSettings(ServiceSettings):
    """A service as the kit sees one (its distribution name must be installed: the kit's)."""

    service_name: ClassVar[str] = "service-kit"

    model_config = SettingsConfigDict(env_prefix="EXAMPLE_SERVICE_")

    database_url: str = Field(default="postgresql://localhost/example_service", repr=False)
    port: Port = 8000


@pytest.fixture
def settings_class(
    clean_environment: Callable[[type[BaseSettings]], None],
) -> type[ExampleSettings]:
    """``ExampleSettings``, read from an environment without any ``EXAMPLE_SERVICE_*``."""
    clean_environment(ExampleSettings)
    return ExampleSettings


@pytest.fixture
def run_cli(settings_class: type[ExampleSettings]) -> Callable[..., int]:
    """``run_cli(argv, **overrides)``: the example service's console script (``cli.run``), with
    no migrations to run and an app that is never imported unless a test serves it."""
    no_migrations = Migrations(Path("/nonexistent"), version_table="v", lock_id=1)
    run: Callable[..., Any] = functools.partial(
        cli.run, settings=settings_class, migrations=no_migrations, app="x:create_app"
    )
    return run
