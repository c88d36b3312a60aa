"""The bench's yardstick: the least code that answers ``GET /users/{id}`` from PostgreSQL.

Plain Starlette, a sync route (so it runs in the same anyio thread pool as the services' sync
routes), psycopg2 with a pool shaped like the services' SQLAlchemy pool (``pool_size`` kept
open, up to ``max_overflow`` more opened on demand and closed when returned), the same
single-row query against user-service's own table, and the same uvicorn options. What
user-service spends beyond this is the cost of FastAPI, SQLModel/SQLAlchemy, pydantic and our
middleware; the bench prints it as a ratio.

Settings (environment): ``BASELINE_DATABASE_URL`` (SQLAlchemy or libpq URL),
``BASELINE_POOL_SIZE`` / ``BASELINE_MAX_OVERFLOW`` (default 10 / 0), ``BASELINE_TABLE``
(default ``users``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg2
import psycopg2.pool
from psycopg2 import sql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class BlockingPool:
    """psycopg2's ThreadedConnectionPool raises when exhausted; this one waits, like SQLAlchemy.

    psycopg2 keeps at most ``minconn`` idle connections and closes the rest when returned, which
    is what SQLAlchemy's QueuePool does with its overflow: minconn = pool_size.
    """

    def __init__(self, dsn: str, size: int, overflow: int) -> None:
        self._pool = psycopg2.pool.ThreadedConnectionPool(size, size + overflow, dsn)
        self._slots = threading.BoundedSemaphore(size + overflow)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        with self._slots:
            conn = self._pool.getconn()
            try:
                yield conn
            finally:
                self._pool.putconn(conn)

    def close(self) -> None:
        self._pool.closeall()


def create_app() -> Starlette:
    dsn = os.environ["BASELINE_DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://")
    size = int(os.environ.get("BASELINE_POOL_SIZE", "10"))
    overflow = int(os.environ.get("BASELINE_MAX_OVERFLOW", "0"))
    query = sql.SQL("SELECT id, name, email, created_at FROM {} WHERE id = %s").format(
        sql.Identifier(os.environ.get("BASELINE_TABLE", "users"))
    )
    pool: BlockingPool | None = None

    def get_user(request: Request) -> JSONResponse:
        assert pool is not None
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute(query, (request.path_params["user_id"],))
            row = cur.fetchone()
            conn.rollback()
        if row is None:
            return JSONResponse({"status": 404}, status_code=404)
        return JSONResponse(
            {"id": row[0], "name": row[1], "email": row[2], "created_at": row[3].isoformat()}
        )

    def ready(request: Request) -> JSONResponse:
        assert pool is not None
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            conn.rollback()
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = BlockingPool(dsn, size, overflow)
        try:
            yield
        finally:
            pool.close()

    return Starlette(
        routes=[Route("/users/{user_id:int}", get_user), Route("/health/ready", ready)],
        lifespan=lifespan,
    )
