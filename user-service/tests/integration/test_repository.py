"""The data layer against PostgreSQL: what the read path hands back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from user_service import repository
from user_service.models import UserCreate

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def test_get_user_returns_the_stored_row(db_engine: Engine) -> None:
    with Session(db_engine) as session, session.begin():
        user = repository.create_user(
            session=session,
            data=UserCreate(name="Ada", email="Ada@Example.com", password=PASSWORD),
            password_hash="$argon2id$stands-for-a-hash",
        )
        user_id = user.id
    with Session(db_engine) as session:
        found = repository.get_user(session=session, user_id=user_id or 0)
    assert found is not None
    assert (found["id"], found["name"], found["email"]) == (user_id, "Ada", "ada@example.com")
    assert found["created_at"].tzinfo is not None
    assert "password_hash" not in found  # the read path selects the public columns only


def test_get_user_returns_none_when_no_row_has_the_id(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        assert repository.get_user(session=session, user_id=424242) is None
