"""Engine and sessions: the connection to the database, built from settings, nothing else.

PostgreSQL gets a bounded pool, liveness checks on checkout and a connect timeout, so an
outage fails fast (503) instead of hanging requests. ``hide_parameters``: a failed statement's
error (and so its log line) shows the SQL but never the values bound to it (emails, hashes).
SQLite is the embedded fallback for running locally, never what tests of the data layer use.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from service_kit.settings import ServiceSettings

# A session factory: ``with sessions.begin() as session:`` is one unit of work (docs/design.md).
Sessions = sessionmaker[Session]

logger = logging.getLogger(__name__)


def make_engine(settings: ServiceSettings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if settings.uses_default_database:
            logger.warning(
                "%s is not set: using the embedded SQLite file %s; "
                "set it to a PostgreSQL URL for anything but local runs",
                settings.env_name("database_url"),
                url.database,
            )
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "application_name": settings.service_name,
        },
    )


def make_session_factory(engine: Engine) -> Sessions:
    """Sessions for one unit of work each: ``with sessions.begin() as session: ...``.

    Opening one does no I/O; the connection is taken on first use and given back when the
    block ends (committed, or rolled back on an error), so the caller opens it in the same
    thread that does the blocking work.
    """
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


def ping(session: Session) -> None:
    """Raises the driver's error when the database does not answer."""
    session.execute(text("SELECT 1"))
