"""user-service's settings: its prefix and defaults (the kit tests the validation; no I/O)."""

from collections.abc import Callable

import pytest
from pydantic_settings import BaseSettings

from user_service.config import Settings


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: Callable[[type[BaseSettings]], None]) -> None:
    clean_environment(Settings)


def test_defaults_match_the_design() -> None:
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg2://localhost/user_service"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8001, 1)
    assert Settings.service_name == "user-service"


def test_settings_are_read_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_SERVICE_PORT", "9000")
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", "postgresql://app:pw@db/users")
    settings = Settings()
    assert (settings.port, settings.database_url) == (9000, "postgresql+psycopg2://app:pw@db/users")


def test_a_max_lockout_shorter_than_the_first_lockout_is_refused() -> None:
    with pytest.raises(ValueError, match="login_max_lockout must be at least login_lockout"):
        Settings(login_lockout=120, login_max_lockout=60)
