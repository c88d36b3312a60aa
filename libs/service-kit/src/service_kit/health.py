"""Probes: liveness is the process alone; readiness asks the service's database for ``SELECT 1``.

Readiness never asks another service: a dead dependency must not take its callers out of their
load balancers too (their calls then fail one by one, with a problem, and the rest keeps working).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from service_kit.db import ping
from service_kit.deps import SessionsDep

router = APIRouter(prefix="/health", tags=["health"])


class Status(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/live")
async def live() -> Status:
    return Status()


@router.get("/ready", responses={503: {"description": "Database unavailable"}})
def ready(sessions: SessionsDep) -> Status:
    with sessions.begin() as session:
        ping(session)
    return Status()
