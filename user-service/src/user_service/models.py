"""The user resource: one model family (UserBase -> UserCreate / User / UserPublic / UserPage).

``UserCreate`` holds the input rules (normalised email, trimmed bounded name, a password of
8-128 characters, no unknown fields); ``User`` is the table (with the Argon2id hash and the role);
``UserPublic`` is all a client ever sees: never the password or its hash. ``AccessToken`` is the
OAuth2 token response.

``normalise_email`` is the one spelling of an email: registration, login and the admin CLI all
go through it, so whatever someone registered with, they can log in with. ``check_name`` keeps
a name to what it shows: other people read it (order snapshots), so text that is invisible,
reorders what follows it or breaks lines is refused, while every script's own joiners and marks
are kept (docs/identity.md, "Names").
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, ConfigDict, WithJsonSchema, field_validator
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


def normalise_email(raw: str) -> str:
    """The stored spelling of an email: trimmed, the domain in Unicode form (IDNA: punycode and
    case folded), the local part NFC, all lower-cased; ``ValueError`` when it is not an address.

    An input longer than any address is refused before it is parsed (a login name is caller's
    data of any size).
    """
    value = raw.strip()
    if len(value) > EMAIL_MAX:
        raise ValueError(f"value is not a valid email address: longer than {EMAIL_MAX} characters")
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return checked.normalized.lower()


# Characters a name may not hold anywhere, by Unicode general category.
_REFUSED_CATEGORIES = {
    "Cc": "control characters",
    "Zl": "line or paragraph separators",
    "Zp": "line or paragraph separators",
    "Co": "private-use characters",
    "Cs": "surrogates",
    "Cn": "unassigned code points",
}
# Explicit direction formatting (Unicode bidi: embeddings, overrides, isolates, marks): they
# reorder the text around them, so a name could make an order or a log line read otherwise.
_DIRECTION_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Zero-width (non-)joiner: format characters that real scripts need (Indic half forms, Persian,
# emoji sequences); allowed only between two visible characters.
_JOINERS = frozenset("\u200c\u200d")
# Letters and symbols that draw nothing (Hangul fillers, braille blank): a name of them looks
# empty or padded.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_VISIBLE_CLASSES = frozenset("LNPS")  # letters, numbers, punctuation, symbols


def check_name(value: str) -> str:
    """``value`` in NFC if every character shows or joins what shows; ``ValueError`` (why) else."""
    value = unicodedata.normalize("NFC", value)
    visible = False
    for i, char in enumerate(value):
        category = unicodedata.category(char)
        if char in _DIRECTION_CONTROLS:
            raise ValueError(f"name must not contain text-direction controls (U+{ord(char):04X})")
        if category in _REFUSED_CATEGORIES:
            raise ValueError(f"name must not contain {_REFUSED_CATEGORIES[category]}")
        if char in _JOINERS:
            if not (_shows(value[i - 1 : i]) and _shows(value[i + 1 : i + 2])):
                raise ValueError("name may use a zero-width joiner only between two characters")
        elif category == "Cf":
            raise ValueError(f"name must not contain invisible characters (U+{ord(char):04X})")
        elif char in _BLANKS:
            raise ValueError(f"name must not contain blank letters (U+{ord(char):04X})")
        visible = visible or category[0] in _VISIBLE_CLASSES
    if not visible:
        raise ValueError("name must contain a visible character")
    return value


def _shows(char: str) -> bool:
    """A character a joiner may touch: one that draws, or a mark or selector on one."""
    return bool(char) and unicodedata.category(char)[0] in _VISIBLE_CLASSES | {"M"}


EmailAddress = Annotated[
    str, AfterValidator(normalise_email), WithJsonSchema({"type": "string", "format": "email"})
]


class UserBase(SQLModel):
    name: str = Field(max_length=NAME_MAX)
    email: str = Field(max_length=EMAIL_MAX)


class UserCreate(UserBase):
    # Strict, as every request body (docs/design.md, "Input strictness"); the name is trimmed
    # and the email lower-cased after the type check.
    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=NAME_MAX)
    email: EmailAddress = Field(max_length=EMAIL_MAX)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX, repr=False)

    @field_validator("name", mode="before")
    @classmethod
    def _strip_and_check_name(cls, value: object) -> object:
        if not isinstance(value, str):
            return value  # the type check below reports it
        return check_name(value.strip()) if len(value) <= 4 * NAME_MAX else value


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
