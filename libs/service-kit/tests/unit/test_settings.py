"""ServiceSettings: environment parsing, defaults and validation (no I/O)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from service_kit.settings import Port, ServiceSettings

pytestmark = pytest.mark.unit


class _PlainSettings(ServiceSettings):
    """A service that states only its name, prefix and port."""

    service_name: ClassVar[str] = "service-kit"
    model_config = SettingsConfigDict(env_prefix="PLAIN_SERVICE_")
    port: Port = 8000


def test_the_default_database_is_the_local_one_named_after_the_service() -> None:
    assert _PlainSettings().database_url == "postgresql+psycopg2://localhost/service_kit"


def test_tokens_are_expected_from_user_service_for_the_shop_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _PlainSettings()
    assert (settings.token_issuer, settings.token_audience) == ("user-service", "shop")
    monkeypatch.setenv("PLAIN_SERVICE_TOKEN_ISSUER", "https://id.example")
    monkeypatch.setenv("PLAIN_SERVICE_TOKEN_AUDIENCE", "api")
    settings = _PlainSettings()
    assert (settings.token_issuer, settings.token_audience) == ("https://id.example", "api")


@pytest.mark.parametrize("field", ["token_issuer", "token_audience"])
def test_an_empty_token_issuer_or_audience_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match=rf"{field}\n  String should have at least 1"):
        _PlainSettings(**{field: ""})


def test_defaults_are_the_kit_s_and_the_service_s(settings_class: type[ServiceSettings]) -> None:
    settings = settings_class()
    assert settings.database_url == "postgresql+psycopg2://localhost/example_service"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout) == (10, 0, 2)
    assert settings.log_level == "INFO"
    assert settings.shutdown_timeout == 20
    assert (settings.max_header_bytes, settings.header_timeout) == (16384, 10)
    assert settings.trusted_proxies == ""  # nobody's X-Forwarded-For is believed


def test_settings_are_read_from_the_service_s_prefixed_environment(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "9000")
    monkeypatch.setenv("EXAMPLE_SERVICE_DB_POOL_SIZE", "12")
    monkeypatch.setenv("EXAMPLE_SERVICE_LOG_LEVEL", "debug")
    settings = settings_class()
    assert (settings.port, settings.db_pool_size, settings.log_level) == (9000, 12, "DEBUG")
    assert settings_class.env_name("database_url") == "EXAMPLE_SERVICE_DATABASE_URL"


def test_settings_are_frozen(settings_class: type[ServiceSettings]) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        settings_class().port = 1  # type: ignore[misc]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgresql_url_uses_psycopg2_driver(
    settings_class: type[ServiceSettings], scheme: str
) -> None:
    settings = settings_class(database_url=f"{scheme}://app:pw@db:5432/users")
    assert settings.database_url == "postgresql+psycopg2://app:pw@db:5432/users"


def test_explicit_driver_is_kept(settings_class: type[ServiceSettings]) -> None:
    url = "postgresql+psycopg2://app@db/users"
    assert settings_class(database_url=url).database_url == url


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
def test_invalid_setting_is_refused(
    settings_class: type[ServiceSettings], field: str, value: object
) -> None:
    with pytest.raises(ValidationError, match=field):
        settings_class.model_validate({field: value})


@pytest.mark.parametrize("url", ["sqlite:///./.data/users.db", "mysql+pymysql://app@db/users"])
def test_a_database_url_other_than_postgresql_is_refused_with_the_reason(
    settings_class: type[ServiceSettings], url: str
) -> None:
    with pytest.raises(
        ValidationError, match=r"must be a postgresql:// URL \(the services run on PostgreSQL only"
    ):
        settings_class(database_url=url)


def test_placeholder_password_is_refused(settings_class: type[ServiceSettings]) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        settings_class(database_url="postgresql://app:changeme@db/users")


def test_password_is_hidden_from_repr(settings_class: type[ServiceSettings]) -> None:
    settings = settings_class(database_url="postgresql://app:s3cret@db/users")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in settings.safe_database_url


def test_every_database_bound_has_a_default_that_fits_a_request(
    settings_class: type[ServiceSettings],
) -> None:
    """A silent database costs a request at most pool + response + connect timeouts."""
    s = settings_class()
    assert (s.db_connect_timeout, s.db_response_timeout, s.db_pool_timeout) == (2, 2.5, 2)
    assert (s.db_statement_timeout, s.db_lock_timeout) == (2, 1)
    assert s.db_idle_in_transaction_timeout == 10
    assert s.db_tcp_user_timeout == 5
    assert (s.db_keepalives_idle, s.db_keepalives_interval, s.db_keepalives_count) == (10, 3, 3)
    assert s.readiness_timeout == 2, "below the charts' readiness probe timeout (3 s)"
    assert s.db_pool_timeout + s.db_response_timeout + s.db_connect_timeout <= 7


def test_the_response_timeout_must_outlast_the_statement_timeout(
    settings_class: type[ServiceSettings],
) -> None:
    """Else the service would drop a live server's connection before its own cancel arrives."""
    with pytest.raises(ValidationError, match="db_response_timeout"):
        settings_class(db_statement_timeout=3, db_response_timeout=3)
    assert settings_class(db_statement_timeout=0, db_response_timeout=1).db_statement_timeout == 0


def test_the_pool_must_leave_threads_free(settings_class: type[ServiceSettings]) -> None:
    """Queries pin a thread each: a pool as large as the thread pool could pin them all."""
    with pytest.raises(ValidationError, match="threads"):
        settings_class(db_pool_size=20, db_max_overflow=20)


def test_trusted_proxies_take_addresses_and_networks(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXAMPLE_SERVICE_TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.7 ,::1")
    assert settings_class().trusted_proxies == "10.0.0.0/8,192.168.1.7,::1"


@pytest.mark.parametrize("value", ["*", "proxy.internal", "10.0.0.0/33"])
def test_trusted_proxies_refuse_what_is_not_an_address(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXAMPLE_SERVICE_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError, match="IP addresses or CIDR networks"):
        settings_class()
