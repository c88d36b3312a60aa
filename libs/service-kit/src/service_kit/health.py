"""Probes: liveness is the process alone; readiness asks the service's database for ``SELECT 1``.

Readiness never asks another service: a dead dependency must not take its callers out of their
load balancers too (their calls then fail one by one, with a problem, and the rest keeps working).

Readiness answers within ``READINESS_TIMEOUT`` (2 s, below the charts' 3 s probe timeout)
whatever the database does: the check runs in a worker thread that is abandoned at the timeout
(it ends by itself within the database bounds, ``service_kit.db``), and the probe gets a 503. A
probe that times out is a failed probe too, but one the kubelet must wait for, and a log line
that says nothing; a 503 says why.
"""

from __future__ import annotations

from typing import Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel

from service_kit.db import ping
from service_kit.deps import SessionsDep
from service_kit.problems import DatabaseUnavailableError
from service_kit.settings import ServiceSettings

router = APIRouter(prefix="/health", tags=["health"])


class Status(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/live")
async def live() -> Status:
    return Status()


@router.get("/ready", responses={503: {"description": "Database unavailable"}})
async def ready(request: Request, sessions: SessionsDep) -> Status:
    settings: ServiceSettings = request.app.state.settings

    def check() -> None:
        with sessions.begin() as session:
            ping(session)

    try:
        with anyio.fail_after(settings.readiness_timeout):
            # abandon_on_cancel: at the timeout, answer now; the thread finishes on its own
            await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
    except TimeoutError:
        raise DatabaseUnavailableError() from None
    return Status()
