"""Settings: environment parsing, defaults and validation (no I/O)."""

import pytest
from pydantic import ValidationError

from user_service.config import DEFAULT_DATABASE_URL, Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("USER_SERVICE_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_design() -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///./.data/user-service.db"
    assert settings.uses_default_database
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8001, 1)
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout) == (5, 5, 5)
    assert settings.log_level == "INFO"
    assert settings.shutdown_timeout == 20


def test_settings_are_read_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_SERVICE_PORT", "9000")
    monkeypatch.setenv("USER_SERVICE_DB_POOL_SIZE", "12")
    monkeypatch.setenv("USER_SERVICE_LOG_LEVEL", "debug")
    settings = Settings()
    assert (settings.port, settings.db_pool_size, settings.log_level) == (9000, 12, "DEBUG")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgresql_url_uses_psycopg2_driver(scheme: str) -> None:
    settings = Settings(database_url=f"{scheme}://app:pw@db:5432/users")
    assert settings.database_url == "postgresql+psycopg2://app:pw@db:5432/users"
    assert not settings.uses_default_database


def test_explicit_driver_is_kept() -> None:
    url = "postgresql+psycopg2://app@db/users"
    assert Settings(database_url=url).database_url == url


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log_level", "VERBOSE"),
        ("port", 0),
        ("port", 70000),
        ("workers", 0),
        ("db_pool_size", 0),
        ("db_max_overflow", -1),
        ("db_pool_timeout", 0),
        ("shutdown_timeout", -1),
        ("database_url", "not a url"),
        ("database_url", "mysql://app@db/users"),
    ],
)
def test_invalid_setting_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings.model_validate({field: value})


def test_placeholder_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(database_url="postgresql://app:changeme@db/users")


def test_password_is_hidden_from_repr() -> None:
    settings = Settings(database_url="postgresql://app:s3cret@db/users")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in settings.safe_database_url
