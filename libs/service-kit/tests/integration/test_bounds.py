"""Every database operation is bounded, against a real PostgreSQL that stops answering.

The server is reached through ``FreezableRelay``, a TCP relay that can stop forwarding: the
connection stays open and the kernel keeps acknowledging, but no answer ever comes, as with a
frozen server, a paused VM or a network path that swallows packets. A listener that never
accepts stands for a server that is silent from the start.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service_kit.app import create_service_app
from service_kit.db import make_engine
from service_kit.settings import ServiceSettings

pytestmark = pytest.mark.integration

SLACK = 0.75  # seconds a busy machine may add to a bound


class FreezableRelay:
    """127.0.0.1:port -> upstream (host and port, or a Unix socket's path); ``frozen`` stops
    forwarding both ways, keeping connections."""

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._thawed = threading.Event()
        self._thawed.set()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        self._thawed.clear()
        try:
            yield
        finally:
            self._thawed.set()

    def close(self) -> None:
        self._thawed.set()
        for sock in [self.listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if isinstance(self.upstream, str):
                server = socket.socket(socket.AF_UNIX)
                server.connect(self.upstream)
            else:
                server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                self._thawed.wait()
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def relay(create_database: Callable[[str], str]) -> Iterator[tuple[FreezableRelay, str]]:
    """A relay to a new database, and the database's URL through the relay."""
    url = make_url(create_database("service_kit_bounds"))
    port = url.port or 5432
    socket_dir = url.query.get("host")  # the embedded server listens on a Unix socket only
    relay = FreezableRelay(
        f"{socket_dir}/.s.PGSQL.{port}"
        if isinstance(socket_dir, str)
        else (url.host or "127.0.0.1", port)
    )
    through = url.difference_update_query(["host"]).set(host="127.0.0.1", port=relay.port)
    yield relay, through.render_as_string(hide_password=False)
    relay.close()


@contextlib.contextmanager
def engine_of(settings: ServiceSettings) -> Iterator[Engine]:
    engine = make_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def timed(action: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        action()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def select_one(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT 1")).scalar_one())


def test_a_server_that_never_answers_the_connection_fails_within_the_connect_timeout(
    settings_class: type[ServiceSettings],
) -> None:
    silent = socket.create_server(("127.0.0.1", 0), backlog=8)  # accepted by the kernel only
    port = silent.getsockname()[1]
    settings = settings_class(
        database_url=f"postgresql://app@127.0.0.1:{port}/app", db_connect_timeout=1
    )
    try:
        with engine_of(settings) as engine:
            error, seconds = timed(lambda: select_one(engine))
    finally:
        silent.close()
    assert isinstance(error, OperationalError)
    assert seconds < 1 + SLACK


def test_a_query_to_a_frozen_server_fails_within_the_response_timeout_then_the_pool_heals(
    settings_class: type[ServiceSettings], relay: tuple[FreezableRelay, str]
) -> None:
    proxy, url = relay
    settings = settings_class(
        database_url=url, db_connect_timeout=1, db_statement_timeout=1, db_response_timeout=1.5
    )
    with engine_of(settings) as engine:
        assert select_one(engine) == 1
        with engine.connect() as conn, proxy.frozen():
            error, seconds = timed(lambda: conn.execute(text("SELECT 2")))
        assert isinstance(error, OperationalError)
        assert seconds < 1.5 + SLACK
        assert "did not answer within 1.5 s" in str(error)
        with proxy.frozen():  # pre-ping of a pooled connection, then a new connection
            error, seconds = timed(lambda: select_one(engine))
        assert isinstance(error, OperationalError)
        assert seconds < 1.5 + 1 + SLACK
        assert select_one(engine) == 1, "the service serves again once the server answers"
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_slow_statement_is_cancelled_by_the_server_and_the_connection_is_kept(
    settings_class: type[ServiceSettings], relay: tuple[FreezableRelay, str]
) -> None:
    _, url = relay
    settings = settings_class(database_url=url, db_statement_timeout=0.5)
    with engine_of(settings) as engine, engine.connect() as conn:
        error, seconds = timed(lambda: conn.execute(text("SELECT pg_sleep(3)")))
        conn.rollback()
        assert isinstance(error, OperationalError)
        assert "statement timeout" in str(error)
        assert seconds < 0.5 + SLACK
        assert conn.execute(text("SELECT 3")).scalar_one() == 3


def test_the_server_side_bounds_are_the_settings(
    settings_class: type[ServiceSettings], relay: tuple[FreezableRelay, str]
) -> None:
    _, url = relay
    settings = settings_class(
        database_url=url,
        db_statement_timeout=1.5,
        db_lock_timeout=0.25,
        db_idle_in_transaction_timeout=9,
        db_tcp_user_timeout=4,
    )
    with engine_of(settings) as engine, engine.connect() as conn:
        shown = {
            name: conn.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
        dsn = conn.connection.dbapi_connection.info.dsn_parameters  # type: ignore[union-attr]
    assert shown == {
        "statement_timeout": "1500ms",
        "lock_timeout": "250ms",
        "idle_in_transaction_session_timeout": "9s",
    }
    assert (dsn["keepalives"], dsn["tcp_user_timeout"]) == ("1", "4000")


def test_migrations_run_without_statement_timeouts(
    settings_class: type[ServiceSettings], relay: tuple[FreezableRelay, str]
) -> None:
    _, url = relay
    engine = make_engine(settings_class(database_url=url), requests=False)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    finally:
        engine.dispose()


def test_readiness_answers_within_its_timeout_while_the_database_is_frozen(
    settings_class: type[ServiceSettings], relay: tuple[FreezableRelay, str]
) -> None:
    proxy, url = relay
    settings = settings_class(database_url=url, readiness_timeout=1)
    with TestClient(create_service_app(settings, routers=[])) as client:
        assert client.get("/health/ready").status_code == 200
        with proxy.frozen():
            started = time.monotonic()
            response = client.get("/health/ready")
            seconds = time.monotonic() - started
        assert response.status_code == 503
        assert response.json()["type"] == "/problems/database-unavailable"
        assert seconds < 1 + SLACK
        deadline = time.monotonic() + 10
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness did not come back after the thaw"
            time.sleep(0.2)
