"""The user resource: one model family (UserBase -> UserCreate / User / UserPublic / UserPage).

``UserCreate`` holds the input rules (normalised email, trimmed bounded name, a password of
8-128 characters, no unknown fields); ``User`` is the table (with the Argon2id hash and the role);
``UserPublic`` is all a client ever sees: never the password or its hash. ``AccessToken`` is the
OAuth2 token response.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, EmailStr, field_validator
from sqlalchemy import Column, DateTime, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from service_kit.timestamps import UtcTimestamp, utc_now
from user_service.passwords import PASSWORD_MAX, PASSWORD_MIN

NAME_MAX = 100
EMAIL_MAX = 320
PASSWORD_HASH_MAX = 255


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"  # granted with `user-service grant-admin EMAIL`, never over HTTP


def _lower(value: str) -> str:
    return value.lower()


class UserBase(SQLModel):
    name: str = Field(max_length=NAME_MAX)
    email: str = Field(max_length=EMAIL_MAX)


class UserCreate(UserBase):
    # Strict, as every request body (docs/design.md, "Input strictness"); the name is trimmed
    # and the email lower-cased after the type check.
    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=NAME_MAX)
    email: Annotated[EmailStr, AfterValidator(_lower)] = Field(max_length=EMAIL_MAX)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX, repr=False)

    @field_validator("name", mode="before")
    @classmethod
    def _strip_and_check_name(cls, value: object) -> object:
        if not isinstance(value, str):
            return value  # the type check below reports it
        value = value.strip()
        if any(unicodedata.category(char) == "Cc" for char in value):
            raise ValueError("name must not contain control characters")
        return value


class User(UserBase, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email", name="uq_users_email"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # None for users created before passwords existed: they cannot log in
    password_hash: str | None = Field(
        default=None, repr=False, sa_column=Column(String(PASSWORD_HASH_MAX), nullable=True)
    )
    role: str = Field(
        default=Role.USER.value,
        sa_column=Column(String(16), nullable=False, server_default=Role.USER.value),
    )


class UserPublic(UserBase):
    id: int
    created_at: UtcTimestamp


class UserPage(SQLModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int


class AccessToken(SQLModel):
    """RFC 6749 section 5.1: what the token endpoint answers."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int
