"""Probes: liveness is the process alone; readiness asks the database for ``SELECT 1``.

Readiness never asks user-service: a dead dependency must not take this service out of its
load balancer too (orders then answer 503 one by one, reads keep working).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from order_service import service
from order_service.api.deps import SessionsDep

router = APIRouter(prefix="/health", tags=["health"])


class Status(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/live")
async def live() -> Status:
    return Status()


@router.get("/ready", responses={503: {"description": "Database unavailable"}})
def ready(sessions: SessionsDep) -> Status:
    with sessions() as session:
        service.check_database(session=session)
    return Status()
