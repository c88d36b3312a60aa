"""A pooled connection is pinged on checkout only after it sat idle (``DB_PING_AFTER_IDLE``).

Against a real PostgreSQL: a connection whose backend was terminated while it idled in the pool
is found dead by the ping and replaced, so the request never sees it; one given back a moment
ago is handed out without the extra round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from service_kit.db import make_engine
from service_kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


@contextmanager
def counting_pings(engine: Engine) -> Iterator[list[int]]:
    """Count the dialect's pings (the round trip the window saves)."""
    calls: list[int] = []
    real = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        calls.append(1)
        return real(dbapi_connection)

    engine.dialect.do_ping = do_ping  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        engine.dialect.do_ping = real  # type: ignore[method-assign]


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.fixture
def engine_with(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> Iterator[Callable[..., Engine]]:
    url = create_database("service_kit_ping")
    engines: list[Engine] = []

    def make(**settings: Any) -> Engine:
        engine = make_engine(settings_class(database_url=url, db_pool_size=1, **settings))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine_with: Callable[..., Engine]) -> None:
    engine = engine_with(db_ping_after_idle=60)
    with counting_pings(engine) as pings:
        pids = {backend_pid(engine) for _ in range(5)}
    assert pings == []
    assert len(pids) == 1, "one pooled connection, reused"


def test_a_connection_idle_past_the_window_is_pinged(engine_with: Callable[..., Engine]) -> None:
    engine = engine_with(db_ping_after_idle=0.2)
    backend_pid(engine)  # a new connection: never pinged
    with counting_pings(engine) as pings:
        time.sleep(0.3)
        backend_pid(engine)
        backend_pid(engine)  # right after: no ping
    assert pings == [1]


def test_zero_pings_every_checkout(engine_with: Callable[..., Engine]) -> None:
    engine = engine_with(db_ping_after_idle=0)
    backend_pid(engine)
    with counting_pings(engine) as pings:
        for _ in range(3):
            backend_pid(engine)
    assert pings == [1, 1, 1]


def test_a_connection_that_died_while_idle_is_replaced_unseen(
    engine_with: Callable[..., Engine], create_database: Callable[[str], str]
) -> None:
    engine = engine_with(db_ping_after_idle=0.2)
    first = backend_pid(engine)
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # what a server restart or failover does to it
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        admin.dispose()
    time.sleep(0.3)
    assert backend_pid(engine) != first, "the ping found it dead and the pool replaced it"


def test_a_read_unit_runs_in_autocommit_and_gives_the_connection_back_transactional(
    engine_with: Callable[..., Engine],
) -> None:
    """``sessions.read()``: no BEGIN/COMMIT round trips; the next unit gets a normal connection."""
    from service_kit.db import make_session_factory

    sessions = make_session_factory(engine_with())
    with sessions.read() as session:
        assert session.connection().connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
        in_transaction = session.execute(text("SELECT txid_current_if_assigned()")).scalar()
        assert in_transaction is None
    with sessions.begin() as session:
        assert session.connection().connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
        session.execute(text("CREATE TEMPORARY TABLE t (x int)"))
        assert session.execute(text("SELECT txid_current_if_assigned()")).scalar() is not None
