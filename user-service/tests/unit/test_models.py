"""The rules of a user's data: normalisation and bounds (no I/O)."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from user_service.models import UserCreate, UserPublic

PW = "correct horse battery staple"


def test_email_is_lower_cased_and_name_stripped() -> None:
    user = UserCreate(name="  Ada Lovelace \t", email="Ada.Lovelace@Example.COM", password=PW)
    assert user.name == "Ada Lovelace"
    assert user.email == "ada.lovelace@example.com"


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * 101, "tab\tinside", "bell\x07", "del\x7f", "\u0085"]
)
def test_name_out_of_bounds_or_with_control_characters_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        UserCreate(name=name, email="a@example.com")


def test_name_of_100_characters_after_stripping_is_accepted() -> None:
    user = UserCreate(name=" " + "é" * 100 + " ", email="a@example.com", password=PW)
    assert len(user.name) == 100


@pytest.mark.parametrize(("password", "ok"), [("x" * 7, False), ("x" * 8, True),
                                              ("é" * 128, True), ("x" * 129, False)])  # fmt: skip
def test_password_is_8_to_128_characters_and_never_in_the_repr(password: str, ok: bool) -> None:
    if not ok:
        with pytest.raises(ValidationError, match="password"):
            UserCreate(name="Ada", email="a@example.com", password=password)
        return
    user = UserCreate(name="Ada", email="a@example.com", password=password)
    assert password not in repr(user)


@pytest.mark.parametrize(
    "email", ["", "no-at-sign", "a@", "@example.com", "a b@example.com", "a@" + "x" * 300 + ".com"]
)
def test_invalid_email_is_refused(email: str) -> None:
    with pytest.raises(ValidationError, match="email"):
        UserCreate(name="Ada", email=email)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        UserCreate.model_validate({"name": "Ada", "email": "a@example.com", "admin": True})


@pytest.mark.parametrize(
    "payload", [{"name": 1, "email": "a@example.com"}, {"name": "A", "email": 5}]
)
def test_wrong_types_are_refused_not_coerced(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="string_type"):
        UserCreate.model_validate(payload)


def test_created_at_is_sent_as_the_kit_s_utc_timestamp() -> None:
    """The format's rules are the kit's (test_timestamps.py); here, that the field follows them."""
    at = datetime(2026, 11, 24, 2, 2, 3, 456789, tzinfo=timezone(timedelta(hours=1)))
    public = UserPublic(id=1, name="Ada", email="a@example.com", created_at=at)
    assert public.model_dump(mode="json")["created_at"] == "2026-11-24T01:02:03.456789Z"
