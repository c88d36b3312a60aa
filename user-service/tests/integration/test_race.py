"""Identical emails racing: the database's unique constraint decides, never a 500."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI

from user_service.errors import EmailTakenError
from user_service.models import UserCreate
from user_service.passwords import Argon2Params, PasswordHasher

STORED = PasswordHasher(Argon2Params(time_cost=1, memory_cost=8 * 1024)).hash("a password")

RACERS = 8

PASSWORD = "correct horse battery staple"


def test_racing_requests_with_one_email_give_one_201_and_409s(app: FastAPI) -> None:
    async def race() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/users",
                        json={"name": f"R{i}", "email": "Race@example.com", "password": PASSWORD},
                    )
                    for i in range(RACERS)
                )
            )
        return sorted(r.status_code for r in responses)

    assert asyncio.run(race()) == [201] + [409] * (RACERS - 1)


def test_racing_threads_with_own_connections_store_exactly_one_user(app: FastAPI) -> None:
    barrier = threading.Barrier(RACERS)
    users = app.state.users

    def attempt(i: int) -> str:
        barrier.wait(timeout=10)
        try:
            users.store_user(
                data=UserCreate(name=f"T{i}", email="thread@example.com", password=PASSWORD),
                password_hash=STORED,
            )
        except EmailTakenError:
            return "taken"
        return "created"

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = sorted(pool.map(attempt, range(RACERS)))

    assert outcomes == ["created"] + ["taken"] * (RACERS - 1)
    assert users.read_page(limit=10, offset=0).total == 1
