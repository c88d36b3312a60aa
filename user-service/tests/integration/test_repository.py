"""The data layer against PostgreSQL: what the read path hands back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from user_service import repository, service
from user_service.models import UserCreate, UserPublic
from user_service.passwords import Argon2Params, PasswordHasher

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def test_get_user_returns_the_public_model_of_the_stored_row(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        user = service.create_user(
            session=session,
            data=UserCreate(name="Ada", email="Ada@Example.com", password=PASSWORD),
            hasher=PasswordHasher(Argon2Params(time_cost=1, memory_cost=8 * 1024)),
        )
        created = UserPublic.model_validate(user)
    with Session(db_engine) as session:
        found = repository.get_user(session=session, user_id=created.id or 0)
    assert found == created
    assert found is not None
    assert found.email == "ada@example.com"


def test_get_user_returns_none_when_no_row_has_the_id(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        assert repository.get_user(session=session, user_id=424242) is None
