"""``unique_violation``: a unique constraint broken, told by SQLSTATE and constraint name."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import IntegrityError

from service_kit.db import unique_violation

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(create_database: Callable[[str], str]) -> Iterator[Connection]:
    engine = create_engine(create_database("service_kit_unique"))
    with engine.connect() as connection:
        connection.execute(
            text(
                "CREATE TABLE t (id int PRIMARY KEY, email text NOT NULL,"
                " CONSTRAINT uq_t_email UNIQUE (email))"
            )
        )
        connection.execute(text("INSERT INTO t VALUES (1, 'a@example.com')"))
        connection.commit()
        yield connection
    engine.dispose()


def error_of(conn: Connection, sql: str) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        conn.execute(text(sql))
    conn.rollback()
    return caught.value


def test_unique_violation_names_the_broken_constraint(conn: Connection) -> None:
    exc = error_of(conn, "INSERT INTO t VALUES (2, 'a@example.com')")
    assert unique_violation(exc, "uq_t_email")
    assert not unique_violation(exc, "t_pkey")


def test_unique_violation_is_false_for_other_integrity_errors(conn: Connection) -> None:
    assert not unique_violation(error_of(conn, "INSERT INTO t VALUES (2, NULL)"), "uq_t_email")
    assert unique_violation(error_of(conn, "INSERT INTO t VALUES (1, 'b@example.com')"), "t_pkey")
