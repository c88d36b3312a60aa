"""The abuse limits of the password endpoints, through the app: a login flood has its own
bounded capacity (reads keep answering; the excess gets 503 at once), each client address has a
budget (429), and a locked name stays locked whatever others do."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from user_service.api.deps import get_users
from user_service.config import Settings
from user_service.main import create_app
from user_service.passwords import Argon2Params, PasswordHasher

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
CHEAP = Argon2Params(time_cost=1, memory_cost=8 * 1024)


class GatedHasher(PasswordHasher):
    """Every check waits for ``gate``: hashing saturated on demand."""

    def __init__(self, **capacity: int) -> None:
        super().__init__(CHEAP, **capacity)
        self.gate = threading.Event()

    def verify_unknown(self, password: str) -> None:
        self.gate.wait(10)
        super().verify_unknown(password)


@pytest.fixture
def limited_app(settings: Settings, db_engine: Engine) -> Iterator[FastAPI]:
    app = create_app(
        settings.model_copy(update={"client_rate": 0.1, "client_burst": 3, "login_table_size": 100})
    )
    yield app
    app.state.engine.dispose()


def _client(app: FastAPI, host: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30)


def _login(client: httpx.AsyncClient, email: str, password: str = "x" * 9) -> Any:
    return client.post("/token", data={"username": email, "password": password})


def test_reads_keep_answering_while_hashing_is_saturated_and_the_excess_gets_503(
    app: FastAPI, mint: Any
) -> None:
    hasher = GatedHasher(max_concurrent=2, max_waiting=60)
    users = replace(app.state.users, hasher=hasher)
    app.dependency_overrides[get_users] = lambda: users

    async def scenario() -> tuple[float, list[int], int]:
        async with _client(app) as client:
            await client.post("/users", json={"name": "Ada", "email": "ada@example.com",
                                              "password": PASSWORD})  # fmt: skip
            logins = [
                asyncio.create_task(_login(client, f"eve{i}@example.com")) for i in range(100)
            ]
            deadline = time.monotonic() + 20
            while sum(task.done() for task in logins) < 100 - 62:  # the refused ones
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            started = time.perf_counter()
            me = await client.get("/users/me", headers=mint("1", []))
            read_seconds = time.perf_counter() - started
            assert me.status_code == 200, me.text
            hasher.gate.set()
            answers = await asyncio.gather(*logins)
            busy = [r for r in answers if r.status_code == 503]
            assert all(r.headers["retry-after"] == "1" for r in busy)
            return read_seconds, sorted({r.status_code for r in answers}), len(busy)

    read_seconds, statuses, busy = asyncio.run(scenario())
    assert read_seconds < 1.0
    assert statuses == [401, 503]
    assert busy == 100 - 62  # 2 hashing + 60 waiting were admitted


def test_a_client_over_its_budget_gets_429_with_retry_after_on_both_endpoints(
    limited_app: FastAPI,
) -> None:
    async def scenario() -> list[httpx.Response]:
        async with _client(limited_app) as client, _client(limited_app, "2001:db8::1") as other:
            answers = [await _login(client, f"eve{i}@example.com") for i in range(3)]
            answers.append(await _login(client, "eve@example.com"))
            answers.append(
                await client.post(
                    "/users", json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
                )
            )
            answers.append(await _login(other, "eve@example.com"))
            return answers

    answers = asyncio.run(scenario())
    assert [r.status_code for r in answers] == [401, 401, 401, 429, 429, 401]
    assert answers[3].json()["type"] == "/problems/too-many-requests"
    assert 1 <= int(answers[3].headers["retry-after"]) <= 10


def test_a_locked_name_stays_locked_through_a_flood_of_other_names_failures(
    settings: Settings, db_engine: Engine
) -> None:
    app = create_app(settings.model_copy(update={"login_table_size": 100, "login_max_failures": 2}))

    async def scenario() -> list[int]:
        async with _client(app) as client:
            for _ in range(2):
                await _login(client, "ada@example.com")
            flood = [(await _login(client, f"eve{i}@example.com")).status_code for i in range(300)]
            locked = await _login(client, "ada@example.com", PASSWORD)
            assert locked.status_code == 429
            assert locked.json()["type"] == "/problems/too-many-login-failures"
            return flood

    flood = asyncio.run(scenario())
    app.state.engine.dispose()
    assert set(flood) == {401, 503}  # the table filled: untracked names wait, none is evicted
    assert len(app.state.users.throttle) <= 100 + 1
