"""``/users``: create, read and list users."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from service_kit.deps import SessionsDep
from user_service import service
from user_service.models import UserCreate, UserPage, UserPublic

router = APIRouter(prefix="/users", tags=["users"])

MAX_ID = 2**31 - 1  # the column is a 32-bit integer; larger ids cannot exist
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_responses: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user", **_PROBLEM},
    409: {"description": "Email already registered", **_PROBLEM},
    413: {"description": "Body over 64 KiB", **_PROBLEM},
    422: {"description": "Invalid request", **_PROBLEM},
    503: {"description": "Database unavailable", **_PROBLEM},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={k: _responses[k] for k in (409, 413, 422, 503)},
)
def create_user(data: UserCreate, sessions: SessionsDep, response: Response) -> UserPublic:
    user = service.create_user(sessions=sessions, data=data)
    response.headers["Location"] = f"/users/{user.id}"
    return user


@router.get(
    "/{user_id}",
    response_model=UserPublic,
    responses={k: _responses[k] for k in (404, 422, 503)},
)
def get_user(user_id: UserId, sessions: SessionsDep) -> UserPublic:
    return service.get_user(sessions=sessions, user_id=user_id)


@router.get("", response_model=UserPage, responses={k: _responses[k] for k in (422, 503)})
def list_users(
    sessions: SessionsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> UserPage:
    return service.list_users(sessions=sessions, limit=limit, offset=offset)
