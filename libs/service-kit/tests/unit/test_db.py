"""What the engine asks of libpq and of the server: every bound, from the settings (no I/O)."""

from __future__ import annotations

import pytest

from service_kit.db import connect_args
from service_kit.settings import ServiceSettings

pytestmark = pytest.mark.unit


def test_requests_get_every_bound(settings_class: type[ServiceSettings]) -> None:
    settings = settings_class(
        database_url="postgresql://app@db/app",
        db_connect_timeout=2.5,
        db_statement_timeout=1.5,
        db_lock_timeout=0.5,
        db_idle_in_transaction_timeout=7,
        db_tcp_user_timeout=4,
        db_keepalives_idle=11,
        db_keepalives_interval=2,
        db_keepalives_count=4,
    )
    args = connect_args(settings)
    assert args["connect_timeout"] == 3  # libpq takes whole seconds; the wait loop is exact
    assert (args["keepalives"], args["keepalives_idle"]) == (1, 11)
    assert (args["keepalives_interval"], args["keepalives_count"]) == (2, 4)
    assert args["tcp_user_timeout"] == 4000
    assert args["application_name"] == "service-kit"
    assert args["options"] == (
        "-c statement_timeout=1500 -c lock_timeout=500 -c idle_in_transaction_session_timeout=7000"
    )
    bounded = args["connection_factory"]
    assert bounded.connect_timeout == 2.5
    assert bounded.response_timeout == settings.db_response_timeout


def test_migrations_keep_the_network_bounds_but_no_statement_or_response_timeout(
    settings_class: type[ServiceSettings],
) -> None:
    """A migration may run for minutes and wait for the advisory lock of another one."""
    args = connect_args(settings_class(database_url="postgresql://app@db/app"), requests=False)
    assert "options" not in args
    assert args["tcp_user_timeout"] == 5000
    assert args["connection_factory"].response_timeout is None
    assert args["connection_factory"].connect_timeout == 2
