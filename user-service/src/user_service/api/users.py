"""``/users``: register, and read users as the bearer token allows.

Registering is open; reading needs a token: ``/users/me`` and ``/users/{id}`` for the token's own
user (what order-service asks, relaying its caller's token), any user and the list for an admin.

Routes are ``async def`` and await ``Users``, which sends each unit of work to the thread pool
once: a sync route would cost a second trip, FastAPI's validation of the response, which for a
sync route it also runs in the pool (docs/design.md, "One idiom each"). Registering is
rate-limited per client address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from service_kit.deps import MAX_ID, PageDep
from service_kit.openapi import problem_responses
from user_service.api.deps import PrincipalDep, UsersDep, limit_client
from user_service.models import UserCreate, UserPage, UserPublic

router = APIRouter(prefix="/users", tags=["users"])

UserId = Annotated[int, Path(ge=1, le=MAX_ID)]

_PROBLEMS = {
    401: "No bearer token, or one that is refused",
    403: "The token does not allow this read",
    404: "No such user",
    409: "Email already registered",
    429: "Too many requests from this address; see Retry-After",
}
_REGISTER_PROBLEMS = {
    **_PROBLEMS,
    503: "Database unavailable, or too many password checks at once; see Retry-After",
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    dependencies=[Depends(limit_client)],
    responses=problem_responses(_REGISTER_PROBLEMS, 409, 413, 422, 429, 503),
)
async def create_user(data: UserCreate, users: UsersDep, response: Response) -> UserPublic:
    """Register: name, email and a password of 8-128 characters (stored as an Argon2id hash)."""
    user = await users.register(data=data)
    response.headers["Location"] = f"/users/{user.id}"
    return user


@router.get("/me", response_model=UserPublic, responses=problem_responses(_PROBLEMS, 401, 404, 503))
async def get_me(principal: PrincipalDep, users: UsersDep) -> UserPublic:
    """The caller's own user."""
    return await users.get_user(principal=principal, user_id=principal.user_id)


@router.get(
    "/{user_id}",
    response_model=UserPublic,
    responses=problem_responses(_PROBLEMS, 401, 403, 404, 422, 503),
)
async def get_user(user_id: UserId, principal: PrincipalDep, users: UsersDep) -> UserPublic:
    """A user: the token's own, or any for an admin."""
    return await users.get_user(principal=principal, user_id=user_id)


@router.get("", response_model=UserPage, responses=problem_responses(_PROBLEMS, 401, 403, 422, 503))
async def list_users(principal: PrincipalDep, users: UsersDep, page: PageDep) -> UserPage:
    """Every user, by id: for an admin only."""
    return await users.list_users(principal=principal, limit=page.limit, offset=page.offset)
