"""Engine and sessions: the connection to the database, built from settings, nothing else.

Every database operation of a request is bounded, so a database that fails silently (a frozen
server, a lost node, a network path that swallows packets) costs a request a few seconds and a
503, never a thread held for the kernel's 15 minutes of TCP retries:

==============================  =====================================================  =========
bound (setting ``DB_...``)      what it ends                                           enforced
==============================  =====================================================  =========
``POOL_TIMEOUT``                the wait for a pooled connection                       SQLAlchemy
``CONNECT_TIMEOUT``             connecting, authentication included                    here
``RESPONSE_TIMEOUT``            any one round trip (query, commit, the idle ping)      here
``STATEMENT_TIMEOUT``           a statement that runs too long                         server
``LOCK_TIMEOUT``                a wait for a lock                                      server
``IDLE_IN_TRANSACTION_TIMEOUT`` a session that holds a transaction open, idle          server
``TCP_USER_TIMEOUT``            data the peer never acknowledges (a lost node)         kernel
``KEEPALIVES_*``                an idle connection whose peer is gone                  kernel
==============================  =====================================================  =========

A frozen server's kernel still accepts connections and acknowledges packets, so neither the
kernel's timers nor the server's own timeouts end a wait on it: only a deadline the service
keeps does. psycopg2 runs every blocking libpq call through a *wait callback* when one is set
(the "green" mode gevent users rely on); ``wait_with_deadlines`` is that callback. It waits on
the socket with ``select`` up to the connection's deadline, and past it shuts the socket down, so
libpq fails the call at once and psycopg2 closes the connection; SQLAlchemy then sees a
disconnect, invalidates the pool, and the next checkout connects afresh. (It must not call
``connection.close()`` itself: psycopg2 holds the connection's lock while it waits, and close
would wait for that lock forever.) ``RESPONSE_TIMEOUT`` must outlast ``STATEMENT_TIMEOUT``, so a
live server's own cancellation (a clean error, the connection kept) always comes first.

The callback is a Python poll loop instead of libpq's blocking wait: a few percent of a
request's CPU (docs/performance.md), the price of a bound on every round trip.
The wait callback is process-wide (a psycopg2 rule); connections not made by ``make_engine``
have no deadlines and wait as before. Migrations use ``make_engine(settings, requests=False)``:
the network bounds only, since a migration may run for minutes and queue on another's lock.

``hide_parameters``: a failed statement's error (and so its log line) shows the SQL but never the
values bound to it (emails, password hashes).

Each connection in use pins a thread of the pool sync routes run on, for at most the bounds
above; the pool's size (``DB_POOL_SIZE + DB_MAX_OVERFLOW``, at most 32 of anyio's 40 threads)
bounds how many a silent database can pin at once, and the others fail at ``POOL_TIMEOUT``.

``unique_violation`` tells which unique constraint a failed INSERT broke (SQLSTATE 23505 and the
constraint's name, as the server reports them): the repositories turn that one into a domain
error and let every other integrity error through.
"""

from __future__ import annotations

import math
import os
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError, InvalidatePoolError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

from service_kit.settings import ServiceSettings


class Sessions(sessionmaker[Session]):
    """The session factory: ``with sessions.begin() as session:`` is one unit of work that writes
    (docs/design.md, "One idiom each"); ``with sessions.read() as session:`` one that only reads.

    A read runs in autocommit: no ``BEGIN`` and no ``COMMIT`` round trips, one per statement
    instead of two more per unit. Nothing is lost by it: under PostgreSQL's (and our) default
    READ COMMITTED every statement takes its own snapshot anyway, in a transaction or not, and a
    SELECT takes no lock worth holding. A read that must see one snapshot across statements
    (REPEATABLE READ) would need ``begin()`` with that isolation level; none does.

    The read sets psycopg2's own ``autocommit`` flag on the checked-out connection and clears it
    before the connection goes back to the pool (both are attribute writes: no round trip while
    the isolation level stays the server's default). Not SQLAlchemy's
    ``execution_options(isolation_level="AUTOCOMMIT")``: with psycopg2 that resets the level
    when the connection is returned (``SET default_transaction_isolation TO DEFAULT``, a round
    trip) and begins every later transaction with ``BEGIN ISOLATION LEVEL ...``, costing more
    than it saves.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, class_=Session, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: ``with sessions.read() as session:``."""
        with self.begin() as session:
            dbapi_connection = session.connection().connection.dbapi_connection
            assert dbapi_connection is not None
            dbapi_connection.autocommit = True
            try:
                yield session
            finally:
                if not dbapi_connection.closed:  # a broken one is dropped by the pool anyway
                    dbapi_connection.autocommit = False


class BoundedConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that carries its deadlines; ``bounded_connection_class`` sets them."""

    connect_timeout: float | None = None
    response_timeout: float | None = None


def bounded_connection_class(
    connect_timeout: float | None, response_timeout: float | None
) -> type[BoundedConnection]:
    """A connection class (psycopg2's ``connection_factory``) with these deadlines."""
    return type(
        "BoundedConnection",
        (BoundedConnection,),
        {"connect_timeout": connect_timeout, "response_timeout": response_timeout},
    )


def wait_with_deadlines(conn: psycopg2.extensions.connection) -> None:
    """psycopg2's wait callback: ``psycopg2.extras.wait_select`` with a deadline per call."""
    connecting = conn.status == psycopg2.extensions.STATUS_SETUP
    limit = getattr(conn, "connect_timeout" if connecting else "response_timeout", None)
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            _shut_down(conn.fileno())
            what = "connection" if connecting else "query"
            raise psycopg2.OperationalError(
                f"the database did not answer within {limit} s ({what}): connection dropped"
            )
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:  # pragma: no cover - psycopg2 documents no other state
            raise psycopg2.OperationalError(f"bad state from poll: {state}")


def _shut_down(fd: int) -> None:
    """Shut the connection's socket down (libpq's next read fails at once); libpq keeps its fd."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone: libpq will say so
    finally:
        sock.close()


def _milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


def connect_args(settings: ServiceSettings, *, requests: bool = True) -> dict[str, Any]:
    """psycopg2/libpq connection parameters: the bounds of the module docstring's table."""
    args: dict[str, Any] = {
        "application_name": settings.service_name,
        # libpq's own connect_timeout (whole seconds, at least 2) only guards connections made
        # without the wait callback; with it, the callback's exact deadline comes first.
        "connect_timeout": max(2, math.ceil(settings.db_connect_timeout)),
        "keepalives": 1,
        "keepalives_idle": settings.db_keepalives_idle,
        "keepalives_interval": settings.db_keepalives_interval,
        "keepalives_count": settings.db_keepalives_count,
        "tcp_user_timeout": _milliseconds(settings.db_tcp_user_timeout),
        "connection_factory": bounded_connection_class(
            settings.db_connect_timeout, settings.db_response_timeout if requests else None
        ),
    }
    if requests:
        server = {
            "statement_timeout": settings.db_statement_timeout,
            "lock_timeout": settings.db_lock_timeout,
            "idle_in_transaction_session_timeout": settings.db_idle_in_transaction_timeout,
        }
        args["options"] = " ".join(
            f"-c {name}={_milliseconds(seconds)}" for name, seconds in server.items()
        )
    return args


def ping_after_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection on checkout only when it sat idle ``idle`` seconds or more.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a ``SELECT 1`` round trip per unit
    of work. A connection given back a moment ago was talking to
    the server a moment ago; the ping guards against the ones that sat in the pool while the
    server restarted or a failover moved it (HikariCP skips its check the same way, for
    connections used within its ``aliveBypassWindowMs``, 500 ms). A failed ping is a
    ``InvalidatePoolError``: the pool invalidates every connection older than this one and
    checks out a new one, as ``pool_pre_ping`` does. Under load no connection idles, so no
    ping; the window left, a connection broken less than ``idle`` seconds after it was used,
    fails its statement instead, which is a disconnect (the pool is invalidated, the request
    answers 503) exactly as a connection broken just after a ping always did. ``idle=0`` pings
    on every checkout.
    """
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _given_back(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _taken(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        returned = record.info.get("returned_at")  # none on a new connection: no ping
        if returned is None or time.monotonic() - returned < idle:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):  # as pool_pre_ping does:
                raise InvalidatePoolError(f"ping failed: {exc}") from exc
            raise  # anything else fails the checkout (the pool drops this connection)


def make_engine(settings: ServiceSettings, *, requests: bool = True) -> Engine:
    """The service's engine; ``requests=False`` for migrations (network bounds only)."""
    psycopg2.extensions.set_wait_callback(wait_with_deadlines)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args=connect_args(settings, requests=requests),
    )
    ping_after_idle(engine, settings.db_ping_after_idle)
    return engine


def make_session_factory(engine: Engine) -> Sessions:
    """Sessions for one unit of work each: ``with sessions.begin() as session: ...`` (writes),
    ``with sessions.read() as session: ...`` (reads only).

    Opening one does no I/O; the connection is taken on first use and given back when the
    block ends (committed, or rolled back on an error), so the caller opens it in the same
    thread that does the blocking work.
    """
    return Sessions(engine)


def ping(session: Session) -> None:
    """Raises the driver's error when the database does not answer."""
    session.execute(text("SELECT 1"))


def unique_violation(exc: IntegrityError, constraint: str) -> bool:
    """Whether ``exc`` is the unique constraint ``constraint`` broken (SQLSTATE 23505)."""
    orig = exc.orig
    return (
        isinstance(orig, psycopg2.errors.UniqueViolation)
        and orig.diag.constraint_name == constraint
    )
