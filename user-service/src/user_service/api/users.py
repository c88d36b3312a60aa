"""``/users``: create, read and list users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service_kit.deps import SessionsDep
from service_kit.openapi import problem_responses
from user_service import service
from user_service.models import UserCreate, UserPage, UserPublic

router = APIRouter(prefix="/users", tags=["users"])

MAX_ID = 2**31 - 1  # the column is a 32-bit integer; larger ids cannot exist
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]

_PROBLEMS = {404: "No such user", 409: "Email already registered"}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=problem_responses(_PROBLEMS, 409, 413, 422, 503),
)
def create_user(data: UserCreate, sessions: SessionsDep, response: Response) -> UserPublic:
    user = service.create_user(sessions=sessions, data=data)
    response.headers["Location"] = f"/users/{user.id}"
    return user


@router.get(
    "/{user_id}",
    response_model=UserPublic,
    responses=problem_responses(_PROBLEMS, 404, 422, 503),
)
def get_user(user_id: UserId, sessions: SessionsDep) -> UserPublic:
    return service.get_user(sessions=sessions, user_id=user_id)


@router.get("", response_model=UserPage, responses=problem_responses(_PROBLEMS, 422, 503))
def list_users(
    sessions: SessionsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> UserPage:
    return service.list_users(sessions=sessions, limit=limit, offset=offset)
