"""Identity endpoints: ``POST /token`` (OAuth2 password flow) and the public keys (JWKS)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm

from user_service.api.deps import UsersDep, limit_client
from user_service.models import AccessToken

router = APIRouter(tags=["identity"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post(
    "/token",
    response_model=AccessToken,
    dependencies=[Depends(limit_client)],
    # the form's six fields at most (username, password, grant_type, scope, client_id,
    # client_secret) and never a file: more is a 400 before anything is stored
    form_limits={"max_fields": 6, "max_files": 0},
    responses={
        400: {"description": "A form body that cannot be parsed", **_PROBLEM},
        401: {"description": "Wrong email or password (the same answer for both)", **_PROBLEM},
        422: {"description": "Missing form fields", **_PROBLEM},
        429: {
            "description": "Too many failed logins for this email, or too many requests from "
            "this address; see Retry-After",
            **_PROBLEM,
        },
        503: {
            "description": "Database unavailable, or too many password checks at once; see "
            "Retry-After",
            **_PROBLEM,
        },
    },
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], users: UsersDep, response: Response
) -> AccessToken:
    """Exchange an email (``username``) and password for a short-lived access token."""
    token = await users.issue_token(email=form.username, password=form.password)
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 section 5.1
    return token


@router.get("/.well-known/jwks.json", response_model=None)
async def jwks(users: UsersDep, response: Response) -> dict[str, list[dict[str, str]]]:
    """The public keys that verify this service's tokens (RFC 7517); the first one signs."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return users.keyring.jwks()
