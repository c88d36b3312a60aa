"""The user resource: one model family (UserBase -> UserCreate / User / UserPublic / UserPage).

``UserCreate`` holds the input rules (normalised email, trimmed bounded name, no unknown
fields); ``User`` is the table; ``UserPublic`` is all a client ever sees.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, field_validator
from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from service_kit.timestamps import UtcTimestamp, utc_now

NAME_MAX = 100
EMAIL_MAX = 320


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


class UserPublic(UserBase):
    id: int
    created_at: UtcTimestamp


class UserPage(SQLModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int
