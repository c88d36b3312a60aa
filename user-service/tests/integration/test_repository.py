"""The data layer against PostgreSQL: what the read path hands back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from user_service import repository

pytestmark = pytest.mark.integration


def test_get_user_returns_the_stored_row(db_engine: Engine) -> None:
    with Session(db_engine) as session, session.begin():
        user = repository.add_user(
            session=session,
            name="Ada",
            email="ada@example.com",
            password_hash="$argon2id$stands-for-a-hash",
        )
        user_id = user["id"]
    with Session(db_engine) as session:
        found = repository.get_user(session=session, user_id=user_id)
    assert found is not None
    assert (found["id"], found["name"], found["email"]) == (user_id, "Ada", "ada@example.com")
    assert found["created_at"].tzinfo is not None
    assert "password_hash" not in found  # the read path selects the public columns only


def test_get_user_returns_none_when_no_row_has_the_id(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        assert repository.get_user(session=session, user_id=424242) is None
